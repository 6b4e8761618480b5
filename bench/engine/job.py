"""The job contract of every worker process: what it reads on stdin, which module serves it, what it sends back.

A job is a frozen dataclass naming its worker module (`worker`, run as `python -m`), the CPUs it is pinned to, its
thread count and the file its record goes to (`result_path`, set by the launcher); `read_result` turns the record the
worker wrote into the job's typed result. Each worker module has `run_job(job, *, pin=True)` and a `main` that serves
it through bench.engine.serve; bench.engine.launchers starts any of them the same way. The kinds: `WorkerJob` (one
process of a cell, a bench.document.ProcessRecord back), `PairedJob` (one process measuring both arms of an A/B
pair, a record per arm back), bench.probes.calibrate.CalibrationJob and bench.probes.layers.LayersJob.

Standard library only (and effbench modules that import nothing else): a worker reads its job before it pins itself
and imports numpy or a runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Generic, Self, TypeVar

from bench.backends.base import LoadTarget
from bench.document import ProcessRecord
from bench.engine.policy import MeasurePolicy, ProcessStopRule

R = TypeVar("R")


def tuples_from_json(value: Any) -> Any:
    """JSON lists back as the tuples a frozen record held (recursively, dict values included)."""
    if isinstance(value, list):
        return tuple(tuples_from_json(item) for item in value)
    if isinstance(value, dict):
        return {key: tuples_from_json(item) for key, item in value.items()}
    return value


@dataclass(frozen=True, kw_only=True)
class Job(Generic[R]):
    """What one worker process is asked to do; subclasses add their fields and say how to read their record."""

    worker: ClassVar[str]  # the module run as `python -m`; it has run_job(job, *, pin=True)
    cpus: tuple[int, ...]
    threads: int
    result_path: str | None = None  # where the worker writes its record; None: stdout

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(**tuples_from_json(dict(data)))

    def read_result(self, data: Any) -> R:
        """The typed result from the record the worker wrote (a ValueError, KeyError or TypeError when it is
        not one)."""
        raise NotImplementedError

    def worker_time_s(self, result: R) -> float:
        """How long the worker says it measured: what an in-process run (bench.engine.launchers.InProcessLauncher)
        reports as its duration, since this process's clock would time the test, not the (fake) measurement."""
        return 0.0


@dataclass(frozen=True, kw_only=True)
class WorkerJob(Job[ProcessRecord]):
    """One process's worth of samples of one cell (bench.engine.worker)."""

    worker: ClassVar[str] = "bench.engine.worker"
    backend: str
    target: LoadTarget
    precision: str
    policy: MeasurePolicy
    stop: ProcessStopRule
    process_index: int
    cell: str  # the cell's label, for messages

    def to_dict(self) -> dict[str, Any]:
        target = {f.name: getattr(self.target, f.name) for f in fields(self.target)}
        target["input_shape"] = list(self.target.input_shape)
        return {
            "backend": self.backend,
            "target": target,
            "threads": self.threads,
            "cpus": list(self.cpus),
            "precision": self.precision,
            "policy": self.policy.to_dict(),
            "stop": self.stop.to_dict(),
            "process_index": self.process_index,
            "cell": self.cell,
            "result_path": self.result_path,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        target = dict(data["target"])
        target["input_shape"] = tuple(target["input_shape"])
        return cls(
            backend=str(data["backend"]),
            target=LoadTarget(**target),
            threads=int(data["threads"]),
            cpus=tuple(int(c) for c in data.get("cpus", ())),
            precision=str(data.get("precision", "fp32")),
            policy=MeasurePolicy(**data["policy"]),
            stop=ProcessStopRule(**data["stop"]),
            process_index=int(data.get("process_index", 0)),
            cell=str(data.get("cell", "")),
            result_path=data.get("result_path"),
        )

    def read_result(self, data: Any) -> ProcessRecord:
        return ProcessRecord.from_dict(data, "worker record")

    def worker_time_s(self, result: ProcessRecord) -> float:
        return sum(result.samples_ns) / 1e9


@dataclass(frozen=True)
class PairedRecord:
    """What a paired process sends back: one process record per arm (bench.engine.paired)."""

    base: ProcessRecord
    new: ProcessRecord

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base.to_dict(), "new": self.new.to_dict()}


@dataclass(frozen=True, kw_only=True)
class PairedJob(Job[PairedRecord]):
    """One process measuring both arms of an A/B pair in alternating bursts of `burst_s` seconds each
    (bench.engine.paired): BASE's burst first, or NEW's when `new_first`. Both arms share the CPUs and threads."""

    worker: ClassVar[str] = "bench.engine.paired"
    base: WorkerJob
    new: WorkerJob
    burst_s: float
    new_first: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base.to_dict(),
            "new": self.new.to_dict(),
            "burst_s": self.burst_s,
            "new_first": self.new_first,
            "threads": self.threads,
            "cpus": list(self.cpus),
            "result_path": self.result_path,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            base=WorkerJob.from_dict(data["base"]),
            new=WorkerJob.from_dict(data["new"]),
            burst_s=float(data["burst_s"]),
            new_first=bool(data.get("new_first", False)),
            threads=int(data["threads"]),
            cpus=tuple(int(c) for c in data.get("cpus", ())),
            result_path=data.get("result_path"),
        )

    def read_result(self, data: Any) -> PairedRecord:
        return PairedRecord(
            ProcessRecord.from_dict(data["base"], "worker record (base)"),
            ProcessRecord.from_dict(data["new"], "worker record (new)"),
        )

    def worker_time_s(self, result: PairedRecord) -> float:
        return (sum(result.base.samples_ns) + sum(result.new.samples_ns)) / 1e9
