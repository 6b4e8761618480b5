"""The hardware report's data: result documents of several machines merged, cells compared only when the same
model bytes ran, speedups against a reference machine with CIs, thread scaling where several thread counts ran.

Pure and deterministic like bench.views.report_data, whose MeasuredCell and ratio_ci it builds on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.document import ResultDocument
from bench.errors import EffbenchError
from bench.probes.layers import LayerProfile
from bench.views.report_data import MeasuredCell, Ratio, ReportData, SourceDoc, Table4Row, build_report, ratio_ci

ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8")


@dataclass(frozen=True)
class MachineRow:
    id: str
    brand: str
    family_model: str
    logical_cpus: int | None
    cpus_used: str  # "1 (1), 0-1 (2)": the CPU list of each thread count measured
    isa: tuple[str, ...]
    peak_fp32_gflops: float | None
    peak_bf16_gflops: float | None
    ghz_advertised: float | None
    ghz_implied: float | None  # the measured fp32 peak / (threads x the ISA's FLOP per cycle): the clock it implies
    virtual: str
    governor: str
    boost: str
    runtimes: dict[str, str]
    peak_int8_gops: float | None = None  # int8 multiply-adds x 2 (GOP/s), where a run calibrated it


@dataclass(frozen=True)
class MachineCell:
    """One model in one series on one machine, with its speedup against the reference machine."""

    machine_id: str
    median_ms: float | None
    ci_low_ms: float | None
    ci_high_ms: float | None
    gflops: float | None
    pct_peak: float | None
    speedup: Ratio | None  # reference latency / this machine's latency (>1: faster than the reference)
    labels: tuple[str, ...]  # why a reader should take care: versions differ, cap hit
    warnings: tuple[str, ...] = ()  # the cell's own warnings, as its document has them

    @property
    def marked(self) -> bool:
        return bool(self.labels or self.warnings)


@dataclass(frozen=True)
class ModelRow:
    model: str
    macs: int | None
    cells: dict[str, MachineCell]  # machine id -> cell


@dataclass(frozen=True)
class SeriesTable:
    series: str
    threads: int
    rows: list[ModelRow]


@dataclass(frozen=True)
class Incomparable:
    model: str
    series: str
    threads: int
    machine_id: str
    reason: str
    median_ms: float | None = None
    ci_low_ms: float | None = None
    ci_high_ms: float | None = None


@dataclass(frozen=True)
class ScalingRow:
    machine_id: str
    model: str
    series: str
    threads: int
    median_ms: float
    speedup: float  # latency at the fewest threads measured / this latency
    efficiency: float  # speedup / (threads / fewest threads)


@dataclass(frozen=True)
class MachinesReport:
    reference: str
    machines: list[MachineRow]
    tables: list[SeriesTable]
    incomparable: list[Incomparable]
    table4: dict[str, list[Table4Row]]  # machine id -> rows
    scaling: list[ScalingRow]
    sources: list[SourceDoc]
    per_machine: dict[str, ReportData] = field(repr=False, default_factory=dict)
    layers: list[tuple[str, LayerProfile]] = field(default_factory=list)  # (machine id, profile), machines in order
    layer_sources: list[str] = field(default_factory=list)  # provenance lines of the layers documents

    def machines_in(self, table: SeriesTable) -> list[str]:
        """The machines with at least one cell in `table`, in the report's order: a machine whose cells there were
        all listed apart (other model bytes) or never measured gets no empty columns, only a line under it."""
        present = {mid for row in table.rows for mid in row.cells}
        return [m.id for m in self.machines if m.id in present]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["per_machine"] = sorted(self.per_machine)
        out["layers"] = [(mid, profile.to_dict()) for mid, profile in self.layers]  # as the layers documents hold them
        return out


def _machine_row(data: ReportData) -> MachineRow:
    machine = data.machines[0]
    cpu = machine.get("cpu") or {}
    flags = set(cpu.get("flags") or [])
    single = [c for c in data.calibrations if c.threads == 1] or data.calibrations
    calibration = single[-1] if single else None  # the last document given wins, as for cells
    hz = cpu.get("hz_advertised")
    ghz = hz / 1e9 if isinstance(hz, (int, float)) and hz else None
    fp32 = calibration.peak("fp32") if calibration else None
    # theoretical = threads x advertised GHz x FLOP/cycle, so measured / theoretical x advertised GHz is the clock
    # at which the ISA's FLOP/cycle gives the measured rate.
    implied = None
    if ghz and fp32 and fp32.gflops and fp32.theoretical_gflops:
        implied = fp32.gflops / fp32.theoretical_gflops * ghz
    used = sorted({(c.threads, c.cpus) for c in data.cells if c.cpus})
    return MachineRow(
        id=str(machine.get("id")),
        brand=str(cpu.get("brand", "?")),
        family_model=f"{cpu.get('vendor', '?')} {cpu.get('family', '?')}/{cpu.get('model', '?')}",
        logical_cpus=(machine.get("cores") or {}).get("logical"),
        cpus_used=", ".join(f"{cpus} ({threads})" for threads, cpus in used) or "–",
        isa=tuple(f for f in ISA_FLAGS if f in flags),
        peak_fp32_gflops=calibration.gflops("fp32") if calibration else None,
        peak_bf16_gflops=calibration.gflops("bf16") if calibration else None,
        peak_int8_gops=calibration.gflops("int8") if calibration else None,
        ghz_advertised=ghz,
        ghz_implied=implied,
        virtual="VM" if "hypervisor" in flags else "bare metal",
        governor=str(machine.get("governor", "?")),
        boost=str(machine.get("boost", "?")),
        runtimes=data.runtimes,
    )


def _labels(cell: MeasuredCell, reference: MeasuredCell | None) -> tuple[str, ...]:
    labels = []
    if reference is not None and cell.runtime_version != reference.runtime_version:
        labels.append(f"{cell.backend} {cell.runtime_version} vs {reference.runtime_version} on the reference")
    if reference is not None and cell.effbench_version != reference.effbench_version:
        labels.append(f"effbench {cell.effbench_version} vs {reference.effbench_version}")
    if cell.status == "cap hit" and not any(w.startswith("stopped before the precision target") for w in cell.warnings):
        labels.append("cap hit before the precision target")
    return tuple(labels)


def _same_bytes(cell: MeasuredCell, reference: MeasuredCell) -> str | None:
    """None when the two cells ran the same model bytes, else why not."""
    # An AOTInductor package is machine code compiled on each machine for its CPU (bench.export.aot): the bytes
    # never match across CPUs, the recipe (model, torch, compiler version, precision, threads) can.
    if cell.backend == "inductor" and reference.backend == "inductor":
        return None if cell.fingerprint == reference.fingerprint else "compile recipe (fingerprint) differs"
    if cell.artifact_sha256 and reference.artifact_sha256:
        if cell.artifact_sha256 != reference.artifact_sha256:
            here, there = cell.artifact_sha256[:12], reference.artifact_sha256[:12]
            return f"model bytes differ: sha256 {here} here, {there} on the reference"
        return None
    if cell.fingerprint != reference.fingerprint:
        return "export recipe (fingerprint) differs from the reference's"
    return None


def build_machines_report(
    docs: Sequence[tuple[Path, ResultDocument]],
    reference: str | None = None,
    layers: Sequence[tuple[str, Sequence[LayerProfile]]] = (),
    layer_sources: Sequence[str] = (),
) -> MachinesReport:
    """Merge documents of several machines; `reference` is a machine id (default: the first document's);
    `layers` are (machine id, profiles) of `effbench layers` documents."""
    by_machine: dict[str, list[tuple[Path, ResultDocument]]] = {}
    for path, doc in docs:
        by_machine.setdefault(str(doc.machine.id), []).append((path, doc))
    if not by_machine:
        raise EffbenchError("no result documents given: pass the result files of each machine")
    ids = list(by_machine)
    ref = reference or ids[0]
    if ref not in by_machine:
        raise EffbenchError(f"--reference {ref}: no document of that machine; machines given: {', '.join(ids)}")
    per_machine = {mid: build_report(items) for mid, items in by_machine.items()}
    order = [ref, *sorted(m for m in ids if m != ref)]
    machines = [_machine_row(per_machine[mid]) for mid in order]

    groups: dict[tuple[str, int], dict[str, dict[str, MeasuredCell]]] = {}
    for mid in order:
        for cell in per_machine[mid].cells:
            if cell.measured:
                # The last document given wins when several measured the same cell, as in the one-machine report
                # (bench.views.report_data.best_cell), so the tables and the Table 4 ratios show the same cells.
                groups.setdefault((cell.series, cell.threads), {}).setdefault(cell.model, {})[mid] = cell
    tables, incomparable = [], []
    for series, threads in sorted(groups):
        rows = []
        models = groups[(series, threads)]
        for model in sorted(models, key=lambda m: (_macs(models[m]), m)):
            measured = models[model]
            base = measured.get(ref)
            cells: dict[str, MachineCell] = {}
            for mid in order:
                if mid not in measured:
                    continue
                cell = measured[mid]
                why = _same_bytes(cell, base) if base is not None and mid != ref else None
                if why is not None:
                    incomparable.append(
                        Incomparable(model, series, threads, mid, why, cell.median_ms, cell.ci_low_ms, cell.ci_high_ms)
                    )
                    continue
                speedup = None
                if base is not None:
                    speedup = ratio_ci(base.process_medians_ms, cell.process_medians_ms)
                cells[mid] = MachineCell(
                    mid, cell.median_ms, cell.ci_low_ms, cell.ci_high_ms, cell.gflops, cell.pct_peak, speedup,
                    _labels(cell, base if mid != ref else None), tuple(cell.warnings),
                )  # fmt: skip
            rows.append(ModelRow(model, next(iter(measured.values())).macs, cells))
        tables.append(SeriesTable(series, threads, rows))
    sources = [s for mid in order for s in per_machine[mid].sources]
    return MachinesReport(
        reference=ref,
        machines=machines,
        tables=tables,
        incomparable=incomparable,
        table4={mid: per_machine[mid].table4 for mid in order},
        scaling=_scaling(per_machine, order),
        sources=sources,
        per_machine=per_machine,
        layers=_layer_profiles(layers, order),
        layer_sources=list(layer_sources),
    )


def _layer_profiles(
    layers: Sequence[tuple[str, Sequence[LayerProfile]]], order: Sequence[str]
) -> list[tuple[str, LayerProfile]]:
    """(machine id, profile) in machine order (machines with no result document last), files' order within."""
    rank = {mid: i for i, mid in enumerate(order)}
    items = [(mid, profile) for mid, profiles in layers for profile in profiles]
    return sorted(items, key=lambda item: (rank.get(item[0], len(rank)), item[0]))


def _macs(cells: dict[str, MeasuredCell]) -> int:
    return next((c.macs for c in cells.values() if c.macs), 0) or 0


def _scaling(per_machine: dict[str, ReportData], order: Sequence[str]) -> list[ScalingRow]:
    rows = []
    for mid in order:
        # Thread counts compared within one document: its cells ran interleaved, so the machine's drift
        # between runs does not enter the speedup.
        by_key: dict[tuple[str, str, str], dict[int, MeasuredCell]] = {}
        for cell in per_machine[mid].cells:
            if cell.measured and cell.median_ms:
                by_key.setdefault((cell.model, cell.series, cell.source), {})[cell.threads] = cell
        for (model, series, _source), cells in sorted(by_key.items()):
            if len(cells) < 2:
                continue
            fewest = min(cells)
            base = cells[fewest].median_ms or 0.0
            for threads in sorted(cells):
                median = cells[threads].median_ms or 0.0
                speedup = base / median if median else 0.0
                rows.append(ScalingRow(mid, model, series, threads, median, speedup, speedup / (threads / fewest)))
    return rows
