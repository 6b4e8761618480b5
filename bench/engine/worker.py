"""The measuring process for one (model, backend) cell: pin, set thread env, import one runtime, warm up, time.

Run as `python -m bench.engine.worker` with a JSON job on stdin; the result goes, as JSON, to the file named by the
job's `result_path` (stdout is left to whatever the runtimes print), or to stdout when the job names no file.
Only the standard library (and bench.machine, which uses nothing else) is imported at module level: affinity
and thread variables must be in place before numpy (OpenBLAS) or any runtime starts its thread pools.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.machine import THIS_MACHINE, activity_warnings, machine_activity, read_cpu_times

if TYPE_CHECKING:
    from collections.abc import Callable

    from bench.document import ProcessRecord, WorkerFailure
    from bench.engine.job import WorkerJob

# Variables thread pools read once, when their library loads; set for N threads before any import.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "BLIS_NUM_THREADS",
)

# Margin for the CPU-time/wall-time check: a process also runs Python between inferences and the runtime may
# keep a helper thread, so a 1-thread run shows up to ~1.1 without using a second core.
CPU_RATIO_MARGIN = 0.25


# Runtime modules a worker may have loaded, by backend name: exactly its own one belongs there.
RUNTIME_MODULES = {"torch": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino"}


def thread_env(threads: int) -> dict[str, str]:
    return {name: str(threads) for name in THREAD_ENV_VARS}


def child_env(threads: int | None = None) -> dict[str, str]:
    """The environment of a child effbench process: this checkout first on PYTHONPATH (the child imports the same
    bench wherever it starts), no PYTHONSTARTUP, and the thread variables for `threads` when given."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # the folder that holds the bench package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.pop("PYTHONSTARTUP", None)
    if threads is not None:
        env.update(thread_env(threads))
    return env


def prepare_process(cpus: list[int], threads: int) -> None:
    """Pin this process and set thread variables; call before importing numpy or a runtime."""
    os.environ.update(thread_env(threads))
    if cpus:
        os.sched_setaffinity(0, cpus)


def peak_rss_bytes() -> int:
    # Linux reports ru_maxrss in KiB.
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def cpu_usage_warnings(ratio: float, threads: int, cpus: list[int]) -> list[str]:
    """Warnings when the timed loop used more or fewer CPUs than the threads asked for."""
    found: list[str] = []
    if ratio > threads + CPU_RATIO_MARGIN:
        found.append(
            f"the runtime used {ratio:.2f} CPUs on average for --threads {threads}: it runs extra threads "
            "(check the backend's thread settings and the OMP/MKL variables)"
        )
    elif threads > 1 and ratio < 0.8 * threads:
        found.append(
            f"the runtime kept only {ratio:.2f} of {threads} CPUs busy: it does not parallelise this model "
            f"well, or other processes ran on CPUs {cpus}"
        )
    elif threads == 1 and ratio < 0.9:
        found.append(
            f"the worker got only {ratio:.0%} of its CPU during the timed loop: another process ran on CPU "
            f"{cpus}; stop it or pick an idle CPU with --cpus"
        )
    return found


def run_job(job: WorkerJob, *, pin: bool = True) -> ProcessRecord:
    """Measure one process's worth of samples as the job says; return the process record."""
    cpus = list(job.cpus)
    threads = job.threads
    precision = job.precision
    if pin:
        prepare_process(cpus, threads)

    from dataclasses import replace

    from bench.backends import get_backend
    from bench.document import ColdStartTimes, ProcessRecord
    from bench.engine.policy import WarmupDetector

    policy = job.policy
    stop_rule = replace(job.stop, cap_hit=False, reason="")  # this process's own, fresh stop state
    target = job.target
    backend = get_backend(job.backend)

    t0 = time.perf_counter()
    backend.import_runtime()
    import_s = time.perf_counter() - t0
    session = backend.load(target, threads, precision)

    # The same seeded bytes for every backend, allocated once, outside any timed region.
    import numpy as np

    data = np.random.default_rng(target.seed).standard_normal(target.input_shape, dtype=np.float32)
    session.bind_input(data)
    wall, cpu = session.clocks()
    run = session.run_once

    with session.running():
        t0 = time.perf_counter()
        run()
        first_inference_s = time.perf_counter() - t0

        detector = WarmupDetector.for_policy(policy)
        while True:
            start = wall()
            run()
            end = wall()
            if detector.add(end - start):
                break

        # A garbage collection inside the loop would land in some sample's timed region; nothing here needs one.
        # (In-process runs, pin=False, are the tests' fake-clock runs inside the test process: collecting its heap
        # costs 50 ms a process and protects no real timing.)
        if pin:
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

    wall_time_s = (loop_end - loop_start) / 1e9
    cpu_time_s = (cpu_end - cpu_start) / 1e9
    ratio = cpu_time_s / wall_time_s if wall_time_s > 0 else 0.0
    affinity = sorted(os.sched_getaffinity(0))
    warnings: list[str] = []
    if pin and cpus and affinity != sorted(cpus):
        warnings.append(f"the worker ran on CPUs {affinity}, not the {sorted(cpus)} asked for")
    warnings.extend(cpu_usage_warnings(ratio, threads, cpus))
    if pin:  # in-process test runs share the machine with the test runner: nothing to say about it
        warnings.extend(activity_warnings(activity, cpus))
    warnings.extend(session.warnings(precision))
    loaded = [m for m in RUNTIME_MODULES if m in sys.modules]
    foreign = [m for m in loaded if m != RUNTIME_MODULES.get(backend.name, backend.name)]
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
    if stop_rule.cap_hit:
        warnings.append(f"process time cap hit: {stop_rule.reason}")
    return ProcessRecord(
        process_index=job.process_index,
        pid=os.getpid(),
        affinity=tuple(affinity),
        os_threads=THIS_MACHINE.os_thread_count(),
        versions=backend.versions(),
        effective=session.effective_settings(),
        cold_start=ColdStartTimes(
            import_s=import_s,
            load_s=session.cold_start.load_s,
            compile_s=session.cold_start.compile_s,
            first_inference_s=first_inference_s,
        ),
        peak_rss_bytes=peak_rss_bytes(),
        warmup_ns=tuple(detector.samples_ns),
        warmup_reason=detector.reason,
        warmup_cap_hit=detector.cap_hit,
        samples_ns=tuple(samples),
        cpu_time_s=cpu_time_s,
        wall_time_s=wall_time_s,
        cpu_wall_ratio=ratio,
        machine_activity=activity,
        stop_reason=stop_rule.reason,
        cap_hit=stop_rule.cap_hit,
        warnings=tuple(warnings),
        torch_imported="torch" in sys.modules,
        runtimes_loaded=tuple(loaded),
    )


def error_record(exc: BaseException) -> WorkerFailure:
    from bench.document import WorkerFailure
    from bench.errors import EffbenchError

    message = str(exc) if isinstance(exc, EffbenchError) else f"{type(exc).__name__}: {exc}"
    return WorkerFailure(
        error=message.strip().splitlines()[0] if message.strip() else type(exc).__name__,
        traceback=traceback.format_exc(),
    )


def launch_json_job(module: str, job: dict[str, Any], timeout_s: float, what: str) -> dict[str, Any]:
    """Run `python -m MODULE` (a serve_json_job worker) with `job` (cpus, threads), pinned at once from here and
    with the thread variables set; the record it writes to the job's result_path, or {"ok": False, "error": …}."""
    import contextlib
    import subprocess
    import tempfile

    cpus = [int(c) for c in job.get("cpus", [])]
    with tempfile.TemporaryDirectory(prefix="effbench-worker-") as tmp:
        result_path = Path(tmp) / "result.json"
        proc = subprocess.Popen(
            [sys.executable, "-m", module],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,  # whatever the libraries print; the record comes through the file
            stderr=subprocess.PIPE,
            env=child_env(int(job["threads"])),
        )
        if cpus:  # as bench.engine.runner does: pinned from here at once, and again by the worker before any import
            with contextlib.suppress(ProcessLookupError, OSError):
                os.sched_setaffinity(proc.pid, cpus)
        try:
            _, stderr = proc.communicate(json.dumps({**job, "result_path": str(result_path)}).encode(), timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return {"ok": False, "error": f"the {what} worker did not finish within {timeout_s:.0f} s"}
        except BaseException:  # KeyboardInterrupt included: never leave a worker running
            proc.kill()
            proc.wait()
            raise
        try:
            record: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            return {"ok": False, "error": f"the {what} worker exited with code {proc.returncode}: {tail[0]}"}
    return record


def serve_json_job(run: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """The main of a JSON-job worker (the peak calibration, the layer profile): the job on stdin, `run`'s record
    (or the error record, exit 1) as JSON to the job's result_path through bench.fsio, or to stdout."""
    job = json.loads(sys.stdin.read())
    try:
        record = run(job)
        code = 0
    except Exception as exc:
        record = error_record(exc).to_dict()
        print(record["traceback"], file=sys.stderr)
        code = 1
    result_path = job.get("result_path")
    if result_path:
        from bench.fsio import replace_file

        replace_file(Path(result_path), json.dumps(record))
    else:
        sys.stdout.write(json.dumps(record))
    return code


def main() -> int:
    from bench.engine.job import WorkerJob
    from bench.fsio import replace_file

    job = WorkerJob.from_dict(json.loads(sys.stdin.read()))
    record: ProcessRecord | WorkerFailure
    try:
        record = run_job(job)
        code = 0
    except Exception as exc:
        record = error_record(exc)
        print(record.traceback, file=sys.stderr)
        code = 1
    text = json.dumps(record.to_dict())
    if job.result_path:
        replace_file(Path(job.result_path), text)
    else:
        sys.stdout.write(text)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
