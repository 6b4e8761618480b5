"""Scheduling, round orders, stop rules, warnings, crashes, hangs and Ctrl-C, on the fake backend and its fake
clock; the launcher contract for cell jobs, in this process and in real pinned subprocesses."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from bench.backends.base import LoadTarget
from bench.document import ProcessRecord
from bench.engine.job import Job, WorkerJob
from bench.engine.launchers import InProcessLauncher, SubprocessLauncher, WorkerOutcome
from bench.engine.policy import CAP_PREFIX, TARGET_MET, MeasurePolicy
from bench.engine.progress import NullProgress
from bench.engine.runner import (
    CellPlan,
    CellRun,
    Interleaved,
    Round,
    Runner,
    StopCheck,
    build_job,
    group_process_warnings,
)
from bench.engine.serve import cpu_usage_warnings
from bench.machine import activity_warnings, machine_activity, read_cpu_times

POLICY = MeasurePolicy(
    name="test",
    min_processes=2,
    max_processes=4,
    warmup_window_s=0.05,
    warmup_min_s=0.05,
    warmup_max_s=1.0,
    process_min_s=0.5,
    process_max_s=5.0,
    target_ci_rel=0.01,
    cell_max_s=60.0,
)


def plan(model: str = "m", backend: str = "fake", *, skip: str | None = None, **options: Any) -> CellPlan:
    cpus = (max(os.sched_getaffinity(0)),)
    target = LoadTarget(model_name=model, input_shape=(1, 3, 4, 4), options=options)
    return CellPlan(model, backend, "fp32", 1, cpus, target, fingerprint="f" * 8, skip_reason=skip)


class FaultyProcessLauncher(InProcessLauncher):
    """The in-process twin, with the fake backend's process-level faults as a real launcher reports them: a
    `crash_at` worker exits with code 3 and its message on stderr, a `hang_at` one is killed at the timeout (in this
    process they would end or block the test)."""

    def launch(self, job: Job[Any], timeout_s: float) -> WorkerOutcome[Any]:
        options = job.target.options if isinstance(job, WorkerJob) else {}
        if options.get("fault_process") not in (None, options.get("process_index")):
            options = {}
        if options.get("crash_at"):
            self.jobs.append(job)
            return WorkerOutcome("failed", error="worker exited with code 3 and no result",
                                 stderr_tail=f"fake: fatal error at {options['crash_at']}, aborting")  # fmt: skip
        if options.get("hang_at"):
            self.jobs.append(job)
            return WorkerOutcome("timeout", error=f"worker did not finish within {timeout_s:.0f} s and was killed")
        return super().launch(job, timeout_s)


class FinishedCells(NullProgress):
    """Remembers the cells in the order they finished."""

    def __init__(self) -> None:
        self.cells: list[CellRun] = []

    def cell_finished(self, cell: CellRun) -> None:
        self.cells.append(cell)


def launched(launcher: InProcessLauncher) -> list[tuple[str, int]]:
    """(model, process index) of every cell job the launcher ran, in order."""
    jobs = [job for job in launcher.jobs if isinstance(job, WorkerJob)]
    return [(job.target.model_name, job.process_index) for job in jobs]


def run(plans: list[CellPlan], policy: MeasurePolicy = POLICY, **kwargs: Any) -> tuple[Any, InProcessLauncher]:
    launcher = FaultyProcessLauncher()
    outcome = Runner(policy, launcher, **kwargs).run(plans)
    return outcome, launcher


def test_rounds_are_interleaved_then_only_unfinished_cells_continue() -> None:
    quiet: dict[str, Any] = {"base_ms": 10.0, "noise": 0.001}
    # "noisy" processes disagree by ±8%: the median's CI stays wide, so it gets extra rounds up to the cap.
    noisy: dict[str, Any] = {"base_ms": 10.0, "noise": 0.001, "process_offsets": [0.0, 0.08, -0.08, 0.05]}
    outcome, launcher = run([plan("a", **quiet), plan("b", **noisy), plan("c", **quiet)])
    assert launched(launcher) == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1), ("c", 1), ("b", 2), ("b", 3)]
    a, b, c = outcome.cells
    assert a.status == c.status == b.status == "ok"
    assert a.stop_reason.startswith(TARGET_MET)
    assert b.stop_reason.startswith(CAP_PREFIX) and "4 processes reached" in b.stop_reason
    assert any("stopped before the precision target" in w for w in b.warnings)
    assert len(b.processes) == 4 and len(a.processes) == 2


def test_warmup_discards_slow_first_iterations() -> None:
    outcome, _ = run([plan(base_ms=10.0, warmup_extra=1.0, warmup_decay=5.0)])
    process = outcome.cells[0].processes[0]
    assert process.warmup_ns[0] > 1.5 * 10e6  # the first warm-up iterations are slow
    assert not process.warmup_cap_hit
    assert max(process.samples_ns) < 10e6 * 1.01  # steady by the time the timed loop starts
    assert process.cold_start is not None and process.cold_start.first_inference_s > 0


def test_samples_reach_the_per_process_minimum_and_duration() -> None:
    outcome, _ = run([plan(base_ms=50.0)])
    cell = outcome.cells[0]
    for process in cell.processes:
        assert len(process.samples_ns) >= 32  # 64 over 2 planned processes
        assert sum(process.samples_ns) >= POLICY.process_min_s * 1e9
        assert not process.cap_hit
    assert cell.summary is not None and cell.summary.n == sum(len(p.samples_ns) for p in cell.processes)
    assert cell.summary.median_ms == pytest.approx(50.0, rel=1e-3)


def test_slow_model_hits_the_process_cap_and_says_so() -> None:
    # A B7-like model: 1 s per inference. Each process stops at its 5 s cap, far short of 32 samples.
    outcome, launcher = run([plan(base_ms=1000.0)], replace(POLICY, cell_max_s=12.0))
    cell = outcome.cells[0]
    assert all(p.cap_hit for p in cell.processes)
    assert all(len(p.warmup_ns) <= 6 for p in cell.processes)  # warm-up adapts: 4-6 s, not a minute
    assert all(len(p.samples_ns) == 5 for p in cell.processes)
    assert cell.stop_reason.startswith(CAP_PREFIX) and "cell time cap 12 s" in cell.stop_reason
    assert "of 64 samples" in cell.stop_reason
    assert any("process time cap hit" in w for w in cell.warnings)
    assert len(launcher.jobs) == 3  # 2 rounds + 1 extra, then the cell's time cap


def test_skipped_cell_is_never_launched() -> None:
    outcome, launcher = run([plan("a", skip="bf16 is not supported"), plan("b")])
    assert outcome.cells[0].status == "skipped" and outcome.cells[0].error == "bf16 is not supported"
    assert launcher.jobs and {model for model, _ in launched(launcher)} == {"b"}


def test_crash_fails_only_its_cell() -> None:
    finished = FinishedCells()
    outcome, _ = run([plan("a", crash_at="run"), plan("b")], progress=finished)
    a, b = outcome.cells
    assert a.status == "failed" and "exited with code 3" in a.error and "fake: fatal error at run" in a.error
    assert a.failures[0].stderr_tail == "fake: fatal error at run, aborting" and a.failures[0].status == "failed"
    assert b.status == "ok" and len(b.processes) == 2
    assert [c.plan.model for c in finished.cells] == ["a", "b"]


def test_failure_in_a_later_process_keeps_the_earlier_ones() -> None:
    outcome, _ = run([plan(fail_at="run", fault_process=1)])
    cell = outcome.cells[0]
    assert cell.status == "failed" and "process 2 failed: RuntimeError: fake failure at run" in cell.error
    assert len(cell.processes) == 1 and cell.summary is not None


def test_hang_is_reported_as_timeout() -> None:
    outcome, _ = run([plan("a", hang_at="load"), plan("b")])
    assert outcome.cells[0].status == "failed" and "timed out" in outcome.cells[0].error
    assert outcome.cells[1].status == "ok"


def test_interrupt_keeps_finished_cells() -> None:
    finished = FinishedCells()
    # Cell a finishes after the first round; cell b is interrupted in its third process.
    noisy: dict[str, Any] = {"process_offsets": [0.0, 0.1, -0.1], "interrupt_at": "run", "fault_process": 2}
    outcome, _ = run([plan("a"), plan("b", **noisy)], replace(POLICY, min_processes=2), progress=finished)
    assert outcome.interrupted
    a, b = outcome.cells
    assert a.status == "ok" and [c.plan.model for c in finished.cells] == ["a"]
    assert b.status == "interrupted" and len(b.processes) == 2 and b.summary is not None


def test_cpu_usage_warnings() -> None:
    assert cpu_usage_warnings(1.02, 1, [1]) == []
    assert "used 2.00 CPUs" in cpu_usage_warnings(2.0, 1, [1])[0]
    assert "got only 60%" in cpu_usage_warnings(0.6, 1, [1])[0]
    assert "only 1.20 of 4 CPUs" in cpu_usage_warnings(1.2, 4, [0, 1, 2, 3])[0]
    assert cpu_usage_warnings(3.9, 4, [0, 1, 2, 3]) == []


def test_worker_warnings_reach_the_cell_once() -> None:
    outcome, _ = run([plan(cpu_ratio=2.0, runtime_precision="bf16")])
    warnings = outcome.cells[0].warnings
    assert any(w.startswith("all processes: the runtime used 2.00 CPUs") for w in warnings)
    assert any(w.startswith("all processes: fake: fp32 was asked but the runtime ran bf16") for w in warnings)


def test_cell_document_entry() -> None:
    outcome, _ = run([plan()])
    cell = outcome.cells[0]
    record = cell.record()
    assert (record.model, record.backend, record.precision, record.threads) == ("m", "fake", "fp32", 1)
    assert record.cpus == cell.plan.cpus and record.status == "ok" and record.fingerprint == "f" * 8
    assert record.processes == tuple(cell.processes) and record.summary == cell.summary
    process = record.processes[0]
    assert process.ok and process.process_index == 0 and process.pid == os.getpid()  # run in this process
    assert process.versions == {"fake": "1.0"} and process.effective["precision"] == "fp32"
    assert process.cold_start is not None and process.cold_start.load_s == pytest.approx(0.01)
    assert process.stop_reason.startswith(f"{len(process.samples_ns)} samples in ")
    assert process.cpu_wall_ratio == pytest.approx(1.0) and process.peak_rss_bytes > 0
    # The JSON entry has every key of the format, in the format's order.
    assert list(record.to_dict()) == [
        "model", "model_spec", "fingerprint", "artifact", "backend", "precision", "threads", "cpus", "status",
        "error", "stop_reason", "elapsed_s", "processes", "failed_processes", "summary", "warnings",
    ]  # fmt: skip
    assert list(process.to_dict()) == [
        "ok", "process_index", "pid", "affinity", "os_threads", "versions", "effective", "cold_start",
        "peak_rss_bytes", "warmup_ns", "warmup_reason", "warmup_cap_hit", "samples_ns", "cpu_time_s",
        "wall_time_s", "cpu_wall_ratio", "machine_activity", "stop_reason", "cap_hit", "warnings",
        "torch_imported", "runtimes_loaded",
    ]  # fmt: skip


# Real subprocesses running the fake backend: pinning, the result file, crashes and timeouts for real.


def test_subprocess_worker_is_pinned_and_robust_to_stdout_chatter() -> None:
    cell = plan(stdout_noise=True)
    job = build_job(cell, POLICY, Runner(POLICY, SubprocessLauncher()).stop_rule, 0)
    result = SubprocessLauncher().launch(job, timeout_s=60)
    assert result.status == "ok", result.error
    assert result.record is not None
    assert result.record.affinity == cell.cpus
    assert result.record.torch_imported is False
    assert result.record.os_threads >= 1


def test_subprocess_crash_reports_stderr_tail() -> None:
    job = build_job(plan(crash_at="load"), POLICY, Runner(POLICY, SubprocessLauncher()).stop_rule, 0)
    result = SubprocessLauncher().launch(job, timeout_s=60)
    assert result.status == "failed"
    assert result.error == "worker exited with code 3 and no result"
    assert "fake: fatal error at load" in result.stderr_tail


def test_subprocess_error_is_reported_from_the_result_file() -> None:
    job = build_job(plan(fail_at="load"), POLICY, Runner(POLICY, SubprocessLauncher()).stop_rule, 0)
    result = SubprocessLauncher().launch(job, timeout_s=60)
    assert result.status == "failed" and result.error == "RuntimeError: fake failure at load"


def test_subprocess_hang_is_killed() -> None:
    outcome = Runner(POLICY, SubprocessLauncher(), worker_timeout_s=3).run([plan(hang_at="run")])
    cell = outcome.cells[0]
    assert cell.status == "failed"
    assert cell.error is not None and "timed out" in cell.error and "within 3 s" in cell.error


def test_process_warnings_are_grouped_by_kind() -> None:
    processes = [
        ProcessRecord(process_index=0, samples_ns=(1,), warnings=("got only 51% of CPU [1]", "precision differs")),
        ProcessRecord(process_index=1, samples_ns=(1,), warnings=("got only 69% of CPU [1]",)),
        ProcessRecord(process_index=2, samples_ns=(1,), warnings=("precision differs",)),
    ]
    assert group_process_warnings(processes) == [
        "processes 1, 2: got only 51% of CPU [1] (figures of the first; each process's are in the result file)",
        "processes 1, 3: precision differs",
    ]
    assert group_process_warnings(processes[:1]) == [
        "process 1: got only 51% of CPU [1]",
        "process 1: precision differs",
    ]


def test_machine_activity_from_proc_stat(tmp_path: Any) -> None:
    before = tmp_path / "stat0"
    after = tmp_path / "stat1"
    before.write_text("cpu  1 2 3 4\ncpu0 100 0 0 100 0 0 0 0 0 0\ncpu1 100 0 0 100 0 0 0 0 0 0\nintr 5\n")
    after.write_text("cpu  1 2 3 4\ncpu0 160 0 0 140 0 0 0 0 0 0\ncpu1 190 0 0 100 0 0 0 10 0 0\nintr 9\n")
    a, b = read_cpu_times(str(before)), read_cpu_times(str(after))
    assert a[1] == (100, 0, 200) and b[1] == (200, 10, 300)
    activity = machine_activity(a, b, [1])
    assert activity == {"other_cpus_busy": pytest.approx(0.6), "own_cpus_steal": pytest.approx(0.1)}
    warnings = activity_warnings(activity, [1])
    assert "other CPUs were 60% busy" in warnings[0] and "took 10% of CPU [1] (steal time)" in warnings[1]
    assert activity_warnings({"other_cpus_busy": 0.05, "own_cpus_steal": 0.0}, [1]) == []
    assert read_cpu_times(str(tmp_path / "missing")) == {}


# ------------------------------------------------------------------------------ the round-order hook


def test_interleaved_order_launches_every_unfinished_cell_and_stops_only_after_the_minimum() -> None:
    a, b, c = (CellRun(plan(name)) for name in "abc")
    c.status = "failed"
    asked: list[tuple[str, str]] = []

    def check(cell: CellRun, policy: MeasurePolicy) -> str | None:
        asked.append((cell.plan.model, policy.name))
        return "target met: enough" if cell is a else None

    order = Interleaved(POLICY)  # min_processes 2
    first = order.next_round(0, [a, b, c], check)
    assert first.stops == () and first.launches == (a, b) and asked == []
    third = order.next_round(2, [a, b, c], check)
    assert third.stops == ((a, "target met: enough"),) and third.launches == (b,)
    assert asked == [("a", "test"), ("b", "test")]  # finished cells are not asked about


class Sequential:
    """A round order the runner does not know: three processes of one cell, then the next cell's."""

    def next_round(self, index: int, cells: Sequence[CellRun], check: StopCheck) -> Round:
        pending = [cell for cell in cells if not cell.finished]
        if pending and len(pending[0].processes) >= 3:
            return Round(stops=((pending[0], "three processes"),), launches=tuple(pending[1:2]))
        return Round(launches=tuple(pending[:1]))


def test_the_runner_follows_any_round_order_and_checkpoints_each_round_and_cell() -> None:
    launcher = FaultyProcessLauncher()
    seen: list[list[str]] = []
    runner = Runner(POLICY, launcher, checkpoint=lambda cells: seen.append([c.status for c in cells]))
    outcome = runner.run([plan("a"), plan("b")], Sequential())
    assert launched(launcher) == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("b", 2)]
    assert [(c.status, c.stop_reason) for c in outcome.cells] == [("ok", "three processes")] * 2
    # a checkpoint after every round, and after each cell's end (a's comes before b's first round)
    assert seen == [["pending"] * 2] * 3 + [["ok", "pending"]] * 4 + [["ok", "ok"]]


class Forgetful:
    """A round order that ends the run without stopping its cell: a bug the runner names."""

    def next_round(self, index: int, cells: Sequence[CellRun], check: StopCheck) -> Round:
        return Round(launches=tuple(cells) if index == 0 else ())


def test_a_round_order_that_leaves_cells_running_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match=r"Forgetful ended the run with cells still running: a · fake · fp32"):
        Runner(POLICY, FaultyProcessLauncher()).run([plan("a")], Forgetful())


def test_a_stopping_cell_is_bootstrapped_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.engine import stats

    calls: list[int] = []
    real = stats.summarize

    def counting(samples: Any, **kwargs: Any) -> Any:
        calls.append(len(samples))
        return real(samples, **kwargs)

    monkeypatch.setattr(stats, "summarize", counting)
    outcome, _ = run([plan(base_ms=10.0, noise=0.001)])
    assert outcome.cells[0].stop_reason.startswith(TARGET_MET)
    assert calls == [2]  # the stop check after round 2 and the cell's summary share one bootstrap


# ------------------------------------------------------------------------------ the launcher contract


def test_in_process_twin_sends_job_and_record_through_json_and_reports_the_fake_time() -> None:
    launcher = InProcessLauncher()
    job = build_job(plan(base_ms=10.0), POLICY, Runner(POLICY, launcher).stop_rule, 1)
    outcome = launcher.launch(job, timeout_s=60)
    assert outcome.status == "ok" and isinstance(outcome.record, ProcessRecord)
    assert outcome.record.process_index == 1 and launcher.jobs == [job]
    assert outcome.duration_s == pytest.approx(sum(outcome.record.samples_ns) / 1e9)
    failing = build_job(plan(fail_at="load"), POLICY, Runner(POLICY, launcher).stop_rule, 0)
    failed = launcher.launch(failing, timeout_s=60)
    assert failed.status == "failed" and failed.record is None
    assert failed.error == "RuntimeError: fake failure at load"
    assert failed.stderr_tail.endswith("RuntimeError: fake failure at load")  # the traceback's tail


def test_an_outcome_names_its_reason_with_the_last_stderr_line() -> None:
    crashed: WorkerOutcome[Any] = WorkerOutcome(
        "failed", error="worker exited with code 3 and no result", stderr_tail="a\nfatal: x"
    )
    assert crashed.reason() == "worker exited with code 3 and no result: fatal: x"
    said: WorkerOutcome[Any] = WorkerOutcome(
        "failed", error="NoSuchFile: x", stderr_tail="Traceback\nort.NoSuchFile: x", reported=True
    )
    assert said.reason() == "NoSuchFile: x"  # the worker said why: its stderr is the traceback
    hung: WorkerOutcome[Any] = WorkerOutcome(
        "timeout", error="worker did not finish within 3 s and was killed", stderr_tail="busy"
    )
    assert hung.reason() == "worker did not finish within 3 s and was killed"
