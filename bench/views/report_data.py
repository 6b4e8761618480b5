"""The report's data: result documents turned into measured cells, the paper's Tables 2-4 beside them.

Pure and deterministic (no clock, no randomness, sorted output): the same documents give the same report, byte
for byte, in every format. Rendering is in bench.views.report_render, plots in bench.views.plots.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.calibration import PeakCalibration
from bench.document import CellRecord, ResultDocument
from bench.probes.calibrate import achieved_gflops, percent_of_peak
from bench.views.int8 import Int8Row, int8_rows
from bench.zoo.paper import PAPER, PAPER_LATENCY_S, PAPER_SPEEDUPS, paper_table_rows

# The pairs of the paper's Table 4 (faster model, slower baseline, the paper's speedup). GPipe is not built by
# effbench (557M parameters, AmoebaNet-B): its printed figure is shown and the measured column says so.
TABLE4_PAIRS = PAPER_SPEEDUPS
NOT_BUILT = {"gpipe": "GPipe (AmoebaNet-B, 557M params) is not built by effbench: the paper's figure only"}


@dataclass(frozen=True)
class Ratio:
    """A latency ratio num/den of two cells with a confidence interval (log-scale Welch t on process medians)."""

    value: float
    ci_low: float | None
    ci_high: float | None
    processes: tuple[int, int]


@dataclass(frozen=True)
class MeasuredCell:
    """One measured cell as the report shows it: identity, size, latency statistics, achieved rate."""

    source: str
    machine_id: str
    model: str
    resolution: int | None
    params: int | None
    macs: int | None  # the paper's convention: every tap of every convolution
    effective_macs: int | None  # less the taps over zero padding: what GFLOP/s and % of peak count
    backend: str
    precision: str  # the precision the run asked for
    effective_precision: str  # what the runtime reported (with OpenVINO's per-layer mix when mixed)
    threads: int
    cpus: str
    status: str
    median_ms: float | None
    ci_low_ms: float | None
    ci_high_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    process_medians_ms: tuple[float, ...]
    gflops: float | None
    peak_gflops: float | None
    pct_peak: float | None
    warnings: tuple[str, ...] = ()
    artifact_sha256: str | None = None  # the exact model bytes the runtime loaded (None: torch built it)
    fingerprint: str | None = None  # the export recipe
    runtime_version: str | None = None  # the version of its own runtime the worker loaded
    effbench_version: str | None = None
    elapsed_s: float = 0.0  # the cell's measuring time: its processes' wall time, start-up included

    @property
    def series(self) -> str:
        """Runtime and effective precision, e.g. 'openvino bf16': one series per runtime and precision."""
        return f"{self.backend} {self.effective_precision.split(' ')[0]}"

    @property
    def measured(self) -> bool:
        return self.median_ms is not None and self.status in ("ok", "cap hit")


@dataclass(frozen=True)
class Table2Row:
    model: str
    paper_params_m: float | None
    params_m: float | None
    paper_flops_b: float | None
    flops_b: float | None
    flops_diff_pct: float | None
    paper_top1: float | None
    latency_ms: dict[str, float | None]  # series -> median ms


@dataclass(frozen=True)
class Table4Row:
    faster: str
    slower: str
    paper_faster_s: float
    paper_slower_s: float
    paper_speedup: float
    series: str
    faster_ms: float | None
    slower_ms: float | None
    speedup: Ratio | None
    note: str


@dataclass(frozen=True)
class SourceDoc:
    name: str
    sha256: str
    created: str
    command: str
    effbench: str
    cells_s: float = 0.0  # the cells' measuring time, summed


@dataclass(frozen=True)
class ReportData:
    machines: list[dict[str, Any]]
    sources: list[SourceDoc]
    runtimes: dict[str, str]
    calibrations: list[PeakCalibration]  # one per thread count
    cells: list[MeasuredCell]
    series: list[str]
    table2: list[Table2Row]
    table3: list[Table2Row]
    table4: list[Table4Row]
    notes: list[str] = field(default_factory=list)
    int8: list[Int8Row] = field(default_factory=list)  # bench.views.int8: int8 cells beside their fp32 twins

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.int8:
            del out["int8"]  # documents without int8 cells report as they always did
        out["cells"] = [dict(asdict(c), series=c.series) for c in self.cells]
        out["calibrations"] = [c.to_dict() for c in self.calibrations]  # as the documents hold them
        return out


# --------------------------------------------------------------------------------------------- statistics


def ratio_ci(num: Sequence[float], den: Sequence[float], confidence: float = 0.95) -> Ratio | None:
    """Ratio of geometric means num/den of per-process medians, CI from Welch's t on the logs.

    The worker process is the statistical unit (processes of one cell differ by 2-25%, samples within one by
    far less), so the interval comes from the spread of process medians, not from pooled samples.
    """
    a = [math.log(v) for v in num if v and v > 0]
    b = [math.log(v) for v in den if v and v > 0]
    if not a or not b:
        return None
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    value = math.exp(mean_a - mean_b)
    if len(a) < 2 or len(b) < 2:
        return Ratio(value, None, None, (len(a), len(b)))
    from scipy import stats

    var_a = sum((x - mean_a) ** 2 for x in a) / (len(a) - 1)
    var_b = sum((x - mean_b) ** 2 for x in b) / (len(b) - 1)
    se2 = var_a / len(a) + var_b / len(b)
    if se2 <= 0:
        return Ratio(value, value, value, (len(a), len(b)))
    df = se2**2 / ((var_a / len(a)) ** 2 / (len(a) - 1) + (var_b / len(b)) ** 2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * math.sqrt(se2)
    return Ratio(value, math.exp(mean_a - mean_b - half), math.exp(mean_a - mean_b + half), (len(a), len(b)))


# ------------------------------------------------------------------------------------------ from documents


def _spec_counts(cell: CellRecord) -> tuple[int | None, int | None, int | None, int | None]:
    if not cell.model_spec:
        return None, None, None, None
    from bench.zoo import ModelSpec
    from bench.zoo.effective import effective_macs

    model = ModelSpec.from_dict(cell.model_spec)
    return model.resolution, model.params, model.macs, effective_macs(model)


def _peak_for(calibration: PeakCalibration | None, precision: str) -> float | None:
    name = next((p for p in ("bf16", "int8") if precision.startswith(p)), "fp32")  # int8: its own GOP/s peak
    value = calibration.gflops(name) if calibration else None
    return float(value) if value else None


def measured_cell(cell: CellRecord, source: str, doc: ResultDocument) -> MeasuredCell:
    from bench.machine import format_cpu_list
    from bench.views.latency import effective_precision, status_text

    summary = cell.summary
    resolution, params, macs, effective_macs = _spec_counts(cell)
    ci = (summary.median_ci95_ms if summary else None) or (None, None)
    median = summary.median_ms if summary else None
    effective = effective_precision(cell)
    # The rate of useful work: taps over zero padding multiply zeros, and padding-aware kernels skip them.
    gflops = achieved_gflops(effective_macs, median) if effective_macs and median else None
    peak = _peak_for(doc.calibration_for(cell.threads), effective)
    versions = cell.processes[0].versions if cell.processes else {}
    return MeasuredCell(
        source=source,
        machine_id=str(doc.machine.id),
        model=cell.model,
        resolution=resolution,
        params=params,
        macs=macs,
        effective_macs=effective_macs,
        backend=cell.backend,
        precision=cell.precision,
        effective_precision=effective,
        threads=cell.threads,
        cpus=format_cpu_list(list(cell.cpus)),
        status=status_text(cell),
        median_ms=median,
        ci_low_ms=ci[0],
        ci_high_ms=ci[1],
        p90_ms=summary.p90_ms if summary else None,
        p99_ms=summary.p99_ms if summary else None,
        process_medians_ms=tuple(summary.process_medians_ms) if summary else (),
        gflops=gflops,
        peak_gflops=peak,
        pct_peak=percent_of_peak(gflops, peak),
        warnings=tuple(cell.warnings),
        artifact_sha256=cell.artifact.sha256 if cell.artifact else None,
        fingerprint=cell.fingerprint,
        runtime_version=versions.get(cell.backend),
        effbench_version=doc.effbench.version,
        elapsed_s=cell.elapsed_s,
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_report(docs: Sequence[tuple[Path, ResultDocument]]) -> ReportData:
    """The report for result documents (path, loaded document) of one machine, in the order given."""
    cells: list[MeasuredCell] = []
    sources: list[SourceDoc] = []
    machines: dict[str, dict[str, Any]] = {}
    runtimes: dict[str, str] = {}
    calibrations: list[PeakCalibration] = []
    int8: list[Int8Row] = []
    for path, doc in docs:
        int8.extend(int8_rows(doc.cells))
        machines.setdefault(str(doc.machine.id), doc.machine.data)
        info = doc.effbench
        commit = (info.git_commit or "")[:12]
        sources.append(
            SourceDoc(
                name=path.name,
                sha256=_sha256(path),
                created=doc.created,
                command=" ".join(info.command),
                effbench=info.version + (f" (git {commit})" if commit else ""),
                cells_s=sum(cell.elapsed_s for cell in doc.cells),
            )
        )
        calibrations.extend(c for c in doc.calibrations if c not in calibrations)
        for cell in doc.cells:
            if cell.status == "skipped":
                continue
            cells.append(measured_cell(cell, path.name, doc))
            for process in cell.processes:
                for name, version in process.versions.items():
                    runtimes.setdefault(name, str(version))
    series = sorted({c.series for c in cells if c.measured})
    return ReportData(
        machines=[machines[k] for k in sorted(machines)],
        sources=sources,
        runtimes=dict(sorted(runtimes.items())),
        calibrations=calibrations,
        cells=cells,
        series=series,
        table2=_paper_table(cells, series, "Table 2"),
        table3=_paper_table(cells, series, "Table 3"),
        table4=_table4(cells, series),
        int8=int8,
    )


# The paper's latencies are batch 1 on one core: its tables and figures are shown beside one-thread cells only.
PAPER_THREADS = 1


def best_cell(cells: Sequence[MeasuredCell], model: str, series: str, source: str | None = None) -> MeasuredCell | None:
    """The measured one-thread cell of `model` in `series` (the last one when several documents measured it),
    from `source` only when given."""
    found = [
        c
        for c in cells
        if c.model == model and c.series == series and c.measured and c.threads == PAPER_THREADS
        and source in (None, c.source)
    ]  # fmt: skip
    return found[-1] if found else None


def _pair(
    cells: Sequence[MeasuredCell], a: str, b: str, series: str
) -> tuple[MeasuredCell | None, MeasuredCell | None]:
    """Cells of models a and b in one series, from one document when one measured both: a ratio is only
    trustworthy when its two cells ran side by side (the host drifts by several % between runs). The last document
    given that measured both wins, as in best_cell."""
    for source in reversed(list(dict.fromkeys(c.source for c in cells))):
        first, second = best_cell(cells, a, series, source), best_cell(cells, b, series, source)
        if first is not None and second is not None:
            return first, second
    return best_cell(cells, a, series), best_cell(cells, b, series)


def _paper_table(cells: Sequence[MeasuredCell], series: Sequence[str], table: str) -> list[Table2Row]:
    from bench.zoo import resolve_model

    measured_models = {c.model for c in cells}
    rows = []
    for name in paper_table_rows(table):
        figures = PAPER[name]
        if table == "Table 3" and name not in measured_models:
            continue
        spec = resolve_model(name)
        flops_b = spec.macs / 1e9
        diff = 100 * (flops_b / figures.flops_b - 1) if figures.flops_b else None
        latency = {}
        for s in series:
            cell = best_cell(cells, name, s)
            latency[s] = cell.median_ms if cell else None
        rows.append(
            Table2Row(
                model=name,
                paper_params_m=figures.params_m,
                params_m=spec.params / 1e6,
                paper_flops_b=figures.flops_b,
                flops_b=flops_b,
                flops_diff_pct=diff,
                paper_top1=figures.top1,
                latency_ms=latency,
            )
        )
    return rows


def _table4(cells: Sequence[MeasuredCell], series: Sequence[str]) -> list[Table4Row]:
    rows = []
    for faster, slower, paper_speedup in TABLE4_PAIRS:
        for s in series:
            fast_cell, slow_cell = _pair(cells, faster, slower, s)
            if fast_cell is None and slow_cell is None:
                continue
            note = NOT_BUILT.get(slower, "")
            speedup = None
            if fast_cell and slow_cell:
                speedup = ratio_ci(slow_cell.process_medians_ms, fast_cell.process_medians_ms)
            elif not note:
                missing = [m for m, c in ((faster, fast_cell), (slower, slow_cell)) if c is None]
                note = "not measured: " + ", ".join(missing)
            rows.append(
                Table4Row(
                    faster=faster,
                    slower=slower,
                    paper_faster_s=PAPER_LATENCY_S[faster],
                    paper_slower_s=PAPER_LATENCY_S[slower],
                    paper_speedup=paper_speedup,
                    series=s,
                    faster_ms=fast_cell.median_ms if fast_cell else None,
                    slower_ms=slow_cell.median_ms if slow_cell else None,
                    speedup=speedup,
                    note=note,
                )
            )
    return rows
