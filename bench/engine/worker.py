"""The measuring process of one cell (model × backend), once: pin, set the thread variables, import one runtime,
warm up, time, and send back a bench.document.ProcessRecord.

Run as `python -m bench.engine.worker` by bench.engine.launchers: bench.engine.serve reads the WorkerJob on stdin
and writes the record to the job's result file (stdout is left to whatever the runtimes print). Only the standard
library (and bench modules that use nothing else: bench.machine, the job and record types) is imported at module
level: affinity and thread variables must be in place before numpy (OpenBLAS) or any runtime starts its thread
pools.
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bench.backends import get_backend
from bench.backends.base import Backend, Session
from bench.document import ColdStartTimes, ProcessRecord
from bench.engine.job import WorkerJob
from bench.engine.policy import ProcessStopRule, WarmupDetector
from bench.engine.serve import cpu_usage_warnings, prepare_process, serve
from bench.machine import THIS_MACHINE, activity_warnings, machine_activity, read_cpu_times

# Runtime modules a worker may have loaded, by backend name: exactly its own one belongs there.
RUNTIME_MODULES = {"torch": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino"}


@dataclass(frozen=True)
class TimedLoop:
    """The timed inferences of one process and the clocks around them."""

    samples_ns: list[int]
    wall_time_s: float
    cpu_time_s: float
    activity: dict[str, float | None]  # other CPUs' busy share and this process's steal time (bench.machine)

    @property
    def cpu_wall_ratio(self) -> float:
        return self.cpu_time_s / self.wall_time_s if self.wall_time_s > 0 else 0.0


def peak_rss_bytes() -> int:
    # Linux reports ru_maxrss in KiB.
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def warm_up(run: Callable[[], Any], wall: Callable[[], int], detector: WarmupDetector) -> float:
    """The first inference (its seconds are returned), then inferences until `detector` says latency is steady."""
    t0 = time.perf_counter()
    run()
    first_inference_s = time.perf_counter() - t0
    while True:
        start = wall()
        run()
        end = wall()
        if detector.add(end - start):
            return first_inference_s


def time_inferences(session: Session, stop_rule: ProcessStopRule, cpus: list[int], *, collect: bool) -> TimedLoop:
    """Timed inferences until `stop_rule` is done, with the garbage collector off and the CPU times around them."""
    wall, cpu = session.clocks()
    run = session.run_once
    # A garbage collection inside the loop would land in some sample's timed region; nothing here needs one.
    # (In-process runs, collect=False, are the tests' fake-clock runs inside the test process: collecting its heap
    # costs 50 ms a process and protects no real timing.)
    if collect:
        gc.collect()
    gc.disable()
    samples: list[int] = []
    append = samples.append
    try:
        stat_start = read_cpu_times()
        cpu_start = cpu()
        loop_start = wall()
        while True:
            start = wall()
            run()
            end = wall()
            append(end - start)
            if stop_rule.done(samples, end - loop_start):
                break
        loop_end = wall()
        cpu_end = cpu()
        activity = machine_activity(stat_start, read_cpu_times(), cpus or sorted(os.sched_getaffinity(0)))
    finally:
        gc.enable()
    return TimedLoop(samples, (loop_end - loop_start) / 1e9, (cpu_end - cpu_start) / 1e9, activity)


def process_warnings(
    job: WorkerJob, backend: Backend, session: Session, loop: TimedLoop, detector: WarmupDetector, *, pinned: bool
) -> list[str]:
    """What the record should say about this process: placement, CPU use, the machine, the runtime, the warm-up."""
    cpus = list(job.cpus)
    warnings: list[str] = []
    affinity = sorted(os.sched_getaffinity(0))
    if pinned and cpus and affinity != sorted(cpus):
        warnings.append(f"the worker ran on CPUs {affinity}, not the {sorted(cpus)} asked for")
    warnings.extend(cpu_usage_warnings(loop.cpu_wall_ratio, job.threads, cpus))
    if pinned:  # in-process test runs share the machine with the test runner: nothing to say about it
        warnings.extend(activity_warnings(loop.activity, cpus))
    warnings.extend(session.warnings(job.precision))
    own = RUNTIME_MODULES.get(backend.name, backend.module)  # inductor's runtime is torch
    foreign = [m for m in RUNTIME_MODULES if m in sys.modules and m != own]
    if foreign and backend.name != "fake":
        warnings.append(
            f"the {backend.name} worker also loaded {', '.join(foreign)}: another runtime in the process can slow "
            "this one (torch slowed ONNX Runtime by 70% here); this is a bug in effbench, please report it"
        )
    if detector.cap_hit:
        warnings.append(
            f"no steady state in warm-up ({detector.reason}): latency was still falling; use --rigorous "
            "for a longer warm-up"
        )
    return warnings


def record_int8_share(session: Session, backend: str, effective: dict[str, Any]) -> list[str]:
    """The int8 share into `effective` (once per cell, after the timed loop: ONNX Runtime's needs a profiled session
    of its own) and its warnings; a share the runtime cannot give is a warning, never a failed measurement."""
    from bench.probes.int8 import int8_warnings

    try:
        share = session.int8_share()
    except Exception as exc:  # the runtime's introspection, not the measurement: say so and keep the samples
        why = next(iter(str(exc).splitlines()), "")
        return [f"{backend}: the int8 share could not be read ({type(exc).__name__}: {why})"]
    if share is None:
        return []
    effective["int8"] = share
    return int8_warnings(share, backend)


def run_job(job: WorkerJob, *, pin: bool = True) -> ProcessRecord:
    """Measure one process's worth of samples as the job says; return the process record."""
    cpus = list(job.cpus)
    if pin:
        prepare_process(cpus, job.threads)
    stop_rule = replace(job.stop, cap_hit=False, reason="")  # this process's own, fresh stop state
    backend = get_backend(job.backend)
    import_s = import_runtime(backend)
    session = load_session(backend, job)
    detector = WarmupDetector.for_policy(job.policy)
    with session.running():
        first_inference_s = warm_up(session.run_once, session.clocks()[0], detector)
        loop = time_inferences(session, stop_rule, cpus, collect=pin)
    return process_record(job, backend, session, Measured(loop, detector, stop_rule, import_s, first_inference_s), pin)


def import_runtime(backend: Backend) -> float:
    """Import the backend's runtime; its seconds (the cold start's first part)."""
    t0 = time.perf_counter()
    backend.import_runtime()
    return time.perf_counter() - t0


def load_session(backend: Backend, job: WorkerJob) -> Session:
    """The job's model loaded, its input bound: the same seeded bytes for every backend, allocated once, outside
    any timed region."""
    import numpy as np

    session = backend.load(job.target, job.threads, job.precision)
    target = job.target
    session.bind_input(np.random.default_rng(target.seed).standard_normal(target.input_shape, dtype=np.float32))
    return session


@dataclass(frozen=True)
class Measured:
    """What one arm of a process measured, with what its record says about how."""

    loop: TimedLoop
    detector: WarmupDetector
    stop_rule: ProcessStopRule
    import_s: float
    first_inference_s: float


def process_record(job: WorkerJob, backend: Backend, session: Session, measured: Measured, pin: bool) -> ProcessRecord:
    """The record of one cell's process (or of one arm of a paired process, bench.engine.paired)."""
    loop, detector, stop_rule = measured.loop, measured.detector, measured.stop_rule
    warnings = process_warnings(job, backend, session, loop, detector, pinned=pin)
    if stop_rule.cap_hit:
        warnings.append(f"process time cap hit: {stop_rule.reason}")
    effective = session.effective_settings()
    if job.precision == "int8" and job.process_index == 0:
        warnings.extend(record_int8_share(session, backend.name, effective))
    loaded = tuple(m for m in RUNTIME_MODULES if m in sys.modules)
    return ProcessRecord(
        process_index=job.process_index,
        pid=os.getpid(),
        affinity=tuple(sorted(os.sched_getaffinity(0))),
        os_threads=THIS_MACHINE.os_thread_count(),
        versions=backend.versions(),
        effective=effective,
        cold_start=ColdStartTimes(
            import_s=measured.import_s,
            load_s=session.cold_start.load_s,
            compile_s=session.cold_start.compile_s,
            first_inference_s=measured.first_inference_s,
        ),
        peak_rss_bytes=peak_rss_bytes(),
        warmup_ns=tuple(detector.samples_ns),
        warmup_reason=detector.reason,
        warmup_cap_hit=detector.cap_hit,
        samples_ns=tuple(loop.samples_ns),
        cpu_time_s=loop.cpu_time_s,
        wall_time_s=loop.wall_time_s,
        cpu_wall_ratio=loop.cpu_wall_ratio,
        machine_activity=loop.activity,
        stop_reason=stop_rule.reason,
        cap_hit=stop_rule.cap_hit,
        warnings=tuple(warnings),
        torch_imported="torch" in sys.modules,
        runtimes_loaded=loaded,
    )


def main() -> int:
    return serve(WorkerJob, run_job)


if __name__ == "__main__":
    raise SystemExit(main())
