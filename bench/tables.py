"""Renders rows (lists of dicts) as a rich terminal table, Markdown, CSV or JSON: shared by every view."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

FORMATS = ("table", "md", "csv", "json")


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    fmt: str = "{}"  # applied to non-None values in table/md; csv and json keep raw values
    align: str = "right"


def _cell(row: dict[str, Any], column: Column) -> str:
    value = row.get(column.key)
    return "–" if value is None else column.fmt.format(value)


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


def render(rows: Sequence[dict[str, Any]], columns: Sequence[Column], fmt: str, title: str | None = None) -> None:
    """Print rows to stdout in one of FORMATS."""
    import sys

    if fmt == "json":
        sys.stdout.write(format_json(rows))
    elif fmt == "md":
        sys.stdout.write(format_markdown_table(rows, columns))
    elif fmt == "csv":
        sys.stdout.write(format_csv(rows, columns))
    else:
        from rich.console import Console

        console = Console()
        if not console.is_terminal:
            console = Console(width=max(console.width, 160))  # piped: do not squeeze the table into 80 columns
        console.print(rich_table(rows, columns, title))
