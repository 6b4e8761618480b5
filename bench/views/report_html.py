"""The HTML of the paper, suite and hardware reports: one self-contained page (the stylesheet the history site
uses, inlined), headings with the ids that Markdown links use, tables with right-aligned numbers, inline plots."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from importlib import resources
from typing import Any

from bench.views.report_summary import anchor, inline_html
from bench.views.tables import Column


def stylesheet() -> str:
    """bench/history/assets/effbench.css, the history site's stylesheet: inlined, so a report opens from file://
    or as an e-mail attachment with nothing beside it."""
    return resources.files("bench.history").joinpath("assets", "effbench.css").read_text(encoding="utf-8")


def html_page(title: str, body: Sequence[str]) -> str:
    """A whole page: its title as <h1>, then `body` (HTML fragments) in order."""
    head = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
        f"content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
        f"<style>{stylesheet()}</style></head><body class='report'><h1>{html.escape(title)}</h1>"
    )
    return head + "".join(body) + "</body></html>\n"


def html_heading(title: str, level: int = 2) -> str:
    """A heading whose id is the one GitHub gives the same Markdown heading (report_summary.anchor)."""
    return f"<h{level} id='{anchor(title)}'>{html.escape(title)}</h{level}>"


def html_list(lines: Sequence[str]) -> str:
    """Markdown lines as a list: `code` as <code>, [text](#anchor) as links."""
    return "<ul>" + "".join(f"<li>{inline_html(line)}</li>" for line in lines if line) + "</ul>"


def html_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    """Rows as an HTML table, numbers right-aligned (class num), in a box that scrolls on a narrow screen."""

    def cls(column: Column) -> str:
        return "" if column.align == "left" else " class='num'"

    head = "".join(f"<th{cls(c)}>{html.escape(c.title)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = [
            f"<td{cls(c)}>{html.escape('–' if row.get(c.key) is None else str(row.get(c.key)))}</td>" for c in columns
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def html_figure(slug: str, caption: str, fig: Any) -> str:
    """A plot inline as SVG, with its PNG as a data URI link to download."""
    from bench.views.plots import figure_bytes

    svg = figure_bytes(fig, "svg").decode("utf-8")
    png = base64.b64encode(figure_bytes(fig, "png")).decode("ascii")
    return (
        f"<figure id='{slug}'>{svg[svg.index('<svg') :]}<figcaption>{html.escape(caption)} "
        f"(<a download='{slug}.png' href='data:image/png;base64,{png}'>PNG</a>)</figcaption></figure>"
    )
