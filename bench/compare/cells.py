"""The inputs of a comparison: one arm of a cell (a median per worker process and what the run said about
itself) and one matched cell (its key, both arms, whether they ran as paired blocks)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

CellStatus = Literal["ok", "failed", "skipped", "missing", "interrupted"]
CELL_STATUSES: tuple[str, ...] = ("ok", "failed", "skipped", "missing", "interrupted")


@dataclass(frozen=True)
class Arm:
    """One arm (BASE or NEW) of one cell: a median per worker process (ms) and what the run said about itself."""

    medians_ms: tuple[float, ...] = ()
    # per-process p90s (ms) and sample counts, for the p90 ratio; both or neither
    p90s_ms: tuple[float, ...] | None = None
    samples: tuple[int, ...] | None = None
    status: CellStatus = "ok"
    error: str = ""
    # a busy-CPU or steal-time warning during the measurement (set by any process_busy flag)
    machine_busy: bool = False
    # per process, in the order of medians_ms: that process's timed loop had a busy-CPU or steal-time warning;
    # empty where only the arm's flag is known
    process_busy: tuple[bool, ...] = ()
    # the run's own "processes disagree" warning
    processes_disagree: bool = False
    # the cell stopped at a time or process cap before its precision target
    cap_hit: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "medians_ms", tuple(float(m) for m in self.medians_ms))
        for name in ("p90s_ms", "samples"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "process_busy", tuple(bool(b) for b in self.process_busy))
        if self.process_busy and len(self.process_busy) != len(self.medians_ms):
            raise ValueError(
                f"process_busy needs one flag per process median, got {len(self.process_busy)} for "
                f"{len(self.medians_ms)}"
            )
        if any(self.process_busy):
            object.__setattr__(self, "machine_busy", True)
        if self.status not in CELL_STATUSES:
            raise ValueError(f"unknown cell status '{self.status}'; known: {', '.join(CELL_STATUSES)}")
        if self.status == "ok" and not self.medians_ms:
            raise ValueError("an arm with status 'ok' needs at least one per-process median")
        if any(not math.isfinite(m) or m <= 0 for m in self.medians_ms):
            raise ValueError(f"per-process medians must be finite and positive ms, got {list(self.medians_ms)}")


@dataclass(frozen=True)
class CellInput:
    """One matched cell: its key (as the caller names it), both arms, and a reason if the caller found the two
    arms not comparable (another machine, another effective precision, …). `paired`: process i of BASE and
    process i of NEW ran back to back as block i (an interleaved `effbench ab` run), so the effect is measured
    on the per-block ratios (measure_paired_effect); honoured only when both arms have as many processes."""

    key: str
    base: Arm
    new: Arm
    not_comparable: str | None = None
    paired: bool = False
