"""The worker side of every job: pin the process and set its thread variables (`prepare_process`), read the job on
stdin, run it and write its record, or the failure, to the job's result file (`serve`); and the CPU-use warnings
the workers share.

Standard library only at module level (the bench modules imported here use nothing else): a worker imports this
before it pins itself, and affinity and thread variables must be in place before numpy (OpenBLAS), MKL, oneDNN or
a runtime start their thread pools.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bench.document import WorkerFailure
from bench.engine.job import Job
from bench.errors import EffbenchError
from bench.fsio import replace_file

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

J = TypeVar("J", bound=Job[Any])


class Result(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def thread_env(threads: int) -> dict[str, str]:
    return {name: str(threads) for name in THREAD_ENV_VARS}


def prepare_process(cpus: list[int], threads: int) -> None:
    """Pin this process and set thread variables; call before importing numpy or a runtime."""
    os.environ.update(thread_env(threads))
    if cpus:
        os.sched_setaffinity(0, cpus)


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


def error_record(exc: BaseException) -> WorkerFailure:
    """What a worker that raised sends back: the error's first line (a user error's own message) and the traceback."""
    message = str(exc) if isinstance(exc, EffbenchError) else f"{type(exc).__name__}: {exc}"
    return WorkerFailure(
        error=message.strip().splitlines()[0] if message.strip() else type(exc).__name__,
        traceback=traceback.format_exc(),
    )


def serve(job_type: type[J], run: Callable[[J], Result]) -> int:
    """The main of every worker: the job on stdin, `run`'s result (or the failure, exit 1) as JSON to the job's
    result_path through bench.fsio, or to stdout when the job names no file."""
    data = json.loads(sys.stdin.read())
    record: Result | WorkerFailure
    try:
        record = run(job_type.from_dict(data))
        code = 0
    except Exception as exc:
        record = error_record(exc)
        print(record.traceback, file=sys.stderr)
        code = 1
    text = json.dumps(record.to_dict())
    result_path = data.get("result_path")
    if result_path:
        replace_file(Path(result_path), text)
    else:
        sys.stdout.write(text)
    return code
