"""What a run says while it measures: `Progress` (the scheduler's three events), `NullProgress` (silence) and
`RichProgress` (one line per worker on stderr, for `effbench latency` and `effbench ab`; a suite run has its own bar
in bench.suite.progress)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bench.document import ProcessRecord
    from bench.engine.launchers import WorkerOutcome
    from bench.engine.runner import CellRun


class Progress(Protocol):
    def process_started(self, cell: CellRun, index: int) -> None: ...
    def process_finished(self, cell: CellRun, index: int, outcome: WorkerOutcome[ProcessRecord]) -> None: ...
    def cell_finished(self, cell: CellRun) -> None: ...


class NullProgress:
    def process_started(self, cell: CellRun, index: int) -> None:
        pass

    def process_finished(self, cell: CellRun, index: int, outcome: WorkerOutcome[ProcessRecord]) -> None:
        pass

    def cell_finished(self, cell: CellRun) -> None:
        pass


class RichProgress:
    """One line per worker on stderr: which cell, which process, its median when done."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True, highlight=False)

    def process_started(self, cell: CellRun, index: int) -> None:
        self._status = self.console.status(f"[bold]{cell.plan.label}[/] · process {index + 1}")
        self._status.start()

    def process_finished(self, cell: CellRun, index: int, outcome: WorkerOutcome[ProcessRecord]) -> None:
        with contextlib.suppress(AttributeError):
            self._status.stop()
        index += 1
        if outcome.status == "ok" and outcome.record:
            samples = sorted(outcome.record.samples_ns)
            median_ms = samples[len(samples) // 2] / 1e6
            self.console.print(
                f"  {cell.plan.label} · process {index}: median {median_ms:.3f} ms, {len(samples)} samples "
                f"({outcome.duration_s:.1f} s)"
            )
        else:
            self.console.print(f"  [red]{cell.plan.label} · process {index}: {outcome.error}[/]")

    def cell_finished(self, cell: CellRun) -> None:
        if cell.status == "ok":
            self.console.print(f"  [green]done[/] {cell.plan.label}: {cell.stop_reason}")
        elif cell.status == "skipped":
            self.console.print(f"  [yellow]skipped[/] {cell.plan.label}: {cell.error}")
