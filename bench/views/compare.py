"""Renders a comparison (bench.compare) as a terminal table, Markdown for a pull request or
$GITHUB_STEP_SUMMARY, or JSON; every format ends with one line counting each verdict."""

from __future__ import annotations

import io
import json
from typing import Any

from bench.compare.documents import Matched
from bench.compare.verdict import Comparison
from bench.views.tables import Column, format_markdown_table, rich_table

COMPARE_FORMATS = ("term", "md", "json")

COLUMNS = [
    Column("mark", " ", align="left"),
    Column("cell", "cell", align="left"),
    Column("verdict", "verdict", align="left"),
    Column("change", "NEW/BASE"),
    Column("ci", "CI"),
    Column("p_adj", "p (adj.)"),
    Column("p90", "p90 ratio"),
    Column("processes", "processes"),
    Column("base_ms", "BASE ms"),
    Column("new_ms", "NEW ms"),
    Column("reason", "why", align="left"),
]


def _pct(ratio: float | None) -> str | None:
    return None if ratio is None else f"{(ratio - 1) * 100:+.1f}%"


def comparison_rows(comparison: Comparison, matched: Matched) -> list[dict[str, Any]]:
    rows = []
    for cell in comparison.cells:
        effect = cell.effect
        reason = cell.reason
        changes = matched.changes.get(cell.key)
        if changes:
            reason += f" [also changed: {'; '.join(changes)}]"
        rows.append(
            {
                "mark": cell.mark,
                "cell": cell.key,
                "verdict": cell.verdict.value,
                "change": _pct(cell.ratio),
                "ci": f"{_pct(cell.ci_low)} to {_pct(cell.ci_high)}" if cell.ci_low is not None else None,
                "p_adj": f"{cell.p_adjusted:.2g}" if cell.p_adjusted is not None else None,
                "p90": _pct(cell.p90_ratio),
                "processes": f"{cell.base_processes}/{cell.new_processes}",
                "base_ms": f"{effect.base_geomean_ms:.3f}" if effect else None,
                "new_ms": f"{effect.new_geomean_ms:.3f}" if effect else None,
                "reason": reason,
            }
        )
    return rows


def _header(matched: Matched) -> str:
    if matched.base_machine == matched.new_machine:
        return f"machine {matched.base_machine}"
    return f"BASE on {matched.base_machine}, NEW on {matched.new_machine} (compared across machines on request)"


def render_comparison(comparison: Comparison, matched: Matched, fmt: str) -> str:
    rows = comparison_rows(comparison, matched)
    closing = comparison.summary.line()
    if fmt == "json":
        data = {
            "machines": {"base": matched.base_machine, "new": matched.new_machine},
            "summary": {
                "counts": {v.value: n for v, n in comparison.summary.counts.items()},
                "line": closing,
                "correction": comparison.summary.correction,
                "alpha": comparison.summary.alpha,
                "threshold": comparison.summary.threshold,
                "floor_ms": comparison.summary.floor_ms,
            },
            "cells": [
                dict(
                    row,
                    ratio=cell.ratio,
                    ci_low=cell.ci_low,
                    ci_high=cell.ci_high,
                    p_value=cell.p_value,
                    p_adjusted=cell.p_adjusted,
                    more_processes_needed=cell.more_processes_needed,
                )
                for row, cell in zip(rows, comparison.cells, strict=True)
            ],
        }
        return json.dumps(data, indent=2, allow_nan=False) + "\n"
    if fmt == "md":
        return (
            f"### effbench compare: {_header(matched)}\n\n"
            + format_markdown_table(rows, COLUMNS)
            + "\nMarks: `+` slower, `-` faster, `~` no change, `?` inconclusive, `!` noisy, `*` suspect and `R` re-run "
            "needed (interference on one arm may have made or hidden a slowdown), `F` newly failing, `x` failed or "
            "not comparable. NEW/BASE is the ratio of geometric means of per-process medians.\n\n"
            f"**{closing}**\n"
        )
    from rich.console import Console

    console = Console(file=io.StringIO(), width=200, color_system=None, highlight=False, record=True)
    console.print(_header(matched))
    console.print(rich_table(rows, [c for c in COLUMNS if c.key != "reason"]))
    for row in rows:  # the reasons are sentences: below the table, one line per cell
        console.print(f"{row['mark']} {row['cell']}: {row['reason']}", soft_wrap=True)
    console.print(closing, soft_wrap=True)
    return console.export_text()
