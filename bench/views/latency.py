"""The latency view of result cells: one row per (model, backend) cell, its notes and warnings, a JSON summary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bench.document import CellRecord
from bench.views.format import format_ms, format_seconds, upper_median
from bench.views.int8 import LATENCY_ONLY, int8_rows, int8_warnings
from bench.views.tables import FORMATS, Column, format_csv, format_markdown_table, rich_table

LATENCY_COLUMNS = (
    Column("model", "model", align="left"),
    Column("backend", "backend", align="left"),
    Column("precision", "precision", align="left"),
    Column("threads", "threads"),
    Column("cpus", "CPUs"),
    Column("median", "median ms"),
    Column("p90", "p90 ms"),
    Column("p99", "p99 ms"),
    Column("ci", "95% CI median"),
    Column("samples", "n/procs"),
    Column("cold", "cold: load+compile, 1st"),
    Column("status", "status", align="left"),
)

# Precisions of compute layers that say how a model ran; i32 layers are shape arithmetic, not the model's maths.
_COMPUTE_PRECISIONS = ("f32", "bf16", "f16")


def effective_precision(cell: CellRecord) -> str:
    """The precision the runtime reports (first process), with OpenVINO's per-layer count when mixed."""
    if not cell.processes:
        return cell.precision
    first = cell.processes[0]
    precision = first.effective_precision or cell.precision
    compute = {p: n for p, n in first.compute_precisions.items() if p in _COMPUTE_PRECISIONS}
    if len(compute) > 1:
        total = sum(compute.values())
        parts = sorted(compute.items(), key=lambda kv: -kv[1])
        precision += " (" + ", ".join(f"{p} {n * 100 // total}%" for p, n in parts) + ")"
    return precision


def status_text(cell: CellRecord) -> str:
    """'ok' when the precision target was met, 'cap hit' when a time or process cap stopped the cell first."""
    from bench.engine.policy import CAP_PREFIX

    if cell.status == "ok" and cell.stop_reason and cell.stop_reason.startswith(CAP_PREFIX):
        return "cap hit"
    return cell.status or ""


def latency_rows(cells: Sequence[CellRecord]) -> list[dict[str, Any]]:
    """One row of display text per cell, keyed by LATENCY_COLUMNS; None where a cell has no value."""
    from bench.machine import format_cpu_list

    rows = []
    for cell in cells:
        summary = cell.summary
        colds = [p.cold_start for p in cell.processes if p.cold_start is not None]
        load = upper_median([c.load_s + c.compile_s for c in colds])
        first = upper_median([c.first_inference_s for c in colds])
        ci = summary.median_ci95_ms if summary else None
        rows.append(
            {
                "model": cell.model,
                "backend": cell.backend,
                "precision": effective_precision(cell),
                "threads": cell.threads,
                "cpus": format_cpu_list(list(cell.cpus)),
                "median": format_ms(summary.median_ms if summary else None),
                "p90": format_ms(summary.p90_ms if summary else None),
                "p99": format_ms(summary.p99_ms if summary else None),
                "ci": f"{format_ms(ci[0])}–{format_ms(ci[1])}" if ci else None,
                "samples": f"{summary.n}/{summary.processes}" if summary else None,
                "cold": f"{format_seconds(load)} + {format_seconds(first)}" if cell.processes else None,
                "status": status_text(cell),
            }
        )
    return rows


def latency_notes(cells: Sequence[CellRecord], warnings: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(kind, text) lines under the table: the document's warnings, then per cell why it was skipped or
    failed and its warnings. kind is "warning" or "note"."""
    lines = [("warning", w) for w in warnings]
    for cell in cells:
        if cell.status == "skipped":
            lines.append(("note", f"{cell.label}: skipped: {cell.error}"))
        elif cell.error:
            lines.append(("warning", f"{cell.label}: {cell.status}: {cell.error}"))
        lines.extend(("warning", f"{cell.label}: {w}") for w in cell.warnings)
    rows = int8_rows(cells)
    for row in rows:
        share = f"{row.macs_share:.0%} of MACs" if row.macs_share is not None else "an unknown share of MACs"
        agreement = f"cosine {row.cosine:.3f} with fp32" if row.cosine is not None else "agreement not recorded"
        lines.append(("note", f"{row.model} · {row.backend} · int8: {share} and {row.layers} layers ran in int8 "
                      f"({row.kernels}); {agreement}; {row.recipe}"))  # fmt: skip
    lines.extend(("note", note) for note in dict.fromkeys(row.note for row in rows if row.note))
    lines.extend(("warning", w) for w in int8_warnings(rows))
    if rows:
        lines.append(("note", LATENCY_ONLY))
    return lines


def json_summary(cells: Sequence[CellRecord]) -> list[dict[str, Any]]:
    """The `effbench latency --json` summary: per cell, raw numbers (ms) and status, for other programs."""
    out = []
    for cell in cells:
        summary = cell.summary
        ci = summary.median_ci95_ms if summary else None
        out.append(
            {
                "model": cell.model,
                "backend": cell.backend,
                "precision": cell.precision,
                "effective_precision": effective_precision(cell),
                "threads": cell.threads,
                "cpus": list(cell.cpus),
                "median_ms": summary.median_ms if summary else None,
                "p90_ms": summary.p90_ms if summary else None,
                "p99_ms": summary.p99_ms if summary else None,
                "median_ci95_ms": list(ci) if ci else None,
                "n": summary.n if summary else 0,
                "processes": summary.processes if summary else 0,
                "status": cell.status,
                "error": cell.error,
                "warnings": list(cell.warnings),
            }
        )
    return out


def _terminal_view(cells: Sequence[CellRecord], warnings: Sequence[str]) -> Any:
    from rich.console import Group
    from rich.text import Text

    # Lines are never folded (a warning is one line to copy) and their text is not read as rich markup.
    styles = {"warning": "yellow", "note": "cyan"}
    lines = [
        Text.assemble((f"{kind}:", styles[kind]), f" {text}", no_wrap=True, overflow="ignore")
        for kind, text in latency_notes(cells, warnings)
    ]
    return Group(rich_table(latency_rows(cells), LATENCY_COLUMNS), *lines)


def render_latency_table(cells: Sequence[CellRecord], fmt: str = "table", warnings: Sequence[str] = ()) -> Any:
    """The latency view in one of bench.views.tables.FORMATS.

    "table": a rich renderable (the table, then the notes and `warnings` lines); "md" and "csv": the table's text;
    "json": the JSON summary (raw numbers). Print it with bench.views.console.emit.
    """
    if fmt == "table":
        return _terminal_view(cells, warnings)
    if fmt == "md":
        return format_markdown_table(latency_rows(cells), LATENCY_COLUMNS)
    if fmt == "csv":
        return format_csv(latency_rows(cells), LATENCY_COLUMNS)
    if fmt == "json":
        return json.dumps(json_summary(cells), indent=2) + "\n"
    raise ValueError(f"unknown view format {fmt!r}: expected one of {', '.join(FORMATS)}")
