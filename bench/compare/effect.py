"""The effect of NEW against BASE in one cell: a ratio of geometric means with a log-scale CI, a permutation test.

Pure numpy/scipy, no I/O. The statistical unit is the worker process: one median per process, in ms. The medians
of different processes of one cell differ by 1.6-4.6% on a quiet machine (memory layout, placement, thread pool)
while one process's median is known to ±0.3-0.5%, so the ~700 samples of a cell are not 700 independent
observations; a test on pooled samples would flag process-placement luck as a change.

Latency is a positive, multiplicative quantity (a slowdown is "10% slower", not "+0.4 ms"), so the tests run on
log medians: the difference of their means is the log of the ratio of geometric means, and the between-process
spread of log medians is a relative spread (0.03 ≈ 3%). This is the bioequivalence recipe (ratio of geometric
means, CI on the log scale, judged against limits around 1), with processes in place of subjects.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, NamedTuple

import numpy as np

# Enumerate every split of the pooled processes up to this many (10 vs 10 is C(20, 10) = 184,756 splits, about
# 15 MB of indices and 10 ms per test); beyond it, a seeded Monte Carlo over random splits.
PERMUTATION_EXACT_LIMIT = 200_000
# A Monte Carlo p-value of (hits + 1) / (resamples + 1) is valid (never below the exact one in expectation);
# 20,000 splits put its standard error under 0.0016 at p = 0.05.
PERMUTATION_RESAMPLES = 20_000
PERMUTATION_SEED = 0

Alternative = Literal["two-sided", "greater", "less"]


class WelchResult(NamedTuple):
    """Welch's t on log values, NEW minus BASE: difference of means, its CI, p-values, Welch–Satterthwaite df."""

    diff: float
    low: float
    high: float
    p_two_sided: float
    p_greater: float  # H1: NEW slower
    p_less: float  # H1: NEW faster
    df: float


@dataclass(frozen=True)
class Effect:
    """NEW/BASE on per-process medians: ratio of geometric means, its CI, one-sided p-values of both tests.

    A regression is a one-sided claim ("NEW is slower"), an improvement the other; each is tested at α on its
    own, so the interval that matches them is the (1 - 2α) one (90% for α = 0.05): its lower bound is above 1
    exactly when Welch's one-sided test for "slower" is significant.
    """

    ratio: float
    ci_low: float
    ci_high: float
    confidence: float
    # Welch t-test on log medians, one-sided both ways, and its Welch–Satterthwaite degrees of freedom
    welch_p_slower: float
    welch_p_faster: float
    df: float
    # exact (or seeded Monte Carlo) permutation test of the difference of mean log medians, one-sided both ways
    permutation_p_slower: float
    permutation_p_faster: float
    permutation_exact: bool
    base_geomean_ms: float
    new_geomean_ms: float
    # sample standard deviation of log medians per arm (≈ relative between-process spread)
    base_spread: float
    new_spread: float
    base_processes: int
    new_processes: int
    # A paired effect (measure_paired_effect, an `effbench ab` run): the t fields above hold the paired t-test on
    # the per-block log ratios (df = blocks - 1) and the permutation fields the exact sign-flip test, and
    # pair_spread is the standard deviation of the per-block log ratios.
    paired: bool = False
    pair_spread: float | None = None

    @property
    def p_slower(self) -> float:
        """p-value for "NEW is slower": significant only when the t-test and its distribution-free guard agree."""
        return max(self.welch_p_slower, self.permutation_p_slower)

    @property
    def p_faster(self) -> float:
        return max(self.welch_p_faster, self.permutation_p_faster)

    @property
    def p_value(self) -> float:
        """The one-sided p-value in the direction of the observed change (slower if ratio ≥ 1)."""
        return self.p_slower if self.ratio >= 1.0 else self.p_faster

    @property
    def pooled_spread(self) -> float:
        """Pooled standard deviation of log medians of both arms (what a power calculation needs). Paired, the
        per-arm spread that gives the same standard error in the two-sample formula: the spread of the log
        ratios / √2 (a difference of two independent values has √2 times their spread)."""
        if self.paired and self.pair_spread is not None:
            return self.pair_spread / math.sqrt(2.0)
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


def welch_t(log_base: np.ndarray, log_new: np.ndarray, confidence: float) -> WelchResult:
    """Welch's t on log values, NEW minus BASE, with a two-sided `confidence` interval. At least 2 per arm.

    Welch–Satterthwaite df because the arms may differ in spread (a busier run, another runtime) and in process
    count. When every process of both arms gave the same median (a deterministic fake) the difference is exact.
    """
    from scipy import stats as sps

    n_a, n_b = log_base.size, log_new.size
    if n_a < 2 or n_b < 2:
        raise ValueError("Welch's t needs at least 2 processes per arm")
    diff = float(log_new.mean() - log_base.mean())
    var_a = float(log_base.var(ddof=1)) / n_a
    var_b = float(log_new.var(ddof=1)) / n_b
    se2 = var_a + var_b
    if se2 <= 0.0:
        greater = 0.0 if diff > 0.0 else 1.0
        less = 0.0 if diff < 0.0 else 1.0
        return WelchResult(diff, diff, diff, min(greater, less) if diff else 1.0, greater, less, math.inf)
    df = se2**2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    se = math.sqrt(se2)
    t_crit = float(sps.t.ppf(0.5 + confidence / 2.0, df))
    t_stat = diff / se
    return WelchResult(
        diff=diff,
        low=diff - t_crit * se,
        high=diff + t_crit * se,
        p_two_sided=float(2.0 * sps.t.sf(abs(t_stat), df)),
        p_greater=float(sps.t.sf(t_stat, df)),
        p_less=float(sps.t.cdf(t_stat, df)),
        df=df,
    )


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


def _split_differences(
    pooled: np.ndarray, n_new: int, exact_limit: int, resamples: int, seed: int
) -> tuple[np.ndarray, bool]:
    """NEW-minus-BASE differences of means over every split of `pooled` (exact) or over seeded random ones."""
    n = pooled.size
    n_base = n - n_new
    total = float(pooled.sum())
    # The difference of means of a split is determined by the sum of the values put in the NEW arm.
    if math.comb(n, n_new) <= exact_limit:
        new_sums = pooled[_all_splits(n, n_new)].sum(axis=1)
        return new_sums / n_new - (total - new_sums) / n_base, True
    rng = np.random.default_rng(seed)
    parts = []
    for start in range(0, resamples, 2_000):
        size = min(2_000, resamples - start)
        chosen = np.argsort(rng.random((size, n)), axis=1)[:, :n_new]
        new_sums = pooled[chosen].sum(axis=1)
        parts.append(new_sums / n_new - (total - new_sums) / n_base)
    return np.concatenate(parts), False


def _tail_share(diffs: np.ndarray, observed: float, alternative: Alternative, exact: bool, tolerance: float) -> float:
    if alternative == "greater":
        hits = int(np.count_nonzero(diffs >= observed - tolerance))
    elif alternative == "less":
        hits = int(np.count_nonzero(diffs <= observed + tolerance))
    else:
        hits = int(np.count_nonzero(np.abs(diffs) >= abs(observed) - tolerance))
    return hits / diffs.size if exact else (hits + 1) / (diffs.size + 1)


def permutation_p_values(
    base: Sequence[float] | np.ndarray,
    new: Sequence[float] | np.ndarray,
    *,
    exact_limit: int = PERMUTATION_EXACT_LIMIT,
    resamples: int = PERMUTATION_RESAMPLES,
    seed: int = PERMUTATION_SEED,
) -> tuple[dict[Alternative, float], bool]:
    """Permutation tests of the difference of means NEW - BASE: ({alternative: p-value}, exact?).

    Under "no change" the processes of both arms are exchangeable, so every split of the pooled values into
    arms of the observed sizes is equally likely; p is the share of splits at least as extreme as the observed
    one (which is among them). Exact over all splits up to `exact_limit` of them, else (hits + 1) / (resamples + 1)
    over seeded random splits, so the same numbers always give the same p. Fully separated 3 vs 3 gives 1/20 one-
    sided and 2/20 two-sided: three processes per arm can never reach p < 0.05.
    """
    a = np.asarray(base, dtype=np.float64)
    b = np.asarray(new, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1 or a.size < 1 or b.size < 1:
        raise ValueError("a permutation test needs a flat sequence of at least one value per arm")
    pooled = np.concatenate([a, b])
    observed = float(b.mean() - a.mean())
    # Equal splits reached in floating point through different sums count as "at least as extreme".
    tolerance = 1e-12 * max(1.0, float(np.abs(pooled).max()))
    diffs, exact = _split_differences(pooled, b.size, exact_limit, resamples, seed)
    alternatives: tuple[Alternative, ...] = ("two-sided", "greater", "less")
    return {alt: _tail_share(diffs, observed, alt, exact, tolerance) for alt in alternatives}, exact


def permutation_p_value(
    base: Sequence[float] | np.ndarray,
    new: Sequence[float] | np.ndarray,
    *,
    alternative: Alternative = "two-sided",
    exact_limit: int = PERMUTATION_EXACT_LIMIT,
    resamples: int = PERMUTATION_RESAMPLES,
    seed: int = PERMUTATION_SEED,
) -> tuple[float, bool]:
    """One permutation p-value (see permutation_p_values): "greater" tests NEW > BASE. Returns (p, exact?)."""
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"unknown alternative '{alternative}'; use two-sided, greater or less")
    p_values, exact = permutation_p_values(base, new, exact_limit=exact_limit, resamples=resamples, seed=seed)
    return p_values[alternative], exact


def _effect(
    test: Any,
    permutation: Mapping[Any, float],  # keyed by alternative: "greater", "less"
    exact: bool,
    log_base: np.ndarray,
    log_new: np.ndarray,
    confidence: float,
    pair_spread: float | None = None,
) -> Effect:
    """An Effect from a t-test on logs (Welch's, or the paired one) and its distribution-free guard."""
    return Effect(
        ratio=math.exp(test.diff),
        ci_low=math.exp(test.low),
        ci_high=math.exp(test.high),
        confidence=confidence,
        welch_p_slower=test.p_greater,
        welch_p_faster=test.p_less,
        df=test.df,
        permutation_p_slower=permutation["greater"],
        permutation_p_faster=permutation["less"],
        permutation_exact=exact,
        base_geomean_ms=float(np.exp(log_base.mean())),
        new_geomean_ms=float(np.exp(log_new.mean())),
        base_spread=float(log_base.std(ddof=1)),
        new_spread=float(log_new.std(ddof=1)),
        base_processes=int(log_base.size),
        new_processes=int(log_new.size),
        paired=pair_spread is not None,
        pair_spread=pair_spread,
    )


def measure_effect(
    base_medians_ms: Sequence[float],
    new_medians_ms: Sequence[float],
    *,
    confidence: float = 0.90,
    exact_limit: int = PERMUTATION_EXACT_LIMIT,
    resamples: int = PERMUTATION_RESAMPLES,
    seed: int = PERMUTATION_SEED,
) -> Effect:
    """NEW/BASE effect on per-process medians (ms), at least 2 processes per arm.

    ratio = geomean(new) / geomean(base); [ci_low, ci_high] = exp of Welch's two-sided `confidence` interval for
    the difference of mean log medians (0.90 by default: the interval of one-sided tests at 0.05).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    log_base = log_medians(base_medians_ms)
    log_new = log_medians(new_medians_ms)
    welch = welch_t(log_base, log_new, confidence)
    perm, exact = permutation_p_values(log_base, log_new, exact_limit=exact_limit, resamples=resamples, seed=seed)
    return _effect(welch, perm, exact, log_base, log_new, confidence)


def p90_ratio(
    base_p90s_ms: Sequence[float] | None,
    base_samples: Sequence[int] | None,
    new_p90s_ms: Sequence[float] | None,
    new_samples: Sequence[int] | None,
) -> float | None:
    """NEW/BASE ratio of geometric means of per-process p90s, or None unless every process of both arms has at
    least MLPerf's minimum for a p90 bound (64 samples at 99%, from bench.engine.stats): a p90 of fewer samples is one
    of the few slowest samples, not a percentile."""
    from bench.engine.stats import early_stopping_min_samples

    if not base_p90s_ms or not new_p90s_ms or base_samples is None or new_samples is None:
        return None
    if len(base_samples) != len(base_p90s_ms) or len(new_samples) != len(new_p90s_ms):
        return None
    need = early_stopping_min_samples(0.90, 0.99)
    if min(*base_samples, *new_samples) < need:
        return None
    return geometric_mean(new_p90s_ms) / geometric_mean(base_p90s_ms)


# ------------------------------------------------------------------------------------------ paired blocks

# 2^16 = 65,536 sign vectors of 16 blocks enumerate in a few ms; beyond, a seeded Monte Carlo over random flips.
SIGN_FLIP_EXACT_BLOCKS = 16


def paired_t(log_ratios: np.ndarray, confidence: float) -> WelchResult:
    """One-sample t on per-block log ratios (NEW over BASE): mean, its two-sided `confidence` CI, p-values, df.

    Every block differing by the same ratio (a deterministic fake) makes the difference exact: zero width."""
    from scipy import stats as sps

    n = log_ratios.size
    if n < 2:
        raise ValueError("a paired t-test needs at least 2 blocks")
    diff = float(log_ratios.mean())
    se = float(log_ratios.std(ddof=1)) / math.sqrt(n)
    if se <= 0.0:
        greater = 0.0 if diff > 0.0 else 1.0
        less = 0.0 if diff < 0.0 else 1.0
        return WelchResult(diff, diff, diff, min(greater, less) if diff else 1.0, greater, less, float(n - 1))
    t_crit = float(sps.t.ppf(0.5 + confidence / 2.0, n - 1))
    t_stat = diff / se
    return WelchResult(
        diff=diff,
        low=diff - t_crit * se,
        high=diff + t_crit * se,
        p_two_sided=float(2.0 * sps.t.sf(abs(t_stat), n - 1)),
        p_greater=float(sps.t.sf(t_stat, n - 1)),
        p_less=float(sps.t.cdf(t_stat, n - 1)),
        df=float(n - 1),
    )


@lru_cache(maxsize=4)
def _all_signs(n: int) -> np.ndarray:
    """Every ±1 vector of length n, one row each (2^n rows)."""
    codes = np.arange(2**n, dtype=np.int64)[:, None] >> np.arange(n, dtype=np.int64)[None, :]
    signs = np.where(codes & 1, -1.0, 1.0)
    signs.setflags(write=False)
    return signs


def sign_flip_p_values(
    log_ratios: Sequence[float] | np.ndarray,
    *,
    exact_blocks: int = SIGN_FLIP_EXACT_BLOCKS,
    resamples: int = PERMUTATION_RESAMPLES,
    seed: int = PERMUTATION_SEED,
) -> tuple[dict[Alternative, float], bool]:
    """Sign-flip permutation tests of the mean per-block log ratio: ({alternative: p-value}, exact?).

    Under "no change" the two processes of a block are exchangeable, so each block's log ratio is as likely
    negated; p is the share of the 2^n sign patterns whose mean is at least as extreme as the observed one (which
    is among them). Exact up to `exact_blocks` blocks, else (hits + 1) / (resamples + 1) over seeded random
    flips. 5 blocks all slower give 1/32 one-sided: fewer than 5 blocks can never reach p < 0.05.
    """
    d = np.asarray(log_ratios, dtype=np.float64)
    if d.ndim != 1 or d.size < 1:
        raise ValueError("a sign-flip test needs a flat sequence of at least one block")
    observed = float(d.mean())
    tolerance = 1e-12 * max(1.0, float(np.abs(d).max()))
    exact = d.size <= exact_blocks
    if exact:
        means = _all_signs(d.size) @ d / d.size
    else:
        rng = np.random.default_rng(seed)
        means = np.concatenate(
            [
                np.where(rng.random((min(2_000, resamples - start), d.size)) < 0.5, -1.0, 1.0) @ d / d.size
                for start in range(0, resamples, 2_000)
            ]
        )
    alternatives: tuple[Alternative, ...] = ("two-sided", "greater", "less")
    return {alt: _tail_share(means, observed, alt, exact, tolerance) for alt in alternatives}, exact


def measure_paired_effect(
    base_medians_ms: Sequence[float],
    new_medians_ms: Sequence[float],
    *,
    confidence: float = 0.90,
    exact_blocks: int = SIGN_FLIP_EXACT_BLOCKS,
    resamples: int = PERMUTATION_RESAMPLES,
    seed: int = PERMUTATION_SEED,
) -> Effect:
    """NEW/BASE effect of an interleaved A/B run: process i of each arm form block i (at least 2 blocks).

    The blocks ran back to back on the same CPUs, so whatever the machine did at that moment (a slow drift,
    another tenant) hits both processes of a block alike; the log ratio log(new_i / base_i) cancels it, and
    the test runs on those ratios instead of on two independent samples. ratio = exp(mean log ratio) (the ratio
    of geometric means, as unpaired); [ci_low, ci_high] = exp of the paired t's two-sided `confidence` interval;
    the exact sign-flip test is the distribution-free guard, as the permutation test is for Welch.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    log_base = log_medians(base_medians_ms)
    log_new = log_medians(new_medians_ms)
    if log_base.size != log_new.size:
        raise ValueError(f"a paired effect needs as many processes in each arm, got {log_base.size} and {log_new.size}")
    ratios = log_new - log_base
    test = paired_t(ratios, confidence)
    flips, exact = sign_flip_p_values(ratios, exact_blocks=exact_blocks, resamples=resamples, seed=seed)
    return _effect(test, flips, exact, log_base, log_new, confidence, pair_spread=float(ratios.std(ddof=1)))
