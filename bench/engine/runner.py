"""The scheduler: what runs when. Worker processes across cells (model × backend) in rounds whose order a
`RoundOrder` decides (`Interleaved` here, bench.engine.ab's `ABBA`); timeouts, crashes and Ctrl-C; each cell's
summary and warnings. How a process runs is bench.engine.launchers' business (hyperfine splits its scheduler from its
executor the same way).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from bench.backends.base import LoadTarget
from bench.document import Artifact, CellRecord, FailedProcess, ProcessRecord, Summary
from bench.engine.job import PairedJob, WorkerJob
from bench.engine.launchers import Launcher, WorkerOutcome
from bench.engine.policy import (
    CAP_PREFIX,
    CellTally,
    MeasurePolicy,
    ProcessStopRule,
    cell_stop_reason,
    min_total_samples,
)
from bench.engine.progress import NullProgress, Progress


@dataclass(frozen=True)
class CellPlan:
    """One cell to measure: a model on a backend, with the settings every one of its processes gets."""

    model: str
    backend: str
    precision: str
    threads: int
    cpus: tuple[int, ...]
    target: LoadTarget
    fingerprint: str | None = None
    artifact: Artifact | None = None  # the file the backend loads
    skip_reason: str | None = None  # set: the cell is reported as skipped and never launched
    arm: str | None = None  # "base" | "new" in an `effbench ab` run (bench.engine.ab)
    quantization: dict[str, Any] | None = None  # an int8 model's recipe and agreement (bench.export.quantize)

    @property
    def label(self) -> str:
        label = f"{self.model} · {self.backend} · {self.precision}"
        return f"{self.arm}: {label}" if self.arm else label


@dataclass(eq=False)  # a cell's state is one object: compared, and kept in sets, by identity
class CellRun:
    """A cell's state during and after the run; `record()` is its entry in the result document."""

    plan: CellPlan
    processes: list[ProcessRecord] = field(default_factory=list)
    status: str = "pending"  # pending | ok | failed | interrupted | skipped
    error: str | None = None
    stop_reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    summary: Summary | None = None
    failures: list[FailedProcess] = field(default_factory=list)
    # processes measured again (an adaptive A/B's busy block): out of the statistics, kept in the document
    superseded: list[ProcessRecord] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status != "pending"

    @property
    def samples(self) -> list[list[int]]:
        return [list(p.samples_ns) for p in self.processes]

    def latency_hint_s(self) -> float:
        samples = [s for p in self.processes for s in p.samples_ns]
        return (sorted(samples)[len(samples) // 2] / 1e9) if samples else 0.0

    def record(self) -> CellRecord:
        plan = self.plan
        return CellRecord(
            model=plan.model,
            model_spec=plan.target.model_spec,
            fingerprint=plan.fingerprint,
            artifact=plan.artifact,
            backend=plan.backend,
            precision=plan.precision,
            threads=plan.threads,
            cpus=tuple(plan.cpus),
            status=self.status,
            error=self.error,
            stop_reason=self.stop_reason,
            elapsed_s=self.elapsed_s,
            processes=tuple(self.processes),
            failed_processes=tuple(self.failures),
            summary=self.summary,
            warnings=tuple(self.warnings),
            arm=plan.arm,
            superseded_processes=tuple(self.superseded),
            quantization=plan.quantization,
        )


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def group_process_warnings(processes: Sequence[ProcessRecord]) -> list[str]:
    """Process warnings said once per kind, naming the processes. The same text with other figures ("got only
    51% of its CPU", "got only 69% …") is one kind; the line shows the first process's figures."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for process in processes:
        index = process.process_index + 1
        for warning in process.warnings:
            groups.setdefault(_NUMBER.sub("#", warning), []).append((index, warning))
    lines = []
    for items in groups.values():
        who = [index for index, _ in items]
        if len(who) == len(processes) > 1:
            prefix = "all processes"
        elif len(who) == 1:
            prefix = f"process {who[0]}"
        else:
            prefix = "processes " + ", ".join(map(str, who))
        line = f"{prefix}: {items[0][1]}"
        if len({text for _, text in items}) > 1:
            line += " (figures of the first; each process's are in the result file)"
        lines.append(line)
    return lines


@dataclass
class RunOutcome:
    cells: list[CellRun]
    interrupted: bool = False


def build_job(plan: CellPlan, policy: MeasurePolicy, stop_rule: ProcessStopRule, index: int) -> WorkerJob:
    # The fake backend reads its process index from its options (process_offsets, fault_process).
    target = replace(plan.target, options={**plan.target.options, "process_index": index})
    return WorkerJob(
        backend=plan.backend,
        target=target,
        threads=plan.threads,
        cpus=tuple(plan.cpus),
        precision=plan.precision,
        policy=policy,
        stop=replace(stop_rule),
        process_index=index,
        cell=plan.label,
    )


# ------------------------------------------------------------------------------------------- round orders

# The cell stopping rule as the scheduler applies it: the reason `cell` may stop under `policy`, None while it
# needs more; the cell's tally (and its bootstrap) is computed once per round, whoever asks.
StopCheck = Callable[[CellRun, MeasurePolicy], str | None]


@dataclass(frozen=True)
class Round:
    """The scheduler's next step: the cells that stop now, each with its reason, then one process of each cell
    in `launches`, in that order, then one process for each (base, new) of `pairs` that measures both in bursts
    of `burst_s` (bench.engine.paired). Nothing to launch ends the run."""

    stops: tuple[tuple[CellRun, str], ...] = ()
    launches: tuple[CellRun, ...] = ()
    pairs: tuple[tuple[CellRun, CellRun], ...] = ()
    burst_s: float = 0.0


class RoundOrder(Protocol):
    def next_round(self, index: int, cells: Sequence[CellRun], check: StopCheck) -> Round:
        """Round `index` (0-based) over `cells` (all of them, in plan order; finished ones included). The round
        that launches nothing ends the run: every cell still running must stop in it."""
        ...


@dataclass(frozen=True)
class Interleaved:
    """Every unfinished cell once per round, in plan order: process 1 of each, then process 2 of each, … up to the
    policy's minimum; from then on a cell stops as soon as the stopping rule gives a reason, the others go on.

    Interleaving spreads slow drifts of the machine (other users, thermal state) over all cells instead of
    charging them to whichever cell ran at that moment.
    """

    policy: MeasurePolicy

    def next_round(self, index: int, cells: Sequence[CellRun], check: StopCheck) -> Round:
        pending = [cell for cell in cells if not cell.finished]
        stops: list[tuple[CellRun, str]] = []
        if index >= self.policy.min_processes:
            stops = [(cell, reason) for cell in pending if (reason := check(cell, self.policy)) is not None]
        stopped = {cell for cell, _ in stops}
        return Round(tuple(stops), tuple(cell for cell in pending if cell not in stopped))


# ------------------------------------------------------------------------------------------- the scheduler


class Runner:
    """Measures cells round by round as a `RoundOrder` says (Interleaved unless told), each process started by
    the cell's launcher (its arm's, in an A/B run). A worker that crashes or hangs ends its cell; the others go on.
    `checkpoint` gets every cell after each finished cell and each round: the moments to save a document."""

    def __init__(
        self,
        policy: MeasurePolicy,
        launcher: Launcher,
        *,
        arms: Mapping[str, Launcher] | None = None,
        progress: Progress | None = None,
        checkpoint: Callable[[Sequence[CellRun]], None] | None = None,
        worker_timeout_s: float | None = None,
        total_min_samples: int | None = None,
    ) -> None:
        from bench.engine import stats  # numpy and scipy: only once something is measured

        self.policy = policy
        self.launcher = launcher
        self.arms = dict(arms or {})
        self.progress: Progress = progress or NullProgress()
        self.checkpoint = checkpoint
        self._cells: Sequence[CellRun] = ()
        self.worker_timeout_s = worker_timeout_s
        self.total_min_samples = min_total_samples() if total_min_samples is None else total_min_samples
        self.stop_rule = ProcessStopRule.for_policy(policy, policy.min_processes, self.total_min_samples)
        self._stats = stats
        self._summaries: dict[CellRun, tuple[int, Summary]] = {}

    def run(self, plans: Sequence[CellPlan], order: RoundOrder | None = None) -> RunOutcome:
        order = order or Interleaved(self.policy)
        cells = [CellRun(plan) for plan in plans]
        self._cells = cells
        outcome = RunOutcome(cells)
        for cell in cells:
            if cell.plan.skip_reason:
                cell.status = "skipped"
                cell.error = cell.plan.skip_reason
                self._finish(cell)
        try:
            index = 0
            while True:
                step = order.next_round(index, cells, self.stop_reason)
                for cell, reason in step.stops:
                    self._stop(cell, reason)
                if not step.launches and not step.pairs:
                    break
                for cell in step.launches:
                    if not cell.finished:
                        self._run_process(cell)
                for base, new in step.pairs:
                    if not (base.finished or new.finished):
                        self._run_pair(base, new, step.burst_s, index)
                self._checkpoint()
                index += 1
        except KeyboardInterrupt:
            self._interrupt(outcome)
            return outcome
        left = [cell.plan.label for cell in cells if not cell.finished]
        if left:
            raise RuntimeError(f"{type(order).__name__} ended the run with cells still running: {', '.join(left)}")
        return outcome

    def _interrupt(self, outcome: RunOutcome) -> None:
        """Ctrl-C: the unfinished cells are kept as interrupted (their finished processes with them)."""
        outcome.interrupted = True
        for cell in outcome.cells:
            if not cell.finished:
                cell.status = "interrupted"
                cell.error = "interrupted by the user (Ctrl-C)"
                self._finish(cell, notify=False)

    def stop_reason(self, cell: CellRun, policy: MeasurePolicy) -> str | None:
        """The stopping rule (bench.engine.policy.cell_stop_reason) on the cell's tally as it stands."""
        samples = sum(len(p.samples_ns) for p in cell.processes)
        half = self._summary(cell).median_ci_rel_halfwidth if samples else None
        width = math.inf if half is None else float(half)
        tally = CellTally(len(cell.processes), samples, cell.elapsed_s, width)
        return cell_stop_reason(policy, tally, self.total_min_samples)

    def _summary(self, cell: CellRun) -> Summary:
        """The cell's summary, bootstrapped once per process added: the stop check and the finished cell share it."""
        known = self._summaries.get(cell)
        added = len(cell.processes) + len(cell.superseded)  # grows with every process, superseded or not
        if known is None or known[0] != added:
            known = (added, self._stats.summarize(cell.samples, confidence=self.policy.confidence))
            self._summaries[cell] = known
        return known[1]

    def _timeout(self, cell: CellRun) -> float:
        if self.worker_timeout_s is not None:
            return self.worker_timeout_s
        return self.policy.worker_timeout_s(cell.latency_hint_s())

    def _run_process(self, cell: CellRun) -> None:
        index = len(cell.processes) + len(cell.failures) + len(cell.superseded)
        job = build_job(cell.plan, self.policy, self.stop_rule, index)
        launcher = self.arms.get(cell.plan.arm or "", self.launcher)
        self.progress.process_started(cell, index)
        try:
            result = launcher.launch(job, self._timeout(cell))
        except KeyboardInterrupt:
            self.progress.process_finished(cell, index, WorkerOutcome("failed", error="interrupted"))
            raise
        cell.elapsed_s += result.duration_s
        self.progress.process_finished(cell, index, result)
        if result.status == "ok" and result.record is not None:
            cell.processes.append(result.record)
            return
        self._fail(cell, index, result)

    def _run_pair(self, base: CellRun, new: CellRun, burst_s: float, round_index: int) -> None:
        """One process measuring both cells of an A/B pair (bench.engine.paired), NEW's burst first on odd rounds;
        its failure ends both cells."""
        index = len(base.processes) + len(base.failures) + len(base.superseded)
        job = PairedJob(
            base=build_job(base.plan, self.policy, self.stop_rule, index),
            new=build_job(new.plan, self.policy, self.stop_rule, index),
            burst_s=burst_s,
            new_first=round_index % 2 == 1,
            cpus=tuple(base.plan.cpus),
            threads=base.plan.threads,
        )
        for cell in (base, new):
            self.progress.process_started(cell, index)
        try:
            result = self.arms.get("base", self.launcher).launch(job, self._timeout(base) + self._timeout(new))
        except KeyboardInterrupt:
            for cell in (base, new):
                self.progress.process_finished(cell, index, WorkerOutcome("failed", error="interrupted"))
            raise
        paired = result.record
        arms = ((base, paired.base), (new, paired.new)) if paired is not None else ((base, None), (new, None))
        for cell, record in arms:
            cell.elapsed_s += result.duration_s / 2
            outcome: WorkerOutcome[ProcessRecord] = WorkerOutcome(
                result.status, record, result.error, result.stderr_tail, result.duration_s / 2, result.reported
            )
            self.progress.process_finished(cell, index, outcome)
            if result.status == "ok" and record is not None:
                cell.processes.append(record)
            else:
                self._fail(cell, index, outcome)

    def _fail(self, cell: CellRun, index: int, result: WorkerOutcome[ProcessRecord]) -> None:
        # A worker that crashed or hung would most likely do it again: the cell stops here, the others go on.
        cell.failures.append(
            FailedProcess(process_index=index, status=result.status, error=result.error, stderr_tail=result.stderr_tail)
        )
        cell.status = "failed"
        what = "timed out" if result.status == "timeout" else "failed"
        cell.error = f"process {index + 1} {what}: {result.reason()}"
        self._finish(cell)

    def _stop(self, cell: CellRun, reason: str) -> None:
        cell.status = "ok"
        cell.stop_reason = reason
        if reason.startswith(CAP_PREFIX):
            cell.warnings.append(f"stopped before the precision target: {reason}")
        self._finish(cell)

    def _finish(self, cell: CellRun, notify: bool = True) -> None:
        if cell.processes:
            cell.summary = self._summary(cell)
            for warning in self._stats.sample_warnings(cell.samples):
                if warning not in cell.warnings:
                    cell.warnings.append(warning)
            cell.warnings.extend(group_process_warnings(cell.processes))
        if notify:
            self.progress.cell_finished(cell)
            self._checkpoint()

    def _checkpoint(self) -> None:
        if self.checkpoint is not None:
            self.checkpoint(self._cells)
