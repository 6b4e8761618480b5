"""A fake runtime for tests: deterministic synthetic latencies on a fake clock, scripted faults, no sleeping."""

from __future__ import annotations

import math
import os
import random
import sys
import time
from typing import Any, ClassVar

from bench.backends.base import Backend, ColdStart, LoadTarget, Session


class FakeClock:
    """Wall and CPU clocks in ns that only move when the fake session runs an inference."""

    def __init__(self, start_ns: int = 1_000_000_000) -> None:
        self.wall_ns = start_ns
        self.cpu_ns = start_ns

    def wall(self) -> int:
        return self.wall_ns

    def cpu(self) -> int:
        return self.cpu_ns

    def advance(self, wall_ns: int, cpu_ratio: float) -> None:
        self.wall_ns += wall_ns
        self.cpu_ns += int(wall_ns * cpu_ratio)


class FakeSession(Session):
    """Latency of inference i (0-based, counting the first one) in process p:

        base_ms × (1 + process_offsets[p]) × (1 + warmup_extra × exp(-i / warmup_decay)) × (1 + drift × i)
        × (1 + noise × u),  u uniform in [-1, 1] from a seeded generator

    Options (LoadTarget.options): base_ms, noise, warmup_extra, warmup_decay, drift, process_offsets, cpu_ratio,
    seed, process_index, load_s, runtime_precision (reported instead of the requested one), and faults:
    fail_at / crash_at (exit the process) / hang_at / interrupt_at = "load" | "run", at inference
    fault_iteration of process fault_process (every process when unset); stdout_noise prints to stdout as
    some libraries do.
    """

    def __init__(self, options: dict[str, Any], threads: int, precision: str) -> None:
        self.options = options
        self.threads = threads
        self.precision = precision
        self.clock = FakeClock()
        self.cold_start = ColdStart(load_s=float(options.get("load_s", 0.01)), compile_s=0.02)
        index = int(options.get("process_index", 0))
        offsets = options.get("process_offsets") or [0.0]
        self._scale = 1.0 + float(offsets[index % len(offsets)])
        self._rng = random.Random(int(options.get("seed", 0)) * 1000 + index)
        self._i = 0
        self._bound = False

    def clocks(self) -> tuple[Any, Any]:
        return self.clock.wall, self.clock.cpu

    def bind_input(self, array: Any) -> None:
        self._bound = True
        self.input_checksum = float(array.sum())

    def latency_ns(self, i: int) -> int:
        o = self.options
        base = float(o.get("base_ms", 10.0)) * 1e6 * self._scale
        warm = 1.0 + float(o.get("warmup_extra", 0.0)) * math.exp(-i / float(o.get("warmup_decay", 5.0)))
        drift = 1.0 + float(o.get("drift", 0.0)) * i
        noise = 1.0 + float(o.get("noise", 0.0)) * (2 * self._rng.random() - 1)
        return max(1, int(base * warm * drift * noise))

    def run_once(self) -> None:
        if not self._bound:
            raise RuntimeError("fake: run_once before bind_input")
        _maybe_fault(self.options, "run", self._i)
        self.clock.advance(self.latency_ns(self._i), float(self.options.get("cpu_ratio", 1.0)) * self.threads)
        self._i += 1

    def effective_settings(self) -> dict[str, Any]:
        return {"threads": self.threads, "precision": self.precision}

    def warnings(self, requested_precision: str) -> list[str]:
        actual = self.options.get("runtime_precision")
        if actual and actual != requested_precision:
            return [f"fake: {requested_precision} was asked but the runtime ran {actual}"]
        return []


def _maybe_fault(options: dict[str, Any], phase: str, iteration: int = 0) -> None:
    if phase == "run" and iteration != int(options.get("fault_iteration", 0)):
        return
    only_in = options.get("fault_process")
    if only_in is not None and int(only_in) != int(options.get("process_index", 0)):
        return
    if options.get("stdout_noise"):
        print("fake runtime chatter on stdout", flush=True)
    if options.get("fail_at") == phase:
        raise RuntimeError(f"fake failure at {phase}")
    if options.get("crash_at") == phase:
        print(f"fake: fatal error at {phase}, aborting", file=sys.stderr, flush=True)
        os._exit(3)
    if options.get("hang_at") == phase:
        time.sleep(3600)
    if options.get("interrupt_at") == phase:
        raise KeyboardInterrupt


class FakeBackend(Backend):
    name: ClassVar[str] = "fake"
    module: ClassVar[str] = "bench.backends.fake"
    formats: ClassVar[tuple[str, ...]] = ()
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    settings: ClassVar[tuple[str, ...]] = ("synthetic latencies on a fake clock (tests only)",)
    hidden: ClassVar[bool] = True

    def versions(self) -> dict[str, str]:
        return {"fake": "1.0"}

    def load(self, target: LoadTarget, threads: int, precision: str) -> Session:
        _maybe_fault(target.options, "load")
        return FakeSession(dict(target.options), threads, precision)
