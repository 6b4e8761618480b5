"""The job a worker process reads on stdin (it writes back a bench.document.ProcessRecord or WorkerFailure).

Standard library only: bench.engine.worker reads it before it pins itself and imports numpy or a runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from bench.backends.base import LoadTarget
from bench.engine.policy import MeasurePolicy, ProcessStopRule


@dataclass(frozen=True, kw_only=True)
class WorkerJob:
    """What one worker process is asked to do: one process's worth of samples of one cell."""

    backend: str
    target: LoadTarget
    threads: int
    cpus: tuple[int, ...]
    precision: str
    policy: MeasurePolicy
    stop: ProcessStopRule
    process_index: int
    cell: str  # the cell's label, for messages
    result_path: str | None = None  # where the worker writes its record; None: stdout

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
    def from_dict(cls, data: Mapping[str, Any]) -> WorkerJob:
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
