"""The measuring process of an A/B pair measured within one process: pin, import the runtime once, load both arms'
models, warm each up, then time them in alternating bursts and send back one bench.document.ProcessRecord per arm.

Why: on a shared host the machine's speed wanders by 5-10% from one second to the next (other tenants on the
same physical core, memory bandwidth), which is why an A/B of separate processes needs ABBA blocks and many of
them. Bursts of a few dozen milliseconds, BASE then NEW then BASE…, put both arms under the same second's
conditions, so the process's NEW/BASE ratio keeps almost none of that noise. On this project's Zen 5 host
(MobileNetV2 at 225 vs 243 px, ONNX Runtime, CPU 1, a noisy hour) the per-unit log ratio spread 2.3% for a 2 s
paired process against 11% for a 4 s ABBA block of four 1 s processes. The statistical unit stays the process:
each paired process is one block, and processes still differ (each arm's memory layout is its own draw).

Each burst starts with one untimed inference (the first after a switch refills the caches with this arm's
weights, which the other arm evicted); a burst then times inferences until it holds `burst_s` of them, at least
one. The arms go on in turns until both stopping rules are met, so they get the same share of the process's time.
Only arms on one backend, thread count and interpreter share a process (bench.commands.ab decides): two runtimes
in one process slow each other (torch's import slowed ONNX Runtime by 70% here).

Run as `python -m bench.engine.paired` by bench.engine.launchers; standard library only at module level, as for
bench.engine.worker.
"""

from __future__ import annotations

import gc
import os
from contextlib import ExitStack
from dataclasses import replace

from bench.backends import get_backend
from bench.backends.base import Session
from bench.engine.job import PairedJob, PairedRecord, WorkerJob
from bench.engine.policy import ProcessStopRule, WarmupDetector
from bench.engine.serve import prepare_process, serve
from bench.engine.worker import Measured, TimedLoop, import_runtime, load_session, process_record, warm_up
from bench.machine import machine_activity, read_cpu_times


def alternate_bursts(
    sessions: tuple[Session, Session],
    rules: tuple[ProcessStopRule, ProcessStopRule],
    burst_s: float,
    cpus: list[int],
    *,
    collect: bool,
) -> tuple[TimedLoop, TimedLoop]:
    """Both sessions timed in turns (`sessions[0]` first) until both rules are done; one loop per session, its
    samples its own, the wall and CPU times and the machine's activity those of the whole alternation."""
    burst_ns = int(burst_s * 1e9)
    samples: tuple[list[int], list[int]] = ([], [])
    timed_ns = [0, 0]  # each arm's timed inferences so far: its stopping rule's clock
    wall, cpu = sessions[0].clocks()
    if collect:
        gc.collect()
    gc.disable()  # as in bench.engine.worker.time_inferences: no collection inside a timed region
    try:
        stat_start = read_cpu_times()
        cpu_start, loop_start = cpu(), wall()
        while True:
            for arm, session in enumerate(sessions):
                arm_wall = session.clocks()[0]
                run, append = session.run_once, samples[arm].append
                run()  # untimed: refills the caches the other arm's burst evicted
                burst = 0
                while burst < burst_ns or burst == 0:
                    start = arm_wall()
                    run()
                    elapsed = arm_wall() - start
                    append(elapsed)
                    burst += elapsed
                timed_ns[arm] += burst
            done = [rule.done(samples[arm], timed_ns[arm]) for arm, rule in enumerate(rules)]
            if all(done):
                break
        loop_end, cpu_end = wall(), cpu()
        activity = machine_activity(stat_start, read_cpu_times(), cpus or sorted(os.sched_getaffinity(0)))
    finally:
        gc.enable()
    wall_s, cpu_s = (loop_end - loop_start) / 1e9, (cpu_end - cpu_start) / 1e9
    return TimedLoop(samples[0], wall_s, cpu_s, activity), TimedLoop(samples[1], wall_s, cpu_s, activity)


def run_job(job: PairedJob, *, pin: bool = True) -> PairedRecord:
    """Measure both arms of the pair in one process as the job says; a record per arm."""
    cpus = list(job.cpus)
    if pin:
        prepare_process(cpus, job.threads)
    jobs: tuple[WorkerJob, WorkerJob] = (job.new, job.base) if job.new_first else (job.base, job.new)
    if jobs[0].backend != jobs[1].backend:
        raise ValueError(f"a paired process runs one backend, not {jobs[0].backend} and {jobs[1].backend}")
    backend = get_backend(jobs[0].backend)
    import_s = import_runtime(backend)
    sessions = (load_session(backend, jobs[0]), load_session(backend, jobs[1]))
    detectors = (WarmupDetector.for_policy(jobs[0].policy), WarmupDetector.for_policy(jobs[1].policy))
    rules = (replace(jobs[0].stop, cap_hit=False, reason=""), replace(jobs[1].stop, cap_hit=False, reason=""))
    with ExitStack() as stack:
        for session in sessions:
            stack.enter_context(session.running())
        firsts = [warm_up(s.run_once, s.clocks()[0], d) for s, d in zip(sessions, detectors, strict=True)]
        loops = alternate_bursts(sessions, rules, job.burst_s, cpus, collect=pin)
    records = [
        process_record(one, backend, session, Measured(loop, detector, rule, import_s, first), pin)
        for one, session, loop, detector, rule, first in zip(
            jobs, sessions, loops, detectors, rules, firsts, strict=True
        )
    ]
    return PairedRecord(records[1], records[0]) if job.new_first else PairedRecord(records[0], records[1])


def main() -> int:
    return serve(PairedJob, run_job)


if __name__ == "__main__":
    raise SystemExit(main())
