"""Measuring planned cells into a result document that is on disk from the start and saved after every cell."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.document import CellRecord, ResultDocument
from bench.plan import LatencySettings
from bench.runner import CellPlan, CellRun, Launcher, Progress, Runner


@dataclass(frozen=True)
class MeasuredRun:
    """The finished (or interrupted) run: its document as saved, and where."""

    document: ResultDocument
    path: Path
    interrupted: bool

    @property
    def failed(self) -> bool:
        return any(cell.status == "failed" for cell in self.document.cells)


def measure(
    settings: LatencySettings,
    plans: Sequence[CellPlan],
    launcher: Launcher,
    *,
    command: Sequence[str],
    progress: Progress | None = None,
    say: Callable[[str], Any] = lambda _message: None,
) -> MeasuredRun:
    """Run `plans` with `launcher` and keep the result document on disk up to date.

    The file is written before the first worker starts (status "interrupted", warnings of the system checks),
    replaced after each finished cell, and a last time with the status "complete" or "interrupted": a run that
    is killed leaves a truthful file. `say` gets the result path as soon as it exists.
    """
    from bench.machine import collect_machine_metadata, system_checks
    from bench.results import new_document, save_progress, write_result

    doc = new_document(collect_machine_metadata(), settings.document_settings(), command)
    checks = [c for c in system_checks(list(settings.cpus)) if c.status == "warn"]
    doc = replace(doc, warnings=tuple(f"{c.message}: {c.remedy}" if c.remedy else c.message for c in checks))
    path = write_result(doc, settings.output, settings.results_dir)
    say(f"results: {path}")

    finished: dict[int, CellRecord] = {}
    order = {id(plan): i for i, plan in enumerate(plans)}

    def on_cell_finished(cell: CellRun) -> None:
        nonlocal doc
        # Cells finish out of plan order (interleaved rounds); the document lists them in plan order.
        finished[order[id(cell.plan)]] = cell.record()
        doc = replace(doc, cells=tuple(finished[i] for i in sorted(finished)))
        save_progress(doc, path)

    outcome = Runner(settings.policy, launcher, progress=progress, on_cell_finished=on_cell_finished).run(plans)
    cells = tuple(cell.record() for cell in outcome.cells)
    doc = replace(doc, cells=cells, status="interrupted" if outcome.interrupted else "complete")
    save_progress(doc, path)
    return MeasuredRun(doc, path, outcome.interrupted)
