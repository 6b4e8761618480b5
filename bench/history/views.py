"""Rows and columns for the history's tables (`history show` and `history changes`), rendered by bench.views.tables
as a terminal table, Markdown, CSV or JSON. CSV and JSON keep raw values; the table formats round them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.history.changes import Change
from bench.history.query import SeriesKey, SeriesPoint
from bench.views.tables import Column

SERIES_COLUMNS = (
    Column("time", "time (UTC)", align="left"),
    Column("run", "run", align="left"),
    Column("median_ms", "median ms", "{:.3f}"),
    Column("ci", "95% CI ms", align="left"),
    Column("ci_rel", "±", "{:.1%}"),
    Column("processes", "proc."),
    Column("samples", "samples"),
    Column("status", "status", align="left"),
    Column("runtime", "runtime", align="left"),
    Column("effbench", "effbench", align="left"),
    Column("change", "change", align="left"),
)

# CSV keeps raw values and says which series each row belongs to (one file may hold several).
SERIES_CSV_COLUMNS = tuple(
    Column(key, key)
    for key in ("model", "backend", "precision", "threads", "machine", "arm", "created", "run_id", "label",
                "commit_under_test", "median_ms", "ci_low_ms", "ci_high_ms", "p90_ms", "processes", "samples",
                "status", "effective_precision", "versions", "effbench", "change", "path")
)  # fmt: skip

CHANGE_CSV_COLUMNS = tuple(
    Column(key, key)
    for key in ("mark", "model", "backend", "precision", "threads", "machine", "arm", "before_run_id",
                "before_created", "after_run_id", "after_created", "ratio", "ratio_low", "ratio_high",
                "median_before_ms", "median_after_ms", "runs_before", "runs_after", "p_value", "slowdown", "context",
                "before_path", "after_path")
)  # fmt: skip

CHANGE_COLUMNS = (
    Column("mark", "", align="left"),
    Column("series", "series", align="left"),
    Column("before", "last run before", align="left"),
    Column("after", "first run after", align="left"),
    Column("step_pct", "step", "{:+.1f}%"),
    Column("step_ci", "95% CI", align="left"),
    Column("medians", "median ms", align="left"),
    Column("runs", "runs", align="left"),
    Column("p_value", "p", "{:.3f}"),
    Column("context", "what else changed", align="left"),
)


def _versions(point: SeriesPoint, compact: bool = False) -> str:
    # Compact: OpenVINO's "2026.4.1-22982-e213a147257-releases/2026/4" as 2026.4.1 (the full one is in CSV/JSON).
    return ", ".join(
        f"{name} {str(version).split('-')[0] if compact else version}"
        for name, version in sorted(point.versions.items())
    )


def _effbench(point: SeriesPoint) -> str:
    version = point.effbench_version or "?"
    return f"{version} ({point.effbench_commit[:8]})" if point.effbench_commit else version


def change_mark(change: Change, threshold: float) -> str:
    """As asv: '+' slower beyond the threshold, '-' faster beyond it, '~' a significant but smaller step."""
    if change.step.ratio > 1 + threshold:
        return "+"
    if change.step.ratio < 1 / (1 + threshold):
        return "-"
    return "~"


def _ci_text(step_low: float, step_high: float) -> str:
    return f"{(step_low - 1) * 100:+.1f}% … {(step_high - 1) * 100:+.1f}%"


def series_rows(
    key: SeriesKey, points: Sequence[SeriesPoint], changes_at: Mapping[tuple[SeriesKey, str], Change]
) -> list[dict[str, Any]]:
    """One row per run of a series; `changes_at[(key, run_id)]` is the change whose first new run it is."""
    rows = []
    for point in points:
        change = changes_at.get((key, point.run_id))
        ci_rel = None
        if point.ci_low_ms is not None and point.ci_high_ms is not None and point.median_ms:
            ci_rel = (point.ci_high_ms - point.ci_low_ms) / 2 / point.median_ms
        rows.append(
            {
                "model": key.model,
                "backend": key.backend,
                "precision": key.precision,
                "threads": key.threads,
                "machine": key.machine_id,
                "arm": key.arm or None,
                "time": point.created[:16].replace("T", " "),
                "created": point.created,
                "run": point.label or (point.commit_under_test or "")[:12] or None,
                "run_id": point.run_id,
                "label": point.label,
                "commit_under_test": point.commit_under_test,
                "median_ms": point.median_ms,
                "ci_low_ms": point.ci_low_ms,
                "ci_high_ms": point.ci_high_ms,
                "ci": (
                    f"{point.ci_low_ms:.3f}–{point.ci_high_ms:.3f}"
                    if point.ci_low_ms is not None and point.ci_high_ms is not None
                    else None
                ),
                "ci_rel": ci_rel,
                "p90_ms": point.p90_ms,
                "processes": point.n_processes,
                "samples": point.n_samples,
                "status": point.status,
                "effective_precision": point.effective_precision,
                "versions": _versions(point),
                "runtime": _versions(point, compact=True),
                "effbench": _effbench(point),
                "change": f"{change.percent:+.1f}%" if change else None,
                "path": point.path,
            }
        )
    return rows


def change_rows(changes: Sequence[Change], threshold: float) -> list[dict[str, Any]]:
    rows = []
    for change in changes:
        step = change.step
        key = change.key
        rows.append(
            {
                "mark": change_mark(change, threshold),
                "series": key.title(),
                "model": key.model,
                "backend": key.backend,
                "precision": key.precision,
                "threads": key.threads,
                "machine": key.machine_id,
                "arm": key.arm or None,
                "before": f"{change.before.run_name} ({change.before.created[:10]})",
                "after": f"{change.after.run_name} ({change.after.created[:10]})",
                "before_run_id": change.before.run_id,
                "after_run_id": change.after.run_id,
                "before_created": change.before.created,
                "after_created": change.after.created,
                "before_path": change.before.path,
                "after_path": change.after.path,
                "step_pct": change.percent,
                "ratio": step.ratio,
                "ratio_low": step.low,
                "ratio_high": step.high,
                "step_ci": _ci_text(step.low, step.high),
                "median_before_ms": step.median_before,
                "median_after_ms": step.median_after,
                "medians": f"{step.median_before:.3f} → {step.median_after:.3f}",
                "runs_before": step.n_before,
                "runs_after": step.n_after,
                "runs": f"{step.n_before} / {step.n_after}",
                "p_value": change.p_value,
                "slowdown": change.is_slowdown(threshold),
                "context": "; ".join(change.context) or "nothing recorded",
            }
        )
    return rows


def change_text(change: Change, threshold: float) -> str:
    """A change as a few lines for the terminal, where a ten-column table would be cut off."""
    step = change.step
    when = lambda p: f"{p.run_name} ({p.created[:16].replace('T', ' ')})"  # noqa: E731
    return (
        f"{change_mark(change, threshold)} {change.key.title()}\n"
        f"    step {change.percent:+.1f}% (95% CI {_ci_text(step.low, step.high)}), median {step.median_before:.3f} → "
        f"{step.median_after:.3f} ms, p = {change.p_value:.3f}, {step.n_before} runs before, {step.n_after} after\n"
        f"    between {when(change.before)} and {when(change.after)}\n"
        f"    also changed: {'; '.join(change.context) or 'nothing recorded'}\n"
    )
