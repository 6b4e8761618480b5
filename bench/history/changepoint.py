"""Change-point detection on a series of per-run latency estimates: binary segmentation with a seeded
permutation test, and the size of each step with a confidence interval. Pure numpy/scipy, no database.

Method. The series is taken on a log scale (a step is a ratio, whatever the latency). For a split at t the
statistic is the between-segment sum of squares B(t) = n1·n2/n · (mean2 − mean1)², whose maximum is the
maximum-likelihood location of a single mean shift under Gaussian noise and which orders splits as the two-sample
t statistic does (the total sum of squares is the same for every split). Its significance is the share of
random permutations of the series whose own maximum B reaches the observed one: no assumption on the noise's
distribution or scale, and the maximum over all splits is accounted for. A significant split is kept and both
sides are searched again (binary segmentation), each test seeded by its segment so the result does not depend
on the order of the search.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# 3 runs on each side: one or two unlucky runs in a row (a neighbour hogging the machine for an evening) are
# not a step; the cost is that a step is confirmed at the earliest by the third run after it.
MIN_SEGMENT = 3
# 1%: with per-test permutation p-values, about 1 flat series in 100 shows a false change (history_sim.py).
ALPHA = 0.01
# 999 permutations resolve p-values down to 0.001, well below ALPHA, in a few ms for hundreds of runs.
PERMUTATIONS = 999
CONFIDENCE = 0.95


@dataclass(frozen=True)
class ChangePoint:
    """A step at `index`: values[index] is the first run of the new level."""

    index: int
    p_value: float
    statistic: float


@dataclass(frozen=True)
class StepSize:
    """after / before as a ratio of geometric means, with its confidence interval (Welch t on logs)."""

    ratio: float
    low: float
    high: float
    median_before: float
    median_after: float
    n_before: int
    n_after: int


def _split_statistics(x: Any, min_size: int) -> Any:
    """B(t) for every split t in [min_size, n − min_size], for each row of x (shape (k, n))."""
    import numpy as np

    n = x.shape[1]
    cums = np.cumsum(x, axis=1)
    total = cums[:, -1:]
    t = np.arange(min_size, n - min_size + 1)
    left = cums[:, t - 1] / t
    right = (total - cums[:, t - 1]) / (n - t)
    return (t * (n - t) / n) * (right - left) ** 2


def _test_segment(values: Any, min_size: int, permutations: int, seed: list[int]) -> tuple[int, float, float] | None:
    """(split index, p-value, statistic) of the best split of one segment, or None if it is too short."""
    import numpy as np

    n = len(values)
    if n < 2 * min_size:
        return None
    x = values - values.mean()  # B(t) does not depend on the level; centring keeps cumulative sums exact
    observed = _split_statistics(x[None, :], min_size)[0]
    best = int(np.argmax(observed))
    stat = float(observed[best])
    if not stat > 0:
        return None  # a constant segment
    rng = np.random.default_rng(seed)
    shuffled = rng.permuted(np.broadcast_to(x, (permutations, n)), axis=1)
    maxima = _split_statistics(shuffled, min_size).max(axis=1)
    # Ties within rounding count as reaching the observed value: a permutation equal to the data is no evidence.
    reached = int(np.count_nonzero(maxima >= stat * (1 - 1e-12)))
    return min_size + best, (1 + reached) / (permutations + 1), stat


def detect_change_points(
    values: Sequence[float],
    *,
    alpha: float = ALPHA,
    min_size: int = MIN_SEGMENT,
    permutations: int = PERMUTATIONS,
    seed: int = 0,
) -> list[ChangePoint]:
    """Change points of a series of positive estimates (e.g. per-run medians), in index order.

    Deterministic for a given `seed`. Non-positive or non-finite values are a bug in the caller (ValueError).
    """
    import numpy as np

    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or not np.all(np.isfinite(data)) or np.any(data <= 0):
        raise ValueError("change-point detection needs a 1-D series of positive, finite values")
    if min_size < 1 or permutations < 1 or not 0 < alpha < 1:
        raise ValueError(f"bad settings: min_size={min_size}, permutations={permutations}, alpha={alpha}")
    logs = np.log(data)
    found: list[ChangePoint] = []
    pending = [(0, len(logs))]
    while pending:
        start, stop = pending.pop()
        # Seeded by the segment, so that each test's permutations do not depend on which segment came first.
        result = _test_segment(logs[start:stop], min_size, permutations, [seed, start, stop])
        if result is None or result[1] > alpha:
            continue
        split, p_value, stat = result
        found.append(ChangePoint(start + split, p_value, stat))
        pending.extend([(start, start + split), (start + split, stop)])
    return sorted(found, key=lambda c: c.index)


def step_size(before: Sequence[float], after: Sequence[float], confidence: float = CONFIDENCE) -> StepSize:
    """The step from the `before` segment to the `after` one, as a ratio with a CI.

    On logs, the difference of means with Welch's t interval, turned back into a ratio: runs of one level are a
    few noisy estimates, for which a t interval is honest where a bootstrap of 3 values is not. With fewer than
    2 values on a side, or no spread at all, the interval is the point.
    """
    import numpy as np

    a = np.log(np.asarray(before, dtype=np.float64))
    b = np.log(np.asarray(after, dtype=np.float64))
    if a.size == 0 or b.size == 0:
        raise ValueError("step_size needs values on both sides")
    diff = float(b.mean() - a.mean())
    low = high = diff
    if a.size >= 2 and b.size >= 2:
        va, vb = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
        se = math.sqrt(va + vb)
        if se > 0:
            from scipy import stats

            dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
            margin = float(stats.t.ppf(0.5 + confidence / 2, dof)) * se
            low, high = diff - margin, diff + margin
    return StepSize(
        ratio=math.exp(diff),
        low=math.exp(low),
        high=math.exp(high),
        median_before=float(np.median(np.exp(a))),
        median_after=float(np.median(np.exp(b))),
        n_before=int(a.size),
        n_after=int(b.size),
    )
