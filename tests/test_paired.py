"""The paired process of an A/B (bench.engine.paired): both arms timed in alternating bursts in one worker."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable

import pytest

from bench.backends.base import Session
from bench.engine.job import PairedJob, WorkerJob
from bench.engine.launchers import kept_off
from bench.engine.paired import alternate_bursts
from bench.engine.policy import ProcessStopRule


class Clock:
    def __init__(self) -> None:
        self.ns = 0

    def now(self) -> int:
        return self.ns


class TimedSession(Session):
    """Each run takes `ms` on a clock shared with the other arm, and logs the arm's name."""

    def __init__(self, name: str, ms: float, clock: Clock, log: list[str]) -> None:
        self.name, self.ns, self.clock, self.log = name, int(ms * 1e6), clock, log

    def clocks(self) -> tuple[Callable[[], int], Callable[[], int]]:
        return self.clock.now, self.clock.now

    def run_once(self) -> None:
        self.clock.ns += self.ns
        self.log.append(self.name)


def rule(min_samples: int, min_s: float) -> ProcessStopRule:
    return ProcessStopRule(min_samples=min_samples, min_s=min_s, max_s=60.0)


def test_bursts_alternate_each_led_by_one_untimed_inference_until_both_arms_are_done() -> None:
    clock, log = Clock(), list[str]()
    fast, slow = TimedSession("a", 10.0, clock, log), TimedSession("b", 25.0, clock, log)
    loops = alternate_bursts((fast, slow), (rule(1, 0.2), rule(1, 0.2)), 0.05, [], collect=False)
    # a burst holds 0.05 s of timed inferences: 5 of 10 ms (plus the untimed one), 2 of 25 ms
    assert log[:6] == ["a"] * 6 and log[6:9] == ["b"] * 3 and log[9] == "a"
    assert all(ns == 10_000_000 for ns in loops[0].samples_ns) and all(ns == 25_000_000 for ns in loops[1].samples_ns)
    # both arms reach their 0.2 s of timed inferences in the same number of bursts: four each
    assert len(loops[0].samples_ns) == 4 * 5 and len(loops[1].samples_ns) == 4 * 2
    assert loops[0].wall_time_s == loops[1].wall_time_s == clock.ns / 1e9


def test_an_arm_longer_than_a_burst_still_times_one_inference_per_burst() -> None:
    clock, log = Clock(), list[str]()
    a, b = TimedSession("a", 80.0, clock, log), TimedSession("b", 80.0, clock, log)
    loops = alternate_bursts((a, b), (rule(3, 0.0), rule(3, 0.0)), 0.05, [], collect=False)
    assert log == ["a", "a", "b", "b"] * 3
    assert len(loops[0].samples_ns) == len(loops[1].samples_ns) == 3


def test_the_paired_job_travels_as_json_and_back() -> None:
    from bench.backends.base import LoadTarget
    from bench.engine.policy import PRESETS

    target = LoadTarget(model_name="efficientnet_b0", input_shape=(1, 3, 32, 32), options={"base_ms": 4.0})
    arm = WorkerJob(
        backend="fake", target=target, threads=1, cpus=(1,), precision="fp32", policy=PRESETS["ci"],
        stop=rule(5, 0.5), process_index=3, cell="x",
    )  # fmt: skip
    job = PairedJob(base=arm, new=arm, burst_s=0.05, new_first=True, cpus=(1,), threads=1)
    again = PairedJob.from_dict(json.loads(json.dumps(job.to_dict())))
    assert again == job and again.worker == "bench.engine.paired"


def test_the_parent_steps_off_the_measured_cpu_while_a_worker_runs_and_comes_back() -> None:
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        pytest.skip("needs two allowed CPUs")
    measured = max(allowed)
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
        with kept_off((measured,)):
            assert all(measured not in os.sched_getaffinity(tid) for tid in tids)
        assert all(os.sched_getaffinity(tid) == allowed for tid in tids)
        with kept_off(tuple(allowed)):  # nowhere else to go: nothing moves
            assert os.sched_getaffinity(0) == allowed
    finally:
        stop.set()
        helper.join()
