"""Measurement presets, warm-up detection and stopping rules: pure logic, times passed in, no clock read here."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any

TARGET_MET = "target met"
CAP_PREFIX = "cap hit"


@dataclass(frozen=True)
class MeasurePolicy:
    """How long and how often to measure one cell (model × backend). Times in seconds."""

    name: str
    # processes per cell: at least min_processes (layout and thread placement differ per process), at most max
    min_processes: int
    max_processes: int
    # warm-up: compare medians of consecutive windows of about warmup_window_s each; done when a window no longer
    # improves on the previous one by more than warmup_tolerance; capped in time and iterations
    warmup_window_s: float
    warmup_min_s: float
    warmup_max_s: float
    warmup_tolerance: float = 0.01
    warmup_min_window: int = 2
    warmup_max_window: int = 50
    warmup_max_iterations: int = 20_000
    # timed loop, per process: at least process_min_s and its share of the cell's sample minimum, at most
    # process_max_s (the cap that keeps a 1 s/inference model from running for minutes per process)
    process_min_s: float = 2.0
    process_max_s: float = 15.0
    process_max_samples: int = 200_000
    # the cell: median 95% CI half-width target, a time cap for extra processes
    target_ci_rel: float = 0.01
    confidence: float = 0.95
    cell_max_s: float = 30.0
    # a worker gets this long for import + load/compile + first inference on top of its warm-up and timed loop
    startup_allowance_s: float = 120.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def worker_timeout_s(self, latency_hint_s: float = 0.0) -> float:
        """How long a worker may run before it counts as hung: startup, both caps, one slow inference per phase."""
        return self.startup_allowance_s + self.warmup_max_s + 1.5 * self.process_max_s + 10 * latency_hint_s + 30.0


# Tuned on the project's noisy 2-vCPU machine for `effbench latency --model b1 --threads 1` on three backends:
# default ≈ 40 s when the machine is quiet, ≈ 75 s when every cell runs into its caps (3 × (20 s + one
# process) + ~8 s of first export stays under 90 s); --fast ≈ 25 s with the export cached. A worker costs
# ~0.5 s (ORT, OpenVINO) to ~3 s (torch import) on top of its warm-up and timed loop.
PRESETS: dict[str, MeasurePolicy] = {
    "fast": MeasurePolicy(
        name="fast",
        min_processes=2,
        max_processes=3,
        warmup_window_s=0.1,
        warmup_min_s=0.1,
        warmup_max_s=1.0,
        process_min_s=1.0,
        process_max_s=5.0,
        target_ci_rel=0.02,
        cell_max_s=8.0,
    ),
    "default": MeasurePolicy(
        name="default",
        min_processes=3,
        max_processes=6,
        warmup_window_s=0.2,
        warmup_min_s=0.3,
        warmup_max_s=3.0,
        process_min_s=2.5,
        process_max_s=15.0,
        target_ci_rel=0.01,
        cell_max_s=20.0,
    ),
    "rigorous": MeasurePolicy(
        name="rigorous",
        min_processes=5,
        max_processes=20,
        warmup_window_s=0.5,
        warmup_min_s=1.0,
        warmup_max_s=10.0,
        warmup_max_iterations=100_000,
        process_min_s=5.0,
        process_max_s=60.0,
        target_ci_rel=0.005,
        cell_max_s=300.0,
    ),
    # For `effbench compare` / `ab` in CI: many short processes instead of a few long ones. A comparison's
    # precision comes from the number of processes (their medians differ by 1.6-4.6% on a quiet machine), not
    # from their length (one process's median is known to ±0.3-0.5% after 2.5 s, ±~0.6% after 1 s:
    # sqrt(3%² + 0.6%²) = 3.06%, so a 1 s process costs almost nothing). 8 processes per arm catch a 10%
    # slowdown in ≥ 96.7% of comparisons at 5% spread with ≤ 2.5% false regressions; 3 (default) cannot reach
    # p < 0.05 at all with the permutation guard (scripts/compare_simulation.py).
    "ci": MeasurePolicy(
        name="ci",
        min_processes=8,
        # up to 2 more while the median CI misses its target; still missing at 10 marks the cell for compare
        max_processes=10,
        # warm-up as default: a biased (still warming) arm is worse than a noisy one
        warmup_window_s=0.2,
        warmup_min_s=0.3,
        warmup_max_s=3.0,
        process_min_s=1.0,
        # B7 at ~0.8 s per inference needs its share of 64 / 8 = 8 samples: about 7 s
        process_max_s=8.0,
        # the hierarchical-bootstrap half-width of 8 processes is about 0.8 σ of their medians, so quiet runs
        # (σ ≤ 2.7%) meet ±2.5% at 8; a tighter target would only add processes on every cell
        target_ci_rel=0.025,
        # the cap on extra processes only (the first min_processes always run): b0-class cells take 8 × 2-4 s
        cell_max_s=60.0,
    ),
}


def get_policy(name: str) -> MeasurePolicy:
    from bench.errors import EffbenchError

    try:
        return PRESETS[name]
    except KeyError:
        raise EffbenchError(f"unknown preset '{name}'; known presets: {', '.join(PRESETS)}") from None


def min_total_samples() -> int:
    """The sample count a cell needs in all (MLPerf's p90 early-stopping minimum: 64 samples for a p90 upper bound
    at 99% confidence), from bench.engine.stats; imported here only when called, as the worker reads this module
    before it may load numpy."""
    from bench.engine.stats import early_stopping_min_samples

    return int(early_stopping_min_samples())


@dataclass
class WarmupDetector:
    """Feed warm-up latencies one by one; `add` returns True once latency has stopped improving or a cap is hit.

    The window length adapts to the model's latency (its fastest iteration so far): about `window_s` of work per
    window, at least `min_window` and at most `max_window` iterations, and never so long that two windows overrun
    the time cap; the cap itself stretches to two minimal windows for very slow models. A model at 1 s per
    inference therefore warms up for 4 to 6 s, not a minute; a 1 ms model compares 50-iteration windows, so one
    noisy iteration does not end its warm-up.
    """

    window_s: float
    min_s: float
    max_s: float
    tolerance: float = 0.01
    min_window: int = 2
    max_window: int = 50
    max_iterations: int = 20_000
    samples_ns: list[int] = field(default_factory=list)
    elapsed_ns: int = 0
    window: int = 0
    cap_hit: bool = False
    done: bool = False
    reason: str = ""

    @classmethod
    def for_policy(cls, policy: MeasurePolicy) -> WarmupDetector:
        return cls(
            window_s=policy.warmup_window_s,
            min_s=policy.warmup_min_s,
            max_s=policy.warmup_max_s,
            tolerance=policy.warmup_tolerance,
            min_window=policy.warmup_min_window,
            max_window=policy.warmup_max_window,
            max_iterations=policy.warmup_max_iterations,
        )

    def _choose_window(self, latency_ns: int) -> int:
        latency_s = max(latency_ns, 1) / 1e9
        window = round(self.window_s / latency_s)
        window = max(self.min_window, min(self.max_window, window))
        fits_in_cap = math.floor(self.max_s / (2 * latency_s))
        return max(self.min_window, min(window, fits_in_cap))

    def cap_s(self) -> float:
        """The time cap, stretched for slow models so that three of the smallest windows always fit: two for a
        first comparison, one more because the first iteration after the cold one is often still slow."""
        fastest = min(self.samples_ns) / 1e9 if self.samples_ns else 0.0
        return max(self.max_s, 3 * self.min_window * fastest)

    def add(self, sample_ns: int) -> bool:
        if self.done:
            return True
        self.samples_ns.append(sample_ns)
        self.elapsed_ns += sample_ns
        # Sized on the fastest inference so far: the first warm-up iterations are the slow ones.
        self.window = max(self.window, self._choose_window(min(self.samples_ns)))
        n = len(self.samples_ns)
        steady = False
        if n >= 2 * self.window:
            last = median(self.samples_ns[-self.window :])
            previous = median(self.samples_ns[-2 * self.window : -self.window])
            steady = last >= previous * (1.0 - self.tolerance)
        capped = self.elapsed_ns >= self.cap_s() * 1e9 or n >= self.max_iterations
        if steady and (self.elapsed_ns >= self.min_s * 1e9 or capped):
            self.done = True
            self.reason = (
                f"steady after {n} iterations / {self.elapsed_ns / 1e9:.2f} s: the median of the last "
                f"{self.window} is within {self.tolerance:.0%} of the {self.window} before"
            )
            return True
        if capped:
            self.done = True
            self.cap_hit = True
            self.reason = (
                f"{CAP_PREFIX}: warm-up stopped after {n} iterations / {self.elapsed_ns / 1e9:.2f} s "
                "while latency was still falling"
            )
            return True
        return False


@dataclass
class ProcessStopRule:
    """When one worker process has measured enough: at least `min_samples` (its share of the cell's minimum) and
    `min_s` of timed inferences, or the `max_s` / `max_samples` cap (recorded in `cap_hit`).

    `max_s` is a soft cap: a slow model that is a few samples short of its share at `max_s` may go on up to
    `stretch` × `max_s` when its latency says the share fits in that (B7 at 0.76-0.95 s per inference needs
    22 samples, 17-21 s, against a 15 s cap: stopping at 20 would leave the cell short of MLPerf's 64).
    """

    min_samples: int
    min_s: float
    max_s: float
    max_samples: int = 200_000
    stretch: float = 1.5
    cap_hit: bool = False
    reason: str = ""

    @classmethod
    def for_policy(
        cls, policy: MeasurePolicy, planned_processes: int, total_min_samples: int | None = None
    ) -> ProcessStopRule:
        total = min_total_samples() if total_min_samples is None else total_min_samples
        share = math.ceil(total / max(1, planned_processes))
        return cls(
            min_samples=max(1, share),
            min_s=policy.process_min_s,
            max_s=policy.process_max_s,
            max_samples=policy.process_max_samples,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_samples": self.min_samples,
            "min_s": self.min_s,
            "max_s": self.max_s,
            "max_samples": self.max_samples,
            "stretch": self.stretch,
        }

    def done(self, samples_ns: Sequence[int], elapsed_ns: int) -> bool:
        n = len(samples_ns)
        elapsed_s = elapsed_ns / 1e9
        if n >= self.min_samples and elapsed_s >= self.min_s:
            self.reason = f"{n} samples in {elapsed_s:.2f} s (minimum {self.min_samples} samples, {self.min_s:g} s)"
            return True
        if elapsed_s >= self.max_s and n < self.min_samples and n < self.max_samples:
            projected_s = elapsed_s / max(n, 1) * self.min_samples
            if projected_s <= self.max_s * self.stretch and elapsed_s < self.max_s * self.stretch:
                return False  # a slow model a few samples short of its share: finish it
        if elapsed_s >= self.max_s or n >= self.max_samples:
            self.cap_hit = n < self.min_samples or elapsed_s < self.min_s
            self.reason = (
                f"{CAP_PREFIX}: stopped at {n} samples / {elapsed_s:.2f} s "
                f"(cap {self.max_s:g} s, {self.max_samples} samples; wanted {self.min_samples} samples)"
            )
            return True
        return False


@dataclass(frozen=True)
class CellTally:
    """What the cell stopping rule looks at after a round: the scheduler counts it, and bootstraps the median's CI
    once, for the rule and for the cell's summary alike."""

    processes: int
    samples: int
    elapsed_s: float
    ci_half_width_rel: float  # the median CI's half-width over the median; inf with too few samples


def cell_stop_reason(policy: MeasurePolicy, tally: CellTally, total_min_samples: int) -> str | None:
    """None while the cell needs another process; otherwise why it may stop (a target met, or which cap hit).

    Done when it has at least `min_processes` processes, `total_min_samples` samples in all (min_total_samples)
    and a median CI half-width within the target; else it stops at the cell's time cap or at `max_processes`.
    """
    processes, total, half_width = tally.processes, tally.samples, tally.ci_half_width_rel
    missing: list[str] = []
    if processes < policy.min_processes:
        missing.append(f"{processes} of {policy.min_processes} processes")
    if total < total_min_samples:
        missing.append(f"{total} of {total_min_samples} samples")
    if half_width > policy.target_ci_rel:
        missing.append(f"median CI ±{_pct(half_width)} > ±{_pct(policy.target_ci_rel)}")
    if not missing:
        return (
            f"{TARGET_MET}: {processes} processes, {total} samples, median CI ±{_pct(half_width)} "
            f"≤ ±{_pct(policy.target_ci_rel)}"
        )
    if tally.elapsed_s >= policy.cell_max_s:
        return f"{CAP_PREFIX}: cell time cap {policy.cell_max_s:g} s reached with " + ", ".join(missing)
    if processes >= policy.max_processes:
        return f"{CAP_PREFIX}: {policy.max_processes} processes reached with " + ", ".join(missing)
    return None


def _pct(value: float) -> str:
    if math.isinf(value) or math.isnan(value):
        return "∞"
    return f"{value * 100:.2f}%"
