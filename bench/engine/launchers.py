"""How a worker process runs, for every kind of job: `SubprocessLauncher` starts `python -m <job.worker>` pinned,
with the thread variables set, and kills it when it overruns; `InProcessLauncher`, its twin for tests, runs the
worker's code in this process. Both give a `WorkerOutcome`: the job's typed result, or why there is none.

Spawning sits behind `Launcher` (hyperfine's habit), so scheduling, statistics, warnings and output are tested on
the fake backend and its fake clock without real timing; optimum-benchmark's single launcher for every worker is
the model for one path shared by cells, peak calibrations and layer profiles.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from bench.document import WorkerFailure
from bench.engine.job import Job
from bench.engine.serve import error_record, thread_env

STDERR_TAIL_LINES = 8

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


@dataclass(frozen=True)
class WorkerOutcome(Generic[R_co]):
    """What one worker process gave: its result (status "ok"), or why it gave none."""

    status: str  # "ok" | "failed" | "timeout"
    record: R_co | None = None
    error: str | None = None
    stderr_tail: str = ""
    duration_s: float = 0.0
    reported: bool = False  # the error is the worker's own (its failure record): its stderr is the traceback

    def reason(self) -> str:
        """Why there is no result: the error, and for a worker that died without saying why, the last line it
        printed on stderr (when that adds to the error)."""
        reason = self.error or "no result"
        last = self.stderr_tail.splitlines()[-1] if self.stderr_tail and self.status == "failed" else ""
        return f"{reason}: {last}" if last and not self.reported and last not in reason else reason


class Launcher(Protocol):
    def launch(self, job: Job[R], timeout_s: float) -> WorkerOutcome[R]:
        """Run one worker for `job`; raise KeyboardInterrupt (after stopping it) when the user interrupts."""
        ...


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


@contextlib.contextmanager
def kept_off(cpus: tuple[int, ...]) -> Iterator[None]:
    """Every thread of this process moved off `cpus` while a worker measures there, then put back: the parent
    waits on its worker, but its threads (rich's refresher wakes a dozen times a second) would otherwise be
    scheduled on the measured CPU, and did take 10% of it here. A thread with no other allowed CPU stays."""
    moved: dict[int, set[int]] = {}
    with contextlib.suppress(OSError):
        for tid in map(int, os.listdir("/proc/self/task")):
            with contextlib.suppress(OSError):
                mask = os.sched_getaffinity(tid)
                others = mask - set(cpus)
                if cpus and others and others != mask:
                    os.sched_setaffinity(tid, others)
                    moved[tid] = mask
    try:
        yield
    finally:
        for tid, mask in moved.items():
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                os.sched_setaffinity(tid, mask)


def _tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def _read_record(job: Job[R], path: Path) -> R | WorkerFailure | None:
    """The worker's record: its typed result, its failure, or None for a missing, half-written or foreign file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, Mapping) and data.get("ok") is False:
            return WorkerFailure(error=str(data.get("error")), traceback=str(data.get("traceback") or ""))
        return job.read_result(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


class SubprocessLauncher:
    """A fresh `python -m <job.worker>` per job: pinned, thread variables set, killed when it overruns."""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python

    def launch(self, job: Job[R], timeout_s: float) -> WorkerOutcome[R]:
        with tempfile.TemporaryDirectory(prefix="effbench-worker-") as tmp:
            result_path = Path(tmp) / "result.json"
            sent = replace(job, result_path=str(result_path))
            start = time.monotonic()
            with open(Path(tmp) / "stderr", "w+b") as err, kept_off(tuple(job.cpus)):
                # No preexec_fn: it is unsafe while other threads run (rich's progress refresher does).
                # The child is pinned from here right after it starts, before it has imported anything, and
                # pins itself again as its first action; thread variables are in its environment from exec.
                proc = subprocess.Popen(
                    [self.python, "-m", job.worker],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,  # whatever the runtimes print; the record comes through the file
                    stderr=err,
                    env=child_env(job.threads),
                    start_new_session=True,  # Ctrl-C reaches us only; we stop the worker ourselves
                )
                if job.cpus:
                    with contextlib.suppress(ProcessLookupError, OSError):
                        os.sched_setaffinity(proc.pid, job.cpus)
                try:
                    proc.communicate(json.dumps(sent.to_dict()).encode(), timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    self._kill(proc)
                    err.seek(0)
                    return WorkerOutcome(
                        "timeout",
                        error=f"worker did not finish within {timeout_s:.0f} s and was killed",
                        stderr_tail=_tail(err.read().decode(errors="replace")),
                        duration_s=time.monotonic() - start,
                    )
                except BaseException:  # KeyboardInterrupt included: never leave a worker running
                    self._kill(proc)
                    raise
                duration = time.monotonic() - start
                err.seek(0)
                stderr_tail = _tail(err.read().decode(errors="replace"))
            record = _read_record(job, result_path)
        if proc.returncode == 0 and record is not None and not isinstance(record, WorkerFailure):
            return WorkerOutcome("ok", record=record, stderr_tail=stderr_tail, duration_s=duration)
        if isinstance(record, WorkerFailure):
            return WorkerOutcome(
                "failed", error=record.error, stderr_tail=stderr_tail, duration_s=duration, reported=True
            )
        if proc.returncode < 0:
            error = f"worker killed by signal {signal.Signals(-proc.returncode).name}"
        else:
            error = f"worker exited with code {proc.returncode} and no result"
        return WorkerOutcome("failed", error=error, stderr_tail=stderr_tail, duration_s=duration)

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)


class InProcessLauncher:
    """The worker's code (`run_job` of the job's worker module) in this process, unpinned, the job and its record
    through JSON as through stdin and the result file: for tests (the fake backend and its fake clock, a tiny
    calibration). Its duration is the one the result reports (Job.worker_time_s)."""

    def __init__(self) -> None:
        self.jobs: list[Job[Any]] = []

    def launch(self, job: Job[R], timeout_s: float) -> WorkerOutcome[R]:
        self.jobs.append(job)
        run_job = importlib.import_module(job.worker).run_job
        try:
            sent = type(job).from_dict(json.loads(json.dumps(job.to_dict())))
            result = job.read_result(json.loads(json.dumps(run_job(sent, pin=False).to_dict())))
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            failed = error_record(exc)
            return WorkerOutcome("failed", error=failed.error, stderr_tail=_tail(failed.traceback), reported=True)
        return WorkerOutcome("ok", record=result, duration_s=job.worker_time_s(result))
