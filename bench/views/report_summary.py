"""What a report found, for its opening: Table 4 per runtime beside the paper, the fastest runtime per model, % of
peak by model family, and how many cells were noisy or capped, with links down to the sections that show them.

Lines are Markdown (backticks, [text](#anchor) links); `inline_html` and `plain_text` turn them into the HTML and
terminal forms, so the three formats say the same thing.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from bench.views.format import format_ms
from bench.views.report_data import MeasuredCell, Ratio, ReportData
from bench.views.tables import Column

_LINK = re.compile(r"\[([^\]]+)\]\((#[\w-]+)\)")
_CODE = re.compile(r"`([^`]+)`")


def anchor(title: str) -> str:
    """The id GitHub gives a Markdown heading (lower case, punctuation dropped, spaces as hyphens); the HTML
    reports give their headings the same id, so one link works in both."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def inline_html(line: str) -> str:
    """A Markdown line as HTML: escaped, `code` as <code>, [text](#anchor) as a link."""
    text = html.escape(line, quote=False)
    text = _CODE.sub(r"<code>\1</code>", text)
    return _LINK.sub(r'<a href="\2">\1</a>', text)


def without_links(line: str) -> str:
    """A Markdown line without its "([text](#anchor))" pointers, for a page that lacks those sections."""
    return re.sub(r" \(" + _LINK.pattern + r"\)", "", line)


def plain_text(line: str) -> str:
    """A Markdown line for the terminal: links as their text (a terminal cannot follow them)."""
    return _LINK.sub(r"\1", line)


@dataclass(frozen=True)
class Summary:
    """The opening of a report: finding lines, then the fastest runtime per model and % of peak by family."""

    lines: list[str]
    fastest: list[dict[str, Any]]
    peak_by_family: list[dict[str, Any]]
    peak_columns: list[Column]


FASTEST_COLUMNS = [
    Column("model", "model", align="left"),
    Column("fastest", "fastest runtime", align="left"),
    Column("median_ms", "median ms"),
    Column("next", "next", align="left"),
    Column("next_ratio", "next is slower by"),
]


def _family(model: str) -> str:
    from bench.errors import EffbenchError
    from bench.zoo import resolve_model

    try:
        return resolve_model(model).family
    except EffbenchError:
        return "user models"  # a model file or export folder: no zoo family


def _table4_lines(data: ReportData) -> list[str]:
    lines = []
    for pair in dict.fromkeys((r.slower, r.faster) for r in data.table4):
        rows = [r for r in data.table4 if (r.slower, r.faster) == pair and r.speedup is not None]
        if not rows:
            continue
        paper = rows[0].paper_speedup
        measured = ", ".join(f"{format_ratio(r.speedup)} on {r.series}" for r in sorted(rows, key=lambda r: r.series))
        lines.append(
            f"Table 4: `{pair[0]}` / `{pair[1]}` is {measured}, against the paper's {paper:g}x "
            "([Table 4](#paper-table-4-batch-1-latency-ratios))"
        )
    return lines


def format_ratio(ratio: Ratio | None) -> str | None:
    """'9.21x [7.98–10.64]': a ratio with its 95% CI (None: no ratio)."""
    if ratio is None:
        return None
    if ratio.ci_low is None or ratio.ci_high is None:
        return f"{ratio.value:.2f}x"
    return f"{ratio.value:.2f}x [{ratio.ci_low:.2f}–{ratio.ci_high:.2f}]"


def _fastest_rows(cells: Sequence[MeasuredCell]) -> list[dict[str, Any]]:
    rows = []
    for model in dict.fromkeys(c.model for c in cells):
        ranked = sorted((c for c in cells if c.model == model and c.threads == 1), key=lambda c: c.median_ms or 0)
        if not ranked:
            continue
        best = ranked[0]
        runner = ranked[1] if len(ranked) > 1 else None
        rows.append(
            {
                "model": model,
                "fastest": best.series,
                "median_ms": format_ms(best.median_ms),
                "next": runner.series if runner else None,
                "next_ratio": f"{runner.median_ms / best.median_ms:.2f}x"
                if runner and runner.median_ms and best.median_ms
                else None,
            }
        )
    return rows


def _peak_rows(cells: Sequence[MeasuredCell], series: Sequence[str]) -> tuple[list[dict[str, Any]], list[Column]]:
    rated = [c for c in cells if c.pct_peak is not None]
    columns = [Column("family", "family", align="left"), Column("models", "models")]
    columns += [Column(s, s) for s in series if any(c.series == s for c in rated)]
    rows = []
    for family in sorted({_family(c.model) for c in rated}):
        mine = [c for c in rated if _family(c.model) == family]
        row: dict[str, Any] = {"family": family, "models": len({c.model for c in mine})}
        for column in columns[2:]:
            values = [c.pct_peak for c in mine if c.series == column.key and c.pct_peak is not None]
            row[column.key] = f"{median(values):.0f}%" if values else None
        rows.append(row)
    return rows, columns


def _count_line(cells: Sequence[MeasuredCell]) -> str:
    measured = [c for c in cells if c.measured]
    noisy = sum(1 for c in measured if c.warnings)
    capped = sum(1 for c in measured if c.status == "cap hit")
    other = len(cells) - len(measured)
    unmeasured = f"; {other} not measured (skipped or failed)" if other else ""
    noisy_link = " ([warnings](#warnings))" if noisy else ""
    return (
        f"{len(measured)} cells measured: {noisy} with a warning (noisy){noisy_link}, {capped} stopped at the "
        f"preset's time cap before their CI target ([latency per cell](#latency-per-cell)){unmeasured}"
    )


def _latest(cells: Sequence[MeasuredCell]) -> list[MeasuredCell]:
    """One cell per model, series and threads: the last document's, as the tables show (report_data.best_cell), so
    a cell measured by several documents is counted once and never ranked against its own older run."""
    latest: dict[tuple[str, str, int], MeasuredCell] = {}
    for cell in cells:
        key = (cell.model, cell.series, cell.threads)
        if cell.measured or key not in latest or not latest[key].measured:
            latest[key] = cell
    return list(latest.values())


def build_summary(data: ReportData) -> Summary:
    """The findings of `data`, most asked-for first (each cell once: _latest)."""
    cells = _latest(data.cells)
    fastest = _fastest_rows([c for c in cells if c.measured])
    peak_rows, peak_columns = _peak_rows([c for c in cells if c.measured], data.series)
    lines = _table4_lines(data)
    if fastest:
        wins: dict[str, int] = {}
        for row in fastest:
            wins[row["fastest"]] = wins.get(row["fastest"], 0) + 1
        ranked = sorted(wins.items(), key=lambda item: -item[1])
        lines.append(
            "Fastest runtime (1 thread): "
            + ", ".join(f"{series} for {n} of {len(fastest)} models" for series, n in ranked)
            + " ([per model](#fastest-runtime-per-model))"
        )
    if peak_rows:
        # One series in a line (the table has every one): effbench's default runtime in fp32 where measured, the
        # paper's precision, else the first fp32 series, else the first.
        keys = [column.key for column in peak_columns[2:]]
        first = next(
            (k for k in keys if k == "onnxruntime fp32"), next((k for k in keys if k.endswith(" fp32")), keys[0])
        )
        shares = ", ".join(f"{row['family']} {row[first]}" for row in peak_rows if row.get(first))
        lines.append(
            f"Share of the measured peak on {first}, median per model family: {shares} "
            "([every runtime](#share-of-peak-by-model-family))"
        )
    lines.append(_count_line(cells))
    return Summary(lines, fastest, peak_rows, peak_columns)
