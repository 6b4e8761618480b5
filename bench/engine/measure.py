"""Every mode's one path from planned cells to a result document: `start_document` creates it on disk before the
first worker (latency, ab and a suite run alike), `measure_into` runs the scheduler and saves it after every
finished cell and every round, `measure` does both for `effbench latency`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.calibration import PeakCalibration
from bench.document import CellRecord, ResultDocument, Settings, SuiteRecord
from bench.engine.launchers import Launcher
from bench.engine.plan import LatencySettings, RunIdentity
from bench.engine.policy import MeasurePolicy
from bench.engine.progress import Progress
from bench.engine.runner import CellPlan, CellRun, RoundOrder, Runner

# The document's cells from the cells of the run (all of them, in plan order, finished or not). The default lists
# the finished ones; a resumed run merges them with the cells it keeps; an A/B run lists unfinished ones too.
CellLayout = Callable[[Sequence[CellRun]], tuple[CellRecord, ...]]


@dataclass(frozen=True)
class MeasuredRun:
    """The finished (or interrupted) run: its document as saved, and where."""

    document: ResultDocument
    path: Path
    interrupted: bool

    @property
    def failed(self) -> bool:
        return any(cell.status == "failed" for cell in self.document.cells)


def start_document(
    settings: Settings,
    command: Sequence[str],
    *,
    output: Path | None,
    results_dir: Path,
    machine: dict[str, Any] | None = None,
    identity: RunIdentity | None = None,
    suite: SuiteRecord | None = None,
    calibrations: tuple[PeakCalibration, ...] = (),
    name_prefix: str | None = None,
    say: Callable[[str], Any] = lambda _message: None,
) -> tuple[ResultDocument, Path]:
    """A new result document, written (status "interrupted") before anything is measured: the machine (collected
    unless given), the warnings of the system checks on the settings' CPUs, the label and commit under test, and
    for a suite its definition and calibrations. The file is `output`, else results_dir/<machine>/<time>.json
    (`name_prefix`-<time>.json: a suite's name); `say` gets its path."""
    from bench.machine import collect_machine_metadata, system_checks
    from bench.results import default_result_path, new_document, write_result

    doc = new_document(machine if machine is not None else collect_machine_metadata(), settings, command)
    checks = [c for c in system_checks(list(settings.cpus)) if c.status == "warn"]
    doc = replace(doc, warnings=tuple(f"{c.message}: {c.remedy}" if c.remedy else c.message for c in checks))
    if identity is not None:
        doc = identity.apply(doc)
    target = output
    if target is None and name_prefix:
        default = default_result_path(doc, results_dir)
        target = default.with_name(f"{name_prefix}-{default.name}")
    if suite is not None:  # its bundle relative to the file's folder: a document holds no local path
        folder = (target or default_result_path(doc, results_dir)).parent
        doc = replace(doc, suite=suite.placed_in(folder), calibrations=calibrations)
    path = write_result(doc, target, results_dir)
    say(f"results: {path}")
    return doc, path


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
    """Run `plans` with `launcher` in interleaved rounds into a new document (start_document)."""
    doc, path = start_document(
        settings.document_settings(), command, output=settings.output, results_dir=settings.results_dir,
        identity=identity, say=say,
    )  # fmt: skip
    return measure_into(doc, path, plans, settings.policy, launcher, progress=progress)


def finished_cells(cells: Sequence[CellRun]) -> tuple[CellRecord, ...]:
    """The default layout: the cells finished so far, in plan order (interleaved cells finish out of it)."""
    return tuple(cell.record() for cell in cells if cell.finished)


def measure_into(
    doc: ResultDocument,
    path: Path,
    plans: Sequence[CellPlan],
    policy: MeasurePolicy,
    launcher: Launcher,
    *,
    order: RoundOrder | None = None,
    arms: Mapping[str, Launcher] | None = None,
    progress: Progress | None = None,
    layout: CellLayout = finished_cells,
) -> MeasuredRun:
    """Measure `plans` in one schedule (`order`, interleaved unless given; `arms`: each arm's launcher) into `doc`,
    which this run owns at `path` (same run_id): saved after every finished cell and every round, and at the end
    ("complete", or "interrupted" after Ctrl-C), so a run that is killed leaves a truthful file."""
    from bench.results import save_progress

    def checkpoint(cells: Sequence[CellRun]) -> None:
        save_progress(replace(doc, cells=layout(cells)), path)

    outcome = Runner(policy, launcher, arms=arms, progress=progress, checkpoint=checkpoint).run(plans, order)
    final = replace(doc, cells=layout(outcome.cells), status="interrupted" if outcome.interrupted else "complete")
    save_progress(final, path)
    return MeasuredRun(final, path, outcome.interrupted)
