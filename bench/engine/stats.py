"""Summary statistics of latency samples: percentiles, distribution-free CIs, MLPerf early stopping, warnings.

Pure numpy/scipy, no I/O. Inputs are raw samples in integer nanoseconds, one sequence per worker process;
outputs are in milliseconds.

Percentiles use numpy's default estimator (linear interpolation between order statistics, Hyndman & Fan
type 7), so the median of [1, 2, 3, 4] ns is 2.5 ns. Confidence intervals are distribution-free:
latency samples are skewed and heavy-tailed, so intervals that assume normality would be wrong exactly where
it matters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

from bench.document import Summary

NS_PER_MS = 1e6

# p99.9 from fewer than 1000 samples is the maximum or an interpolation towards it, not a percentile.
P999_MIN_SAMPLES = 1000

# Thresholds of sample_warnings(); each is explained where it is used.
CV_WARN = 0.10
TAIL_RATIO_WARN = 1.5
DRIFT_WARN = 0.03
DRIFT_MIN_SAMPLES = 20
DRIFT_P_VALUE = 0.01
PROCESS_DISAGREE_WARN = 0.05

# Bootstrap cost is resamples x pooled samples; above this budget the number of resamples is reduced
# (never below BOOTSTRAP_MIN_RESAMPLES) so that summarizing a long run stays around a second.
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_MIN_RESAMPLES = 400
BOOTSTRAP_BUDGET = 50_000_000


def _as_groups(per_process_samples_ns: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Non-empty per-process arrays (float64 ns); a crashed process with no samples is left out."""
    if isinstance(per_process_samples_ns, (str, bytes)) or not isinstance(per_process_samples_ns, Sequence):
        raise TypeError("expected one sequence of samples (ns) per process")
    groups = []
    for process in per_process_samples_ns:
        if isinstance(process, (int, float, np.integer, np.floating)):
            raise TypeError("expected one sequence of samples (ns) per process, got a flat list of numbers")
        arr = np.asarray(process, dtype=np.float64)
        if arr.ndim != 1:
            raise ValueError("each process's samples must be a flat sequence of nanoseconds")
        if arr.size == 0:
            continue
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError("samples must be finite, non-negative nanoseconds")
        groups.append(arr)
    return groups


def _order_statistic_ranks(n: int, q: float, confidence: float) -> tuple[int, int] | None:
    """1-based ranks (l, u) with P(x_(l) <= quantile_q < x_(u)) >= confidence, or None if n is too small.

    The number of samples below the true q-quantile is Binomial(n, q), so
    P(x_(l) <= xi_q < x_(u)) = F(u - 1) - F(l - 1) with F the binomial CDF. Each tail gets at most
    (1 - confidence) / 2; the interval is the narrowest with that property.
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile must be strictly between 0 and 1, got {q}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    if n < 1:
        return None
    alpha_half = (1.0 - confidence) / 2.0
    cdf = sps.binom.cdf(np.arange(n + 1), n, q)  # cdf[k] = P(K <= k)
    # Largest l >= 1 with F(l - 1) <= alpha/2: cdf is increasing, count how many k have cdf[k] <= alpha/2.
    lower = int(np.searchsorted(cdf, alpha_half, side="right"))  # = number of k with cdf[k] <= alpha/2
    # Smallest u <= n with F(u - 1) >= 1 - alpha/2.
    upper = int(np.searchsorted(cdf, 1.0 - alpha_half, side="left")) + 1
    if lower < 1 or upper > n:
        return None
    return lower, upper


def quantile_ci(values: Sequence[float] | np.ndarray, q: float, confidence: float = 0.95) -> tuple[float, float] | None:
    """Distribution-free confidence interval for the q-quantile, from two order statistics.

    Returns (lo, hi) in the units of `values`, or None when there are too few values for any pair of order
    statistics to reach the confidence (e.g. fewer than 6 values for a 95% median interval).
    """
    arr = np.sort(np.asarray(values, dtype=np.float64))
    ranks = _order_statistic_ranks(arr.size, q, confidence)
    if ranks is None:
        return None
    lower, upper = ranks
    return float(arr[lower - 1]), float(arr[upper - 1])


def median_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float] | None:
    """Distribution-free confidence interval for the median (see quantile_ci)."""
    return quantile_ci(values, 0.5, confidence)


def _hierarchical_bootstrap_ci(
    groups: list[np.ndarray],
    qs: Sequence[float],
    confidence: float,
    resamples: int,
    seed: int,
) -> list[tuple[float, float]]:
    """Percentile-bootstrap CIs of pooled quantiles, resampling processes, then samples within each.

    Processes are the independent units: each fresh process gets its own memory layout (ASLR), page
    placement and runtime thread pool, so samples of one process are correlated. A CI that pools all
    samples as if independent is too narrow when processes disagree; resampling processes first carries that
    between-process variation into the interval.
    """
    rng = np.random.default_rng(seed)
    total = sum(g.size for g in groups)
    resamples = max(min(resamples, BOOTSTRAP_BUDGET // max(total, 1)), min(resamples, BOOTSTRAP_MIN_RESAMPLES))
    k = len(groups)
    out = np.empty((resamples, len(qs)))
    for b in range(resamples):
        chosen = rng.integers(0, k, size=k)
        pooled = np.concatenate([groups[i][rng.integers(0, groups[i].size, size=groups[i].size)] for i in chosen])
        out[b] = np.quantile(pooled, qs)
    alpha = 1.0 - confidence
    lo = np.quantile(out, alpha / 2.0, axis=0)
    hi = np.quantile(out, 1.0 - alpha / 2.0, axis=0)
    return [(float(a), float(b)) for a, b in zip(lo, hi, strict=True)]


def _early_stopping_passing(n: int, percentile: float, confidence: float) -> int:
    """LoadGen's t: the number of slowest samples one may treat as "over the bound" (0 if n is too small).

    LoadGen (loadgen/early_stopping.cc, results.cc) counts a query as over-latency when it is slower than
    the bound; with h queries under and t over, the bound is accepted when
    P(at most t over | h + t queries, each over with probability 1 - percentile) < 1 - confidence,
    i.e. BetaRegularized(percentile, h, 1 + t) < 1 - confidence. For a run of n queries it takes the
    largest t for which n queries suffice (t >= 1 is required: n below that is "too few queries").
    That CDF grows with t for fixed n, so the passing t form a prefix and the largest is a count.
    """
    if not 0.0 < percentile < 1.0:
        raise ValueError(f"percentile must be strictly between 0 and 1, got {percentile}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    if n < 2:
        return 0
    cdf = sps.binom.cdf(np.arange(n + 1), n, 1.0 - percentile)
    passing = int(np.count_nonzero(cdf < 1.0 - confidence))  # t = 0 .. passing - 1 pass
    return max(passing - 1, 0)


def early_stopping_min_samples(percentile: float = 0.90, confidence: float = 0.99) -> int:
    """Fewest samples for which LoadGen's early-stopping rule gives a bound (64 for p90 at 99%)."""
    # The rule needs t = 1 to pass: P(K <= 1) < 1 - confidence with K ~ Binomial(n, 1 - percentile),
    # which decreases with n. Double, then bisect.
    _early_stopping_passing(2, percentile, confidence)  # validates the arguments

    def ok(n: int) -> bool:
        return bool(sps.binom.cdf(1, n, 1.0 - percentile) < 1.0 - confidence)

    hi = 2
    while not ok(hi):
        hi *= 2
        if hi > 1 << 40:
            raise ValueError(f"no sample count reaches {confidence} confidence for percentile {percentile}")
    lo = hi // 2
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def early_stopping_discarded(n: int, percentile: float = 0.90, confidence: float = 0.99) -> int | None:
    """How many of the slowest samples LoadGen's rule discards for n samples ("Would discard N highest").

    None when n is below early_stopping_min_samples().
    """
    t = _early_stopping_passing(n, percentile, confidence)
    return t - 1 if t >= 1 else None


def early_stopping_bound(
    values: Sequence[float] | np.ndarray, percentile: float = 0.90, confidence: float = 0.99
) -> float | None:
    """MLPerf LoadGen's early-stopping estimate: an upper bound on the percentile at the given confidence.

    The sorted values with the slowest t - 1 discarded; the next one is the bound (LoadGen's
    sample_latencies[n - t]). None when there are too few values for the rule.
    """
    arr = np.sort(np.asarray(values, dtype=np.float64))
    t = _early_stopping_passing(arr.size, percentile, confidence)
    if t < 1:
        return None
    return float(arr[arr.size - t])


def _ms(value_ns: float) -> float:
    return float(value_ns) / NS_PER_MS


def _ci_ms(ci: tuple[float, float] | None) -> tuple[float, float] | None:
    return None if ci is None else (_ms(ci[0]), _ms(ci[1]))


def summarize(
    per_process_samples_ns: Sequence[Sequence[int]],
    *,
    confidence: float = 0.95,
    bootstrap_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Summary:
    """Summary of one cell's samples (one sequence of ns per process), all times in ms (bench.document.Summary).

    Fields: confidence, n, processes, samples_per_process, median_ms, mean_ms, std_ms, min_ms, max_ms, p90_ms, p99_ms,
    p999_ms (None below 1000 samples), median_ci95_ms, p90_ci95_ms ((lo, hi) or None when too few samples; at
    `confidence`, 95% by default, whatever the key says),
    ci_method, median_ci95_pooled_ms, p90_ci95_pooled_ms, median_ci_rel_halfwidth, p90_early_stop_ub_ms
    (None below 64 samples), early_stop_discarded, process_medians_ms, process_spread_rel, cv.

    With one process the CIs are the order-statistic intervals of quantile_ci (ci_method
    "order-statistic"). With several they come from a hierarchical bootstrap (processes, then samples within
    each; ci_method "hierarchical-bootstrap", seeded so the same samples give the same summary); the pooled
    order-statistic intervals, which treat every sample as independent and are therefore too narrow when
    processes disagree, are kept as *_pooled_ms for comparison. The early-stopping bound pools all samples, as
    LoadGen does.
    """
    groups = _as_groups(per_process_samples_ns)
    if not groups:
        raise ValueError("no samples to summarize (every process is empty)")
    pooled = np.concatenate(groups)
    n = int(pooled.size)
    median, p90, p99, p999 = np.quantile(pooled, [0.5, 0.9, 0.99, 0.999])
    mean = float(np.mean(pooled))
    std = float(np.std(pooled, ddof=1)) if n >= 2 else None

    median_pooled = quantile_ci(pooled, 0.5, confidence)
    p90_pooled = quantile_ci(pooled, 0.9, confidence)
    if len(groups) > 1:
        ci_method = "hierarchical-bootstrap"
        median_ci_ns, p90_ci_ns = _hierarchical_bootstrap_ci(groups, (0.5, 0.9), confidence, bootstrap_resamples, seed)
        median_ci: tuple[float, float] | None = median_ci_ns
        p90_ci: tuple[float, float] | None = p90_ci_ns
    else:
        ci_method = "order-statistic"
        median_ci, p90_ci = median_pooled, p90_pooled

    process_medians = [float(np.median(g)) for g in groups]
    centre = float(np.median(process_medians))
    spread = (max(process_medians) - min(process_medians)) / centre if centre > 0 else 0.0
    halfwidth = None
    if median_ci is not None and median > 0:
        halfwidth = (median_ci[1] - median_ci[0]) / 2.0 / float(median)
    ub = early_stopping_bound(pooled, 0.90, 0.99)

    return Summary(
        confidence=confidence,
        n=n,
        processes=len(groups),
        samples_per_process=tuple(int(g.size) for g in groups),
        median_ms=_ms(median),
        mean_ms=_ms(mean),
        std_ms=None if std is None else _ms(std),
        min_ms=_ms(pooled.min()),
        max_ms=_ms(pooled.max()),
        p90_ms=_ms(p90),
        p99_ms=_ms(p99),
        p999_ms=_ms(p999) if n >= P999_MIN_SAMPLES else None,
        median_ci95_ms=_ci_ms(median_ci),
        p90_ci95_ms=_ci_ms(p90_ci),
        ci_method=ci_method,
        median_ci95_pooled_ms=_ci_ms(median_pooled),
        p90_ci95_pooled_ms=_ci_ms(p90_pooled),
        median_ci_rel_halfwidth=halfwidth,
        p90_early_stop_ub_ms=None if ub is None else _ms(ub),
        early_stop_discarded=early_stopping_discarded(n, 0.90, 0.99),
        process_medians_ms=tuple(_ms(m) for m in process_medians),
        process_spread_rel=spread,
        cv=None if std is None or mean <= 0 else std / mean,
    )


def _pct(x: float) -> str:
    return f"{x * 100:+.0f}%" if abs(x) >= 0.01 else f"{x * 100:+.1f}%"


def sample_warnings(per_process_samples_ns: Sequence[Sequence[int]]) -> list[str]:
    """Plain-language problems with a cell's samples, each with what to do about it.

    Checks: too few samples for the p90 bound; high variation (CV); a heavy slow tail; a trend within a
    process (the run drifted); processes whose medians disagree. Returns [] when nothing looks wrong.
    """
    groups = _as_groups(per_process_samples_ns)
    if not groups:
        return ["no samples were recorded: every worker process failed or was stopped; see the cell's error"]
    return [*_spread_warnings(np.concatenate(groups)), *_drift_warnings(groups), *_disagreement_warnings(groups)]


def _spread_warnings(pooled: np.ndarray) -> list[str]:
    """Too few samples, too much variation, a heavy slow tail: the pooled samples' warnings."""
    warnings: list[str] = []
    n = pooled.size
    need = early_stopping_min_samples(0.90, 0.99)
    if n < need:
        warnings.append(
            f"only {n} samples: the p90 and its early-stopping bound need at least {need}; "
            "measure for longer (a longer preset, or more processes)"
        )

    median = float(np.median(pooled))
    if n >= 2 and median > 0:
        mean = float(np.mean(pooled))
        cv = float(np.std(pooled, ddof=1)) / mean
        # Batch-1 inference on a pinned, quiet CPU typically varies by 1-3%; 10% means interference.
        if cv > CV_WARN:
            warnings.append(
                f"samples vary widely (CV {cv * 100:.0f}%): other programs may be competing for the CPU or its "
                "frequency changes; close other programs, pin to an idle CPU (see `effbench system`) and set "
                "the governor to performance"
            )
        if n >= 10:
            p99 = float(np.quantile(pooled, 0.99))
            ratio = p99 / median
            # A slow tail 50% above the median comes from preemption, interrupts or page faults.
            if ratio > TAIL_RATIO_WARN:
                warnings.append(
                    f"heavy slow tail: p99 is {ratio:.1f}x the median ({p99 / NS_PER_MS:.3g} ms vs "
                    f"{median / NS_PER_MS:.3g} ms): the process was interrupted or preempted; pin to an "
                    "isolated CPU away from interrupts, or close other programs"
                )
    return warnings


def _drift_warnings(groups: list[np.ndarray]) -> list[str]:
    """One line per direction of drift, however many processes: a noisy machine should get a readable verdict,
    not a line per process (every figure is in the result file)."""
    warnings: list[str] = []
    drifts = _drifts(groups)
    for rising in (True, False):
        found = [d for d in drifts if (d[1] > 0) == rising]
        if not found:
            continue
        cause = (
            "another process may have started competing for the CPU, or the CPU is throttling; "
            "close other programs or pin to an idle CPU (see `effbench system`)"
            if rising
            else "the warm-up was too short for this model; use a longer warm-up or preset"
        )
        if len(found) == 1:
            index, drift, first, second = found[0]
            where = f" of process {index + 1}" if len(groups) > 1 else ""
            detail = f"{_pct(drift)} during the run{where} (median of the first half {first / NS_PER_MS:.3g} ms, "
            detail += f"second half {second / NS_PER_MS:.3g} ms)"
        else:
            names = ", ".join(str(d[0] + 1) for d in found)
            detail = f"during the runs of processes {names} ({', '.join(_pct(d[1]) for d in found)})"
        warnings.append(f"latency drifted {detail}: {cause}")
    return warnings


def _disagreement_warnings(groups: list[np.ndarray]) -> list[str]:
    """One line for processes whose medians disagree with the others'."""
    if len(groups) < 2:
        return []
    medians = np.array([np.median(g) for g in groups])
    outliers = []
    for index, m in enumerate(medians):
        others = float(np.median(np.delete(medians, index)))
        # Fresh processes differ by memory layout (ASLR) and placement: 1-3% is normal, 5% is not.
        if others > 0 and abs(float(m) / others - 1.0) > PROCESS_DISAGREE_WARN:
            outliers.append((index, float(m), others))
    remedy = (
        "the machine was busier during one of them or memory placement differs; re-run with more processes "
        "and check the load with `effbench system`"
    )
    if len(outliers) == 1:
        index, m, others = outliers[0]
        return [
            f"process {index + 1}'s median ({m / NS_PER_MS:.3g} ms) is {_pct(m / others - 1.0)} away from "
            f"the other processes' ({others / NS_PER_MS:.3g} ms): {remedy}"
        ]
    if outliers:
        spread = float(medians.max() / medians.min() - 1.0)
        listed = ", ".join(f"{m / NS_PER_MS:.3g}" for m in medians)
        return [f"processes disagree: medians {listed} ms (max/min {1 + spread:.2f}): {remedy}"]
    return []


def _drifts(groups: list[np.ndarray]) -> list[tuple[int, float, float, float]]:
    """Processes whose latency trends with sample index: (index, relative drift, first, second half median).

    A trend needs both a significant rank correlation with sample order (Spearman, p < 0.01) and an effect
    large enough to matter (second-half median DRIFT_WARN away from the first half): with thousands of
    samples a 0.2% trend is significant but harmless.
    """
    found = []
    for index, g in enumerate(groups):
        if g.size < DRIFT_MIN_SAMPLES or np.all(g == g[0]):
            continue
        half = g.size // 2
        first, second = float(np.median(g[:half])), float(np.median(g[half:]))
        if first <= 0:
            continue
        drift = second / first - 1.0
        if abs(drift) < DRIFT_WARN:
            continue
        rho, p_value = sps.spearmanr(np.arange(g.size), g)
        if math.isnan(float(p_value)) or float(p_value) >= DRIFT_P_VALUE or float(rho) * drift <= 0:
            continue
        found.append((index, drift, first, second))
    return found
