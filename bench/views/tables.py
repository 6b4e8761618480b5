"""Rows (lists of dicts) as a rich terminal table, Markdown, CSV or JSON: the table helpers of every view."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.views.format import MISSING

# "table" is rich's terminal table; the others are text for files and other programs.
FORMATS = ("table", "md", "csv", "json")


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    fmt: str = "{}"  # applied to non-None values in table/md; csv and json keep raw values
    align: str = "right"


def _cell(row: dict[str, Any], column: Column) -> str:
    value = row.get(column.key)
    return MISSING if value is None else column.fmt.format(value)


def format_markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    head = "| " + " | ".join(c.title for c in columns) + " |"
    rule = "|" + "|".join("---:" if c.align == "right" else "---" for c in columns) + "|"
    body = ["| " + " | ".join(_cell(r, c) for c in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body]) + "\n"


def format_csv(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for row in rows:
        writer.writerow(["" if row.get(c.key) is None else row.get(c.key) for c in columns])
    return out.getvalue()


def format_json(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(rows), indent=2) + "\n"


def rich_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column], title: str | None = None) -> Any:
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column.title, justify="right" if column.align == "right" else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(_cell(row, c) for c in columns))
    return table


def render_rows(rows: Sequence[dict[str, Any]], columns: Sequence[Column], fmt: str, title: str | None = None) -> Any:
    """Rows in one of FORMATS: text for md, csv and json, a rich Table for "table" (print it with
    bench.views.console.emit). csv and json keep raw values; table and md apply each column's format."""
    if fmt == "json":
        return format_json(rows)
    if fmt == "md":
        return format_markdown_table(rows, columns)
    if fmt == "csv":
        return format_csv(rows, columns)
    if fmt == "table":
        return rich_table(rows, columns, title)
    raise ValueError(f"unknown view format {fmt!r}: expected one of {', '.join(FORMATS)}")
