"""The scheduler: what runs when. Worker processes across cells (model × backend) in interleaved rounds; timeouts,
crashes and Ctrl-C; each cell's summary and warnings. How a process runs is bench.engine.launchers' business
(hyperfine splits its scheduler from its executor the same way).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bench.backends.base import LoadTarget
from bench.document import Artifact, CellRecord, FailedProcess, ProcessRecord, Summary
from bench.engine.job import WorkerJob
from bench.engine.launchers import Launcher, WorkerOutcome
from bench.engine.policy import CAP_PREFIX, MeasurePolicy, ProcessStopRule, cell_stop_reason
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

    @property
    def label(self) -> str:
        label = f"{self.model} · {self.backend} · {self.precision}"
        return f"{self.arm}: {label}" if self.arm else label


@dataclass
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


class Runner:
    """Measures cells in interleaved rounds: every cell's process 1, then every cell's process 2, … up to the
    policy's minimum; then further rounds only for the cells `cell_stop_reason` says need more.

    Interleaving spreads slow drifts of the machine (other users, thermal state) over all cells instead of
    charging them to whichever cell ran at that moment.
    """

    def __init__(
        self,
        policy: MeasurePolicy,
        launcher: Launcher,
        *,
        progress: Progress | None = None,
        on_cell_finished: Callable[[CellRun], None] | None = None,
        worker_timeout_s: float | None = None,
        total_min_samples: int | None = None,
        summarize: Callable[[list[list[int]]], Summary] | None = None,
        sample_warnings: Callable[[list[list[int]]], list[str]] | None = None,
    ) -> None:
        from bench.engine.policy import min_total_samples

        self.policy = policy
        self.launcher = launcher
        self.progress: Progress = progress or NullProgress()
        self.on_cell_finished = on_cell_finished
        self.worker_timeout_s = worker_timeout_s
        self.total_min_samples = min_total_samples() if total_min_samples is None else total_min_samples
        self.stop_rule = ProcessStopRule.for_policy(policy, policy.min_processes, self.total_min_samples)
        if summarize is None or sample_warnings is None:
            from bench.engine import stats

            summarize = summarize or (lambda s: stats.summarize(s, confidence=policy.confidence))
            sample_warnings = sample_warnings or stats.sample_warnings
        self._summarize = summarize
        self._sample_warnings = sample_warnings

    def run(self, plans: Sequence[CellPlan]) -> RunOutcome:
        cells = [CellRun(plan) for plan in plans]
        outcome = RunOutcome(cells)
        for cell in cells:
            if cell.plan.skip_reason:
                cell.status = "skipped"
                cell.error = cell.plan.skip_reason
                self._finish(cell)
        try:
            for _ in range(self.policy.min_processes):
                for cell in cells:
                    if not cell.finished:
                        self._run_process(cell)
            while True:
                pending = []
                for cell in cells:
                    if cell.finished:
                        continue
                    reason = cell_stop_reason(
                        self.policy,
                        cell.samples,
                        cell.elapsed_s,
                        total_min_samples=self.total_min_samples,
                        ci_half_width_rel=self._ci_half_width,
                    )
                    if reason is None:
                        pending.append(cell)
                    else:
                        cell.status = "ok"
                        cell.stop_reason = reason
                        if reason.startswith(CAP_PREFIX):
                            cell.warnings.append(f"stopped before the precision target: {reason}")
                        self._finish(cell)
                if not pending:
                    break
                for cell in pending:
                    self._run_process(cell)
        except KeyboardInterrupt:
            self.interrupt(outcome)
        return outcome

    def interrupt(self, outcome: RunOutcome) -> None:
        """Ctrl-C: the unfinished cells are kept as interrupted (their finished processes with them)."""
        outcome.interrupted = True
        for cell in outcome.cells:
            if not cell.finished:
                cell.status = "interrupted"
                cell.error = "interrupted by the user (Ctrl-C)"
                self._finish(cell, notify=False)

    def _ci_half_width(self, samples: Sequence[Sequence[int]]) -> float:
        half = self._summarize([list(s) for s in samples]).median_ci_rel_halfwidth
        return float("inf") if half is None else float(half)

    def _timeout(self, cell: CellRun) -> float:
        if self.worker_timeout_s is not None:
            return self.worker_timeout_s
        return self.policy.worker_timeout_s(cell.latency_hint_s())

    def launcher_for(self, cell: CellRun) -> Launcher:
        """The launcher that starts `cell`'s workers (bench.engine.ab gives each arm its own Python)."""
        return self.launcher

    def _run_process(self, cell: CellRun) -> None:
        index = len(cell.processes) + len(cell.failures)
        job = build_job(cell.plan, self.policy, self.stop_rule, index)
        self.progress.process_started(cell, index)
        try:
            result = self.launcher_for(cell).launch(job, self._timeout(cell))
        except KeyboardInterrupt:
            self.progress.process_finished(cell, index, WorkerOutcome("failed", error="interrupted"))
            raise
        cell.elapsed_s += result.duration_s
        self.progress.process_finished(cell, index, result)
        if result.status == "ok" and result.record is not None:
            cell.processes.append(result.record)
            return
        # A worker that crashed or hung would most likely do it again: the cell stops here, the others go on.
        cell.failures.append(
            FailedProcess(process_index=index, status=result.status, error=result.error, stderr_tail=result.stderr_tail)
        )
        cell.status = "failed"
        what = "timed out" if result.status == "timeout" else "failed"
        cell.error = f"process {index + 1} {what}: {result.reason()}"
        self._finish(cell)

    def _finish(self, cell: CellRun, notify: bool = True) -> None:
        if cell.processes:
            cell.summary = self._summarize(cell.samples)
            for warning in self._sample_warnings(cell.samples):
                if warning not in cell.warnings:
                    cell.warnings.append(warning)
            cell.warnings.extend(group_process_warnings(cell.processes))
        if notify:
            self.progress.cell_finished(cell)
            if self.on_cell_finished is not None:
                self.on_cell_finished(cell)
