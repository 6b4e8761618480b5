"""The effect of NEW against BASE in one cell: a ratio of geometric means with a log-scale CI, a permutation test.

Pure numpy/scipy, no I/O. The statistical unit is the worker process: one median per process, in ms. The medians
of different processes of one cell differ by 1.6-4.6% on a quiet machine (memory layout, placement, thread pool)
while one process's median is known to ±0.3-0.5%, so the ~700 samples of a cell are not 700 independent
observations; a test on pooled samples would flag process-placement luck as a change.

Latency is a positive, multiplicative quantity (a slowdown is "10% slower", not "+0.4 ms"), so the tests run on
log medians: the difference of their means is the log of the ratio of geometric means, and the between-process
spread of log medians is a relative spread (0.03 ≈ 3%).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Enumerate every split of the pooled processes up to this many (10 vs 10 is C(20, 10) = 184,756 splits, about
# 15 MB of indices and 10 ms per test); beyond it, a seeded Monte Carlo over random splits.
PERMUTATION_EXACT_LIMIT = 200_000
# A Monte Carlo p-value of (hits + 1) / (resamples + 1) is valid (never below the exact one in expectation);
# 20,000 splits put its standard error under 0.0016 at p = 0.05.
PERMUTATION_RESAMPLES = 20_000
PERMUTATION_SEED = 0


@dataclass(frozen=True)
class Effect:
    """NEW/BASE on per-process medians: ratio of geometric means, its CI, and the two tests' p-values."""

    ratio: float
    ci_low: float
    ci_high: float
    confidence: float
    # Welch t-test on log medians (two-sided) and its Welch–Satterthwaite degrees of freedom
    welch_p: float
    df: float
    # exact (or seeded Monte Carlo) permutation test of the difference of mean log medians (two-sided)
    permutation_p: float
    permutation_exact: bool
    base_geomean_ms: float
    new_geomean_ms: float
    # sample standard deviation of log medians per arm (≈ relative between-process spread)
    base_spread: float
    new_spread: float
    base_processes: int
    new_processes: int

    @property
    def p_value(self) -> float:
        """The cell's p-value: significant only when both the t-test and its distribution-free guard agree."""
        return max(self.welch_p, self.permutation_p)

    @property
    def pooled_spread(self) -> float:
        """Pooled standard deviation of log medians of both arms (what a power calculation needs)."""
        return pooled_sd(self.base_spread, self.new_spread, self.base_processes, self.new_processes)


def log_medians(medians_ms: Sequence[float]) -> np.ndarray:
    """Natural logs of per-process medians; refuses empty, non-finite or non-positive values (a bug upstream)."""
    arr = np.asarray(medians_ms, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("expected a flat, non-empty sequence of per-process medians (ms)")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"per-process medians must be finite and positive ms, got {list(arr)}")
    return np.log(arr)


def geometric_mean(values_ms: Sequence[float]) -> float:
    return float(np.exp(np.mean(log_medians(values_ms))))


def spread(values_ms: Sequence[float]) -> float:
    """Sample standard deviation of log values (ddof 1): 0.03 means processes differ by about 3%; 0 for one."""
    logs = log_medians(values_ms)
    return float(np.std(logs, ddof=1)) if logs.size >= 2 else 0.0


def pooled_sd(sd_a: float, sd_b: float, n_a: int, n_b: int) -> float:
    dof = n_a + n_b - 2
    if dof <= 0:
        return max(sd_a, sd_b)
    return math.sqrt(((n_a - 1) * sd_a**2 + (n_b - 1) * sd_b**2) / dof)


def welch_t(log_base: np.ndarray, log_new: np.ndarray, confidence: float) -> tuple[float, float, float, float, float]:
    """Welch's t on log values: (difference NEW - BASE of means, CI low, CI high, two-sided p, df).

    The Welch–Satterthwaite df is used because the two arms may have different spreads (a busier run, another
    runtime) and different process counts. Needs at least 2 values per arm.
    """
    from scipy import stats as sps

    n_a, n_b = log_base.size, log_new.size
    if n_a < 2 or n_b < 2:
        raise ValueError("Welch's t needs at least 2 processes per arm")
    diff = float(log_new.mean() - log_base.mean())
    var_a = float(log_base.var(ddof=1)) / n_a
    var_b = float(log_new.var(ddof=1)) / n_b
    se2 = var_a + var_b
    if se2 <= 0.0:  # every process of both arms gave the same median: the difference is exact
        return diff, diff, diff, (1.0 if diff == 0.0 else 0.0), math.inf
    df = se2**2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    se = math.sqrt(se2)
    t_crit = float(sps.t.ppf(0.5 + confidence / 2.0, df))
    p = float(2.0 * sps.t.sf(abs(diff) / se, df))
    return diff, diff - t_crit * se, diff + t_crit * se, p, df


@lru_cache(maxsize=4)
def _all_splits(n_total: int, n_first: int) -> np.ndarray:
    """Every choice of n_first indices out of n_total, one row each (cached: a comparison of many cells with the
    same process counts enumerates once)."""
    count = math.comb(n_total, n_first)
    flat = np.fromiter(
        itertools.chain.from_iterable(itertools.combinations(range(n_total), n_first)),
        dtype=np.intp,
        count=count * n_first,
    )
    flat.setflags(write=False)
    return flat.reshape(count, n_first)


def permutation_p_value(
    base: Sequence[float] | np.ndarray,
    new: Sequence[float] | np.ndarray,
    *,
    exact_limit: int = PERMUTATION_EXACT_LIMIT,
    resamples: int = PERMUTATION_RESAMPLES,
    seed: int = PERMUTATION_SEED,
) -> tuple[float, bool]:
    """Two-sided permutation test of the difference of means of `new` and `base`: (p-value, exact?).

    Under "no change" the processes of both arms are exchangeable, so every split of the pooled values into
    arms of the observed sizes is equally likely; p is the share of splits whose |difference of means| is at
    least the observed one (the observed split included). Exact over all splits up to `exact_limit` of them,
    else (hits + 1) / (resamples + 1) over seeded random splits, so the same numbers always give the same p.
    Fully separated 3 vs 3 gives 2/20 = 0.1: three processes per arm can never reach p < 0.05.
    """
    a = np.asarray(base, dtype=np.float64)
    b = np.asarray(new, dtype=np.float64)
    n_a, n_b = a.size, b.size
    if n_a < 1 or n_b < 1:
        raise ValueError("a permutation test needs at least one value per arm")
    pooled = np.concatenate([a, b])
    total = float(pooled.sum())
    n = n_a + n_b
    observed = abs(float(b.mean() - a.mean()))
    # Ties (identical splits reached in floating point by different sums) count as "at least as extreme".
    tolerance = 1e-12 * max(1.0, float(np.abs(pooled).max()))
    # The difference of means of a split is determined by the sum of the values put in the NEW arm.
    splits = math.comb(n, n_b)
    if splits <= exact_limit:
        new_sums = pooled[_all_splits(n, n_b)].sum(axis=1)
        diffs = np.abs(new_sums / n_b - (total - new_sums) / n_a)
        return float(np.count_nonzero(diffs >= observed - tolerance)) / splits, True
    rng = np.random.default_rng(seed)
    hits = 0
    done = 0
    batch = 2_000
    while done < resamples:
        size = min(batch, resamples - done)
        order = np.argsort(rng.random((size, n)), axis=1)[:, :n_b]
        new_sums = pooled[order].sum(axis=1)
        diffs = np.abs(new_sums / n_b - (total - new_sums) / n_a)
        hits += int(np.count_nonzero(diffs >= observed - tolerance))
        done += size
    return (hits + 1) / (resamples + 1), False


def measure_effect(
    base_medians_ms: Sequence[float],
    new_medians_ms: Sequence[float],
    *,
    confidence: float = 0.95,
    exact_limit: int = PERMUTATION_EXACT_LIMIT,
    resamples: int = PERMUTATION_RESAMPLES,
    seed: int = PERMUTATION_SEED,
) -> Effect:
    """NEW/BASE effect on per-process medians (ms), at least 2 processes per arm.

    ratio = geomean(new) / geomean(base); [ci_low, ci_high] = exp of Welch's `confidence` interval for the
    difference of mean log medians.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    log_base = log_medians(base_medians_ms)
    log_new = log_medians(new_medians_ms)
    diff, lo, hi, welch_p, df = welch_t(log_base, log_new, confidence)
    perm_p, exact = permutation_p_value(log_base, log_new, exact_limit=exact_limit, resamples=resamples, seed=seed)
    return Effect(
        ratio=math.exp(diff),
        ci_low=math.exp(lo),
        ci_high=math.exp(hi),
        confidence=confidence,
        welch_p=welch_p,
        df=df,
        permutation_p=perm_p,
        permutation_exact=exact,
        base_geomean_ms=float(np.exp(log_base.mean())),
        new_geomean_ms=float(np.exp(log_new.mean())),
        base_spread=float(log_base.std(ddof=1)),
        new_spread=float(log_new.std(ddof=1)),
        base_processes=int(log_base.size),
        new_processes=int(log_new.size),
    )


def p90_ratio(
    base_p90s_ms: Sequence[float] | None,
    base_samples: Sequence[int] | None,
    new_p90s_ms: Sequence[float] | None,
    new_samples: Sequence[int] | None,
) -> float | None:
    """NEW/BASE ratio of geometric means of per-process p90s, or None unless every process of both arms has at
    least MLPerf's minimum for a p90 bound (64 samples at 99%, from bench.stats): a p90 of fewer samples is one
    of the few slowest samples, not a percentile."""
    from bench.stats import early_stopping_min_samples

    arms = ((base_p90s_ms, base_samples), (new_p90s_ms, new_samples))
    for p90s, samples in arms:
        if not p90s or samples is None or len(samples) != len(p90s):
            return None
    need = early_stopping_min_samples(0.90, 0.99)
    if any(n < need for _, samples in arms for n in samples or ()):
        return None
    assert base_p90s_ms is not None and new_p90s_ms is not None
    return geometric_mean(new_p90s_ms) / geometric_mean(base_p90s_ms)
