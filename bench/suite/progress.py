"""The progress of a suite run on stderr: the cell being measured, cells done of all, elapsed time and an ETA."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.engine.launchers import WorkerOutcome
from bench.engine.runner import CellPlan, CellRun


class EtaEstimator:
    """Time left = worker processes still expected x the mean wall time of a process so far.

    The processes a cell needs are known only once cells finish (the stopping rule decides), so the estimate
    takes the mean process count of the cells finished so far; before any has finished (the first
    `min_processes` interleaved rounds), the policy's minimum: the ETA is then a lower bound and says so.
    """

    def __init__(self, cells: int, min_processes: int) -> None:
        self.cells = cells  # cells to measure (skipped ones excluded)
        self.min_processes = min_processes
        self.process_s = 0.0
        self.process_count = 0
        self.running: dict[int, int] = {}  # unfinished cell -> processes run so far
        self.finished_processes: list[int] = []  # processes each finished cell took

    def process_done(self, cell: int, seconds: float) -> None:
        self.process_s += seconds
        self.process_count += 1
        self.running[cell] = self.running.get(cell, 0) + 1

    def cell_done(self, cell: int) -> None:
        self.finished_processes.append(self.running.pop(cell, 0))

    def estimate(self) -> tuple[float | None, bool]:
        """(seconds left, whether that is only a lower bound); None before any process has finished."""
        if not self.process_count:
            return None, True
        if self.finished_processes:
            per_cell, bound = sum(self.finished_processes) / len(self.finished_processes), False
        else:
            per_cell, bound = float(self.min_processes), True
        not_started = self.cells - len(self.finished_processes) - len(self.running)
        left = sum(max(per_cell - done, 0.0) for done in self.running.values()) + max(not_started, 0) * per_cell
        return left * self.process_s / self.process_count, bound


def format_eta(seconds: float | None, bound: bool) -> str:
    if seconds is None:
        return "ETA after the first process"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
    return f"ETA {'≥ ' if bound else ''}{text}"


class SuiteProgress:
    """A rich progress bar over the cells of one interleaved schedule, with a line per finished cell.

    Use it as a context manager around the run (the bar stays on screen, updated, until the run ends).
    """

    def __init__(
        self,
        plans: Sequence[CellPlan],
        min_processes: int,
        console: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = console or Console(stderr=True, highlight=False)
        self.clock = clock
        self._index = {id(plan): i for i, plan in enumerate(plans)}
        self.eta = EtaEstimator(sum(1 for p in plans if not p.skip_reason), min_processes)
        self._started = 0.0
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("cells"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            console=self.console,
        )
        self.task = self.bar.add_task("starting", total=len(plans), eta=format_eta(None, True))

    def __enter__(self) -> SuiteProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    @staticmethod
    def describe(plan: CellPlan) -> str:
        return f"{plan.label} · {plan.threads} thread{'s' if plan.threads != 1 else ''}"

    def _refresh(self, description: str | None = None) -> None:
        fields: dict[str, Any] = {"eta": format_eta(*self.eta.estimate())}
        if description is not None:
            fields["description"] = description
        self.bar.update(self.task, **fields)

    def process_started(self, cell: CellRun, index: int) -> None:
        self._started = self.clock()
        self._refresh(f"{self.describe(cell.plan)} · process {index + 1}")

    def process_finished(self, cell: CellRun, index: int, outcome: WorkerOutcome) -> None:
        self.eta.process_done(self._index[id(cell.plan)], self.clock() - self._started)
        if outcome.status != "ok":
            self.console.print(f"  [red]{self.describe(cell.plan)} · process {index + 1}: {outcome.error}[/]")
        self._refresh()

    def cell_finished(self, cell: CellRun) -> None:
        label = self.describe(cell.plan)
        if cell.status == "skipped":
            self.console.print(f"  [yellow]skipped[/] {label}: {cell.error}")
        else:
            self.eta.cell_done(self._index[id(cell.plan)])
            median = cell.summary.median_ms if cell.summary else None
            figure = f"median {median:.3f} ms, " if median is not None else ""
            colour = "green" if cell.status == "ok" else "red"
            detail = cell.stop_reason if cell.status == "ok" else cell.error
            self.console.print(
                f"  [{colour}]{cell.status}[/] {label}: {figure}{len(cell.processes)} processes, "
                f"{cell.elapsed_s:.1f} s ({detail})"
            )
        self.bar.advance(self.task)
        self._refresh()
