"""A result document in the formats CI dashboards read: github-action-benchmark's custom JSON
(`customSmallerIsBetter`) and Bencher's Metric Format (BMF), one entry per measured cell."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import Any

from bench.document import CellRecord, ResultDocument
from bench.errors import EffbenchError

CI_FORMATS = ("github-action-benchmark", "bmf")

# Bencher's built-in Measure for latency; its unit is the nanosecond.
BMF_MEASURE = "latency"


@dataclass(frozen=True)
class CiEntry:
    """One cell as a dashboard sees it: a name that stays the same from run to run, one value and its CI."""

    name: str  # model/backend/precision/tN, plus /base or /new for an arm of an `effbench ab` document
    median_ms: float  # the median of the per-process medians: the figure `effbench compare` judges
    ci_ms: tuple[float, float] | None  # the cell's 95% CI of the median (processes resampled), as measured
    ci_method: str | None
    process_medians_ms: tuple[float, ...]
    versions: dict[str, str]  # runtime versions the cell's workers loaded
    warnings: tuple[str, ...]  # the cell's warnings, then the run's


def cell_name(cell: CellRecord) -> str:
    """model/backend/precision/tN[/arm]: the name `effbench export-pyperf` gives the cell, so the same cell has
    one name in every export, whatever else the run measured."""
    name = f"{cell.model}/{cell.backend}/{cell.precision}/t{cell.threads}"
    return f"{name}/{cell.arm}" if cell.arm else name


def _process_medians(cell: CellRecord) -> tuple[float, ...]:
    if cell.summary is not None and cell.summary.process_medians_ms:
        return tuple(cell.summary.process_medians_ms)
    # A document without the summary's list (format 1 wrote none for one process): the samples have them.
    return tuple(statistics.median(p.samples_ns) / 1e6 for p in cell.processes if p.samples_ns)


def ci_entries(doc: ResultDocument) -> tuple[list[CiEntry], list[str]]:
    """The measured cells as entries, and a note per cell left out (failed, skipped, no samples)."""
    entries: list[CiEntry] = []
    left_out: list[str] = []
    seen: dict[str, int] = {}
    for cell in doc.cells:
        base = cell_name(cell)
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base}#{seen[base]}"  # a cell measured twice keeps both
        medians = _process_medians(cell) if cell.status == "ok" else ()
        if not medians:
            why = cell.error or ("no process has samples" if cell.status == "ok" else "not measured")
            left_out.append(f"{name} ({cell.status}: {why})")
            continue
        summary = cell.summary
        ci = summary.median_ci95_ms if summary is not None else None
        versions = next((dict(p.versions) for p in cell.processes if p.versions), {})
        entries.append(
            CiEntry(
                name=name,
                median_ms=float(statistics.median(medians)),
                ci_ms=(float(ci[0]), float(ci[1])) if ci is not None else None,
                ci_method=summary.ci_method if summary is not None else None,
                process_medians_ms=medians,
                versions=versions,
                warnings=tuple(cell.warnings) + tuple(f"run: {w}" for w in doc.warnings),
            )
        )
    return entries, left_out


def _half_range(entry: CiEntry) -> float | None:
    # The CI is asymmetric around the median of medians; "± x" gives its wider side, so the range the dashboard
    # shows never claims more precision than the measurement had.
    if entry.ci_ms is None:
        return None
    low, high = entry.ci_ms
    return max(entry.median_ms - low, high - entry.median_ms, 0.0)


def _extra(entry: CiEntry) -> str:
    medians = ", ".join(f"{m:.3f}" for m in entry.process_medians_ms)
    lines = [f"{len(entry.process_medians_ms)} processes, medians {medians} ms"]
    if entry.ci_ms is not None:
        lines.append(f"95% CI {entry.ci_ms[0]:.3f}-{entry.ci_ms[1]:.3f} ms ({entry.ci_method or 'unknown method'})")
    if entry.versions:
        lines.append("runtime " + ", ".join(f"{name} {version}" for name, version in sorted(entry.versions.items())))
    lines += [f"warning: {w}" for w in entry.warnings]
    return "\n".join(lines)


def github_action_benchmark(entries: list[CiEntry]) -> list[dict[str, Any]]:
    """github-action-benchmark's custom format (tool: customSmallerIsBetter): [{name, unit, value, range, extra}]
    with values in ms; `extra` is the tooltip text."""
    out: list[dict[str, Any]] = []
    for entry in entries:
        item: dict[str, Any] = {"name": entry.name, "unit": "ms", "value": round(entry.median_ms, 6)}
        half = _half_range(entry)
        if half is not None:
            item["range"] = f"± {half:.3g}"
        item["extra"] = _extra(entry)
        out.append(item)
    return out


def bencher_bmf(entries: list[CiEntry]) -> dict[str, Any]:
    """Bencher Metric Format: {benchmark: {"latency": {value, lower_value, upper_value}}} in nanoseconds, the
    unit of Bencher's latency Measure. BMF has no place for metadata: processes and warnings stay in the document."""
    out: dict[str, Any] = {}
    for entry in entries:
        metric: dict[str, float] = {"value": round(entry.median_ms * 1e6, 1)}
        if entry.ci_ms is not None:
            metric["lower_value"] = round(entry.ci_ms[0] * 1e6, 1)
            metric["upper_value"] = round(entry.ci_ms[1] * 1e6, 1)
        out[entry.name] = {BMF_MEASURE: metric}
    return out


def render_ci(doc: ResultDocument, fmt: str) -> tuple[str, list[str]]:
    """The document as JSON text in `fmt` (one of CI_FORMATS), and the notes on cells left out.
    EffbenchError when no cell was measured: a dashboard fed an empty file would draw nothing and say nothing."""
    if fmt not in CI_FORMATS:
        raise EffbenchError(f"unknown CI format {fmt!r}: give {' or '.join(CI_FORMATS)}")
    entries, left_out = ci_entries(doc)
    if not entries:
        raise EffbenchError(
            f"the document has no measured cell ({len(left_out)} failed or skipped): nothing to export; "
            "re-run the measurement"
        )
    data: Any = github_action_benchmark(entries) if fmt == "github-action-benchmark" else bencher_bmf(entries)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n", left_out
