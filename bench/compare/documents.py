"""Result documents to comparison inputs: cells of BASE and NEW matched by model, backend, effective precision,
threads and CPU count (or the two arms of one `effbench ab` document), each arm's per-process medians and flags.

What changed between the arms besides the code under test (model fingerprint, runtime version) is reported
beside each cell: it is often the point of the comparison, never a reason to refuse it. Another machine is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bench.compare.cells import Arm, CellInput
from bench.compare.sequential import SpendingPlan, process_quantile_ms
from bench.compare.verdict import CompareSettings
from bench.document import CellRecord, ProcessRecord, ResultDocument
from bench.errors import EffbenchError

ARMS = ("base", "new")


@dataclass(frozen=True)
class Matched:
    """The matched cells, ready for compare_cells, and per cell key what else differs between the arms."""

    cells: list[CellInput]
    changes: dict[str, list[str]]
    base_machine: str
    new_machine: str


def _precision_word(cell: CellRecord) -> str:
    effective = cell.processes[0].effective_precision if cell.processes else None
    return str(effective or cell.precision)


def cell_key(cell: CellRecord) -> str:
    """model · backend · effective precision · N thread(s) · M CPU(s): what makes two cells the same cell."""
    return f"{cell.model} · {cell.backend} · {_precision_word(cell)} · {cell.threads}t/{len(cell.cpus)}cpu"


def _busy(process: ProcessRecord, threads: int) -> bool:
    """The process's timed loop crossed the busy-CPU, steal-time or own-CPU level of its own warnings."""
    from bench.machine.activity import interfered

    return interfered(process.machine_activity, process.cpu_wall_ratio, threads)


def arm_of(cell: CellRecord | None, quantile: float | None = None) -> Arm:
    """One arm from a result cell (None: the cell is missing from that document). With `quantile` (an adaptive
    A/B's design), each process enters by that quantile of its samples instead of its median."""
    from bench.engine.policy import CAP_PREFIX

    if cell is None:
        return Arm(status="missing")
    if cell.status != "ok":
        mapped = cell.status if cell.status in ("failed", "skipped", "interrupted") else "failed"
        return Arm(status=mapped, error=cell.error or "")  # type: ignore[arg-type]
    processes = [p for p in cell.processes if p.samples_ns]
    medians = tuple(cell.summary.process_medians_ms) if cell.summary else ()
    if quantile is not None:
        medians = tuple(process_quantile_ms(p.samples_ns, quantile) for p in processes)
    p90s = []
    for process in processes:
        ordered = sorted(process.samples_ns)
        p90s.append(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] / 1e6)
    aligned = len(processes) == len(medians)  # the summary's medians are those of the processes with samples
    return Arm(
        medians_ms=medians,
        p90s_ms=tuple(p90s) if aligned else None,
        samples=tuple(len(p.samples_ns) for p in processes) if aligned else None,
        machine_busy=any(_busy(p, cell.threads) for p in cell.processes),
        process_busy=tuple(_busy(p, cell.threads) for p in processes) if aligned else (),
        cap_hit=(cell.stop_reason or "").startswith(CAP_PREFIX),
    )


def _changes(base: CellRecord | None, new: CellRecord | None) -> list[str]:
    if base is None or new is None:
        return []
    found = []
    if base.fingerprint != new.fingerprint:
        found.append(f"model fingerprint {str(base.fingerprint)[:12]} → {str(new.fingerprint)[:12]}")

    def version(cell: CellRecord) -> str | None:
        return cell.processes[0].versions.get(cell.backend) if cell.processes else None

    if version(base) != version(new):
        found.append(f"{new.backend} {version(base)} → {version(new)}")
    return found


def _by_key(cells: Sequence[CellRecord], where: str) -> dict[str, CellRecord]:
    out: dict[str, CellRecord] = {}
    for cell in cells:
        key = cell_key(cell)
        if key in out:
            raise EffbenchError(
                f"{where} measures {key} twice: compare documents with one cell per model, backend and precision"
            )
        out[key] = cell
    return out


def _match(
    base_cells: dict[str, CellRecord],
    new_cells: dict[str, CellRecord],
    machines: tuple[str, str],
    *,
    paired: bool = False,
    quantile: float | None = None,
) -> Matched:
    keys = list(base_cells) + [k for k in new_cells if k not in base_cells]
    common = [k for k in keys if k in base_cells and k in new_cells]
    if not common:
        raise EffbenchError(
            "BASE and NEW have no cell in common (cells match by model, backend, effective precision, threads and "
            f"CPU count): BASE has {', '.join(base_cells) or 'none'}; NEW has {', '.join(new_cells) or 'none'}"
        )
    cells = []
    for k in keys:
        base, new = arm_of(base_cells.get(k), quantile), arm_of(new_cells.get(k), quantile)
        # Blocks need a partner for every process: an arm that lost processes is judged unpaired (Welch).
        blocks = paired and base.status == new.status == "ok" and len(base.medians_ms) == len(new.medians_ms)
        cells.append(CellInput(k, base, new, paired=blocks))
    changes = {k: _changes(base_cells.get(k), new_cells.get(k)) for k in keys}
    return Matched(cells, {k: v for k, v in changes.items() if v}, *machines)


def match_documents(base: ResultDocument, new: ResultDocument, *, across_machines: bool = False) -> Matched:
    """Cells of two result documents matched by key; EffbenchError when the machines differ (unless
    `across_machines`) or when nothing matches."""
    machines = (str(base.machine.id), str(new.machine.id))
    if machines[0] != machines[1] and not across_machines:
        raise EffbenchError(
            f"BASE ran on {machines[0]} and NEW on {machines[1]}: latencies of two machines are not a "
            "regression test; compare runs of one machine, or pass --across-machines to compare anyway"
        )
    return _match(_by_key(base.cells, "BASE"), _by_key(new.cells, "NEW"), machines)


def match_ab(doc: ResultDocument) -> Matched:
    """The two arms of one `effbench ab` document. Its cells come in pairs (the base arm's cell, then the new
    arm's, per backend), matched by position: the arms may be two different models compared as one cell (a
    candidate network against the current one), whose names then both appear in the key. Process i of the two
    arms ran back to back (ABBA order), so cells whose arms have as many processes are marked paired."""
    arms = {arm: [c for c in doc.cells if c.arm == arm] for arm in ARMS}
    if not arms["base"] or not arms["new"] or len(arms["base"]) != len(arms["new"]):
        raise EffbenchError(
            "this document has no complete A/B arms (cells with arm base and new, in pairs): pass two result "
            "documents, BASE.json NEW.json, or a document written by effbench ab"
        )
    base_cells: dict[str, CellRecord] = {}
    new_cells: dict[str, CellRecord] = {}
    for base, new in zip(arms["base"], arms["new"], strict=True):
        key = cell_key(base)
        if base.model != new.model:
            key = key.replace(base.model, f"{base.model} → {new.model}", 1)
        base_cells[key], new_cells[key] = base, new
    machine = str(doc.machine.id)
    design = doc.settings.sequential
    quantile = design.quantile if design is not None else None
    return _match(base_cells, new_cells, (machine, machine), paired=True, quantile=quantile)


def judged_as_run(settings: CompareSettings, doc: ResultDocument) -> CompareSettings:
    """`settings` for judging `doc`: an adaptive A/B document (settings.sequential) is judged with the design its
    run looked with (each cell's share of α, the first look), whatever --alpha says now, since its looks spent it."""
    design = doc.settings.sequential
    if design is None:
        return settings
    statistic = "medians" if design.quantile == 0.5 else f"p{design.quantile * 100:.0f}s"
    blocks_of = f"paired processes' {statistic}" if design.burst_s is not None else f"process {statistic}"
    return replace(settings, sequential=SpendingPlan(design.alpha, design.min_blocks), blocks_of=blocks_of)
