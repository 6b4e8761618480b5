"""Measuring planned cells into a result document that is on disk from the start and saved after every cell."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.document import CellRecord, ResultDocument, Settings
from bench.engine.launchers import Launcher
from bench.engine.plan import LatencySettings, RunIdentity
from bench.engine.policy import MeasurePolicy
from bench.engine.progress import Progress
from bench.engine.runner import CellPlan, CellRun, Runner

# Turns the records of the cells finished so far (keyed by their index in the plan list) into the document's
# cells. The default lists them in plan order; a resumed run merges them with the cells it keeps.
CellLayout = Callable[[Mapping[int, CellRecord]], tuple[CellRecord, ...]]


@dataclass(frozen=True)
class MeasuredRun:
    """The finished (or interrupted) run: its document as saved, and where."""

    document: ResultDocument
    path: Path
    interrupted: bool

    @property
    def failed(self) -> bool:
        return any(cell.status == "failed" for cell in self.document.cells)


def new_run_document(
    settings: Settings,
    cpus: Sequence[int],
    command: Sequence[str],
    *,
    machine: dict[str, Any] | None = None,
    identity: RunIdentity | None = None,
) -> ResultDocument:
    """A new document for a run on `cpus`: the machine (collected unless given), the warnings of the system
    checks, the label and commit under test."""
    from bench.machine import collect_machine_metadata, system_checks
    from bench.results import new_document

    doc = new_document(machine if machine is not None else collect_machine_metadata(), settings, command)
    checks = [c for c in system_checks(list(cpus)) if c.status == "warn"]
    doc = replace(doc, warnings=tuple(f"{c.message}: {c.remedy}" if c.remedy else c.message for c in checks))
    return identity.apply(doc) if identity is not None else doc


def measure(
    settings: LatencySettings,
    plans: Sequence[CellPlan],
    launcher: Launcher,
    *,
    command: Sequence[str],
    progress: Progress | None = None,
    say: Callable[[str], Any] = lambda _message: None,
    identity: RunIdentity | None = None,
) -> MeasuredRun:
    """Run `plans` with `launcher` and keep the result document on disk up to date.

    The file is written before the first worker starts (status "interrupted", warnings of the system checks),
    replaced after each finished cell, and a last time with the status "complete" or "interrupted": a run that
    is killed leaves a truthful file. `say` gets the result path as soon as it exists.
    """
    from bench.results import write_result

    doc = new_run_document(settings.document_settings(), settings.cpus, command, identity=identity)
    path = write_result(doc, settings.output, settings.results_dir)
    say(f"results: {path}")
    return measure_into(doc, path, plans, settings.policy, launcher, progress=progress)


def measure_into(
    doc: ResultDocument,
    path: Path,
    plans: Sequence[CellPlan],
    policy: MeasurePolicy,
    launcher: Launcher,
    *,
    progress: Progress | None = None,
    layout: CellLayout | None = None,
) -> MeasuredRun:
    """Measure `plans` in one interleaved schedule into `doc`, which this run owns at `path` (same run_id):
    saved after every finished cell and at the end ("complete", or "interrupted" after Ctrl-C)."""
    from bench.results import save_progress

    arrange = layout or (lambda records: tuple(records[i] for i in sorted(records)))
    finished: dict[int, CellRecord] = {}
    order = {id(plan): i for i, plan in enumerate(plans)}

    def on_cell_finished(cell: CellRun) -> None:
        nonlocal doc
        # Cells finish out of plan order (interleaved rounds); the document lists them in plan order.
        finished[order[id(cell.plan)]] = cell.record()
        doc = replace(doc, cells=arrange(finished))
        save_progress(doc, path)

    outcome = Runner(policy, launcher, progress=progress, on_cell_finished=on_cell_finished).run(plans)
    records = {order[id(cell.plan)]: cell.record() for cell in outcome.cells}
    doc = replace(doc, cells=arrange(records), status="interrupted" if outcome.interrupted else "complete")
    save_progress(doc, path)
    return MeasuredRun(doc, path, outcome.interrupted)
