"""Known-answer tests for bench.engine.stats: percentiles, order-statistic CIs, LoadGen early stopping, warnings."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest
from scipy import special

from bench.engine.stats import (
    early_stopping_bound,
    early_stopping_discarded,
    early_stopping_min_samples,
    median_ci,
    quantile_ci,
    sample_warnings,
    summarize,
)

MS = 1_000_000  # ns per ms


def _brute_force_ranks(n: int, q: float, confidence: float) -> tuple[int, int] | None:
    """Order-statistic ranks from exact binomial sums (Fractions), independent of scipy."""
    qf = Fraction(q).limit_denominator(1000)
    tail = (1 - Fraction(confidence).limit_denominator(1000)) / 2

    # cdf[k] = P(K <= k), K ~ Binomial(n, q): the number of samples at or below the true quantile
    cdf, total = [], Fraction(0)
    for j in range(n + 1):
        total += math.comb(n, j) * qf**j * (1 - qf) ** (n - j)
        cdf.append(total)
    lows = [rank for rank in range(1, n + 1) if cdf[rank - 1] <= tail]  # P(x_(l) > xi) = F(l - 1)
    highs = [rank for rank in range(1, n + 1) if 1 - cdf[rank - 1] <= tail]  # P(x_(u) <= xi) = 1 - F(u - 1)
    if not lows or not highs:
        return None
    return max(lows), min(highs)


# ------------------------------------------------------------------------------------------- percentiles


def test_summarize_hand_computed_single_process():
    samples = [k * MS for k in range(1, 11)]  # 1..10 ms
    s = summarize([samples])
    assert s.n == 10 and s.processes == 1 and s.samples_per_process == (10,)
    assert s.confidence == 0.95
    assert s.median_ms == pytest.approx(5.5)
    assert s.mean_ms == pytest.approx(5.5)
    assert s.min_ms == 1.0 and s.max_ms == 10.0
    assert s.p90_ms == pytest.approx(9.1)  # linear interpolation: 9 + 0.1 * (10 - 9)
    assert s.p99_ms == pytest.approx(9.91)
    assert s.p999_ms is None  # fewer than 1000 samples
    assert s.std_ms == pytest.approx(math.sqrt(sum((k - 5.5) ** 2 for k in range(1, 11)) / 9))
    assert s.std_ms is not None and s.cv == pytest.approx(s.std_ms / 5.5)
    assert s.ci_method == "order-statistic"
    assert s.median_ci95_ms == (2.0, 9.0)  # ranks 2 and 9 for n = 10 (classic table)
    assert s.median_ci95_pooled_ms == s.median_ci95_ms
    assert s.median_ci_rel_halfwidth == pytest.approx((9 - 2) / 2 / 5.5)
    assert s.p90_ci95_ms is None  # 10 samples cannot bound the p90 at 95%
    assert s.p90_early_stop_ub_ms is None and s.early_stop_discarded is None
    assert s.process_medians_ms == (pytest.approx(5.5),) and s.process_spread_rel == 0.0


def test_summarize_at_another_confidence():
    samples = [k * MS for k in range(1, 21)]
    s = summarize([samples], confidence=0.99)
    assert s.confidence == 0.99
    assert s.median_ci95_ms == median_ci(range(1, 21), 0.99)
    assert s.median_ci95_ms == (4.0, 17.0)  # ranks 4 and 17: wider than the 95% interval [6, 15]


def test_summarize_p999_present_from_1000_samples():
    samples = list(range(1 * MS, 1 * MS + 1000))
    s = summarize([samples])
    assert s.p999_ms == pytest.approx(np.quantile(np.array(samples, dtype=float), 0.999) / MS)
    assert summarize([samples[:999]]).p999_ms is None


def test_summarize_single_sample_has_no_spread():
    s = summarize([[5 * MS]])
    assert s.median_ms == 5.0 and s.std_ms is None and s.cv is None and s.median_ci95_ms is None


def test_summarize_skips_empty_processes():
    s = summarize([[], [1 * MS, 2 * MS, 3 * MS]])
    assert s.processes == 1 and s.n == 3


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ([], ValueError, "no samples"),
        ([[], []], ValueError, "no samples"),
        ([1, 2, 3], TypeError, "flat list"),
        ([[1, -2, 3]], ValueError, "non-negative"),
        ([[1, float("nan")]], ValueError, "finite"),
        ("123", TypeError, "one sequence"),
    ],
)
def test_summarize_rejects_bad_input(bad, error, message):
    with pytest.raises(error, match=message):
        summarize(bad)


# ------------------------------------------------------------------------------------ confidence intervals


@pytest.mark.parametrize("confidence", [0.90, 0.95, 0.99])
@pytest.mark.parametrize("q", [0.5, 0.9])
def test_quantile_ci_ranks_match_brute_force(q, confidence):
    for n in range(1, 80):
        values = list(range(1, n + 1))  # value == rank
        expected = _brute_force_ranks(n, q, confidence)
        got = quantile_ci(values, q, confidence)
        if expected is None:
            assert got is None, (n, q, confidence)
        else:
            assert got == (float(expected[0]), float(expected[1])), (n, q, confidence)


def test_median_ci_known_table_and_too_few():
    assert median_ci(range(1, 7)) == (1.0, 6.0)  # n = 6: the smallest n with a 95% median interval
    assert median_ci(range(1, 6)) is None
    assert median_ci(range(1, 21)) == (6.0, 15.0)  # n = 20: ranks 6 and 15 (classic table)
    assert median_ci([5, 1, 4, 2, 3, 6]) == (1.0, 6.0)  # input order does not matter


def test_median_ci_coverage_by_simulation():
    rng = np.random.default_rng(7)
    true_median = math.log(2)  # exponential(1)
    trials, hits = 2000, 0
    for _ in range(trials):
        lo, hi = median_ci(rng.exponential(size=41))  # type: ignore[misc]
        hits += lo <= true_median <= hi
    assert hits / trials >= 0.94  # exact coverage for n = 41 is >= 0.95; allow simulation noise


def test_quantile_ci_rejects_bad_arguments():
    with pytest.raises(ValueError, match="strictly between"):
        quantile_ci([1, 2, 3], 1.0)
    with pytest.raises(ValueError, match="confidence"):
        quantile_ci([1, 2, 3], 0.5, 1.5)


def test_hierarchical_bootstrap_widens_when_processes_disagree():
    rng = np.random.default_rng(3)
    groups = [rng.normal(10 * MS, 0.1 * MS, 400) + shift * MS for shift in (0.0, 0.5, 1.0)]
    s = summarize([g.round().astype(int).tolist() for g in groups])
    assert s.ci_method == "hierarchical-bootstrap" and s.processes == 3
    assert s.median_ci95_ms and s.median_ci95_pooled_ms and s.p90_ci95_ms and s.median_ms and s.p90_ms
    lo, hi = s.median_ci95_ms
    plo, phi = s.median_ci95_pooled_ms
    assert lo <= s.median_ms <= hi
    assert (hi - lo) > 3 * (phi - plo)  # pooled samples pretend the 1 ms disagreement is not there
    assert s.process_medians_ms == pytest.approx([10.0, 10.5, 11.0], abs=0.05)
    assert s.process_spread_rel == pytest.approx(1.0 / 10.5, rel=0.05)
    assert s.p90_ci95_ms[0] <= s.p90_ms <= s.p90_ci95_ms[1]
    # seeded: the same samples give the same summary
    assert summarize([g.round().astype(int).tolist() for g in groups]) == s


def test_hierarchical_bootstrap_close_to_pooled_when_processes_agree():
    rng = np.random.default_rng(4)
    groups = [rng.normal(10 * MS, 0.1 * MS, 500).round().astype(int).tolist() for _ in range(4)]
    s = summarize(groups)
    assert s.median_ci95_ms and s.median_ci95_pooled_ms
    lo, hi = s.median_ci95_ms
    plo, phi = s.median_ci95_pooled_ms
    assert 0.5 < (hi - lo) / (phi - plo) < 3


# ---------------------------------------------------------------------------------------- early stopping


def test_early_stopping_min_samples_known_answers():
    assert early_stopping_min_samples() == 64  # LoadGen: "Processed at least 64 queries" for p90
    assert early_stopping_min_samples(0.99, 0.99) == 662  # LoadGen's minimum for its p99 estimate
    # By hand for p90 at 99%: P(K <= 1) with K ~ Binomial(n, 0.1) is 0.9^n + n 0.1 0.9^(n-1).
    assert 0.9**63 + 63 * 0.1 * 0.9**62 >= 0.01 > 0.9**64 + 64 * 0.1 * 0.9**63


@pytest.mark.parametrize(("n", "discarded"), [(2048, 172), (2116, 178), (2145, 181), (7469, 685)])
def test_early_stopping_discards_match_published_loadgen_summaries(n, discarded):
    # "Processed at least 64 queries (N). Would discard D highest latency queries." from MLPerf SingleStream
    # mlperf_log_summary.txt files (p90, 99% confidence, tolerance 0).
    assert early_stopping_discarded(n) == discarded


def _loadgen_t(n: int, p: float, c: float) -> int:
    """LoadGen's loop, written with the regularized incomplete beta as LoadGen does (not the binomial CDF)."""

    def min_passing(t: int) -> int:
        h = 1
        while special.betainc(h, 1 + t, p) >= 1 - c:  # odds(h, t) = BetaRegularized(p, h, 1 + t)
            h += 1
        return h

    if n < min_passing(1) + 1:
        return 0
    t = 1
    for i in range(2, n + 1):
        if n < min_passing(i) + i:
            t = i - 1
            break
    return t


@pytest.mark.parametrize("n", [64, 65, 100, 137, 300, 511])
def test_early_stopping_matches_loadgen_loop(n):
    t = _loadgen_t(n, 0.9, 0.99)
    assert early_stopping_discarded(n) == t - 1
    values = list(range(1, n + 1))
    assert early_stopping_bound(values) == float(values[n - t])


def test_early_stopping_bound_values():
    assert early_stopping_bound(list(range(1, 64))) is None
    assert early_stopping_bound(list(range(64, 0, -1))) == 64.0  # 64 samples: the bound is the maximum
    values = list(range(1, 2049))
    assert early_stopping_bound(values) == 2048.0 - 172  # discard the 172 slowest
    s = summarize([[v * 1000 for v in values]])
    assert s.p90_early_stop_ub_ms == pytest.approx((2048 - 172) * 1000 / MS)
    assert s.early_stop_discarded == 172
    assert s.p90_ms is not None and s.p90_early_stop_ub_ms is not None and s.p90_early_stop_ub_ms >= s.p90_ms


def test_early_stopping_rejects_bad_arguments():
    with pytest.raises(ValueError, match="percentile"):
        early_stopping_min_samples(1.0)
    with pytest.raises(ValueError, match="confidence"):
        early_stopping_min_samples(0.9, 0.0)


# ---------------------------------------------------------------------------------------------- warnings


def _clean(rng: np.random.Generator, n: int = 400, median_ms: float = 10.0) -> list[int]:
    return (rng.lognormal(math.log(median_ms * MS), 0.01, n)).round().astype(int).tolist()


def test_no_warnings_on_clean_samples():
    rng = np.random.default_rng(11)
    assert sample_warnings([_clean(rng) for _ in range(3)]) == []


def test_warns_about_too_few_samples():
    rng = np.random.default_rng(12)
    (warning,) = sample_warnings([_clean(rng, 30)])
    assert "only 30 samples" in warning and "at least 64" in warning and "measure for longer" in warning


def test_warns_about_high_variation():
    rng = np.random.default_rng(13)
    samples = rng.uniform(5 * MS, 15 * MS, 400).round().astype(int).tolist()
    warnings = sample_warnings([samples])
    assert any("vary widely (CV" in w and "governor to performance" in w for w in warnings)


def test_warns_about_heavy_tail():
    rng = np.random.default_rng(14)
    samples = _clean(rng, 400)
    samples[::20] = [30 * MS] * len(samples[::20])  # 5% of samples 3x slower
    warnings = sample_warnings([samples])
    assert any(w.startswith("heavy slow tail: p99 is 3.0x the median") for w in warnings)


def test_warns_about_upward_drift():
    rng = np.random.default_rng(15)
    base = np.array(_clean(rng, 400), dtype=float)
    drifting = (base * np.linspace(1.0, 1.10, base.size)).round().astype(int).tolist()
    warnings = sample_warnings([drifting])
    assert len(warnings) == 1
    assert warnings[0].startswith("latency drifted +5% during the run (")
    assert "competing for the CPU" in warnings[0]


def test_warns_about_downward_drift_as_short_warmup_and_names_the_process():
    rng = np.random.default_rng(16)
    base = np.array(_clean(rng, 400), dtype=float)
    falling = (base * np.linspace(1.10, 1.0, base.size)).round().astype(int).tolist()
    warnings = sample_warnings([_clean(rng), falling, _clean(rng)])
    drift = [w for w in warnings if "drifted" in w]
    assert len(drift) == 1 and "of process 2" in drift[0] and "warm-up was too short" in drift[0]


def test_no_drift_warning_for_a_small_or_random_change():
    rng = np.random.default_rng(17)
    base = np.array(_clean(rng, 2000), dtype=float)
    slight = (base * np.linspace(1.0, 1.02, base.size)).round().astype(int).tolist()  # +1%: harmless
    assert sample_warnings([slight]) == []
    shuffled = (base * np.linspace(1.0, 1.10, base.size))[rng.permutation(base.size)]
    assert not any("drifted" in w for w in sample_warnings([shuffled.round().astype(int).tolist()]))


def test_warns_about_a_disagreeing_process():
    rng = np.random.default_rng(18)
    warnings = sample_warnings([_clean(rng), _clean(rng), _clean(rng, median_ms=11.0)])
    assert len(warnings) == 1
    assert re.match(r"process 3's median \(11 ms\) is \+10% away from the other processes' \(9\.99 ms\)", warnings[0])
    assert "re-run with more processes" in warnings[0]


def test_warns_when_no_process_recorded_samples():
    assert sample_warnings([[], []]) == [
        "no samples were recorded: every worker process failed or was stopped; see the cell's error"
    ]


def test_warning_thresholds_at_their_boundaries():
    # Processes 4% apart are normal (ASLR, placement); 6% apart is not (PROCESS_DISAGREE_WARN = 5%).
    rng = np.random.default_rng(20)
    close = sample_warnings([_clean(rng), _clean(rng), _clean(rng, median_ms=10.4)])
    assert not any("away from the other" in w for w in close)
    apart = sample_warnings([_clean(rng), _clean(rng), _clean(rng, median_ms=10.6)])
    assert any("process 3's median" in w for w in apart)
    # A p99 1.4x the median is no heavy tail; 1.6x is (TAIL_RATIO_WARN = 1.5).
    for slow_ms, warned in ((14, False), (16, True)):
        samples = _clean(rng, 400)
        samples[::50] = [slow_ms * MS] * len(samples[::50])  # 2% slow: the p99 is one of them
        assert any(w.startswith("heavy slow tail") for w in sample_warnings([samples])) == warned, slow_ms


def test_many_disagreeing_and_drifting_processes_give_one_line_each():
    rng = np.random.default_rng(19)
    groups = [_clean(rng, median_ms=m) for m in (10.0, 12.0, 8.0, 10.0, 13.0)]
    base = np.array(_clean(rng, 400), dtype=float)
    rising = (base * np.linspace(1.0, 1.10, base.size)).round().astype(int).tolist()
    groups += [rising, list(rising)]
    warnings = sample_warnings(groups)
    disagree = [w for w in warnings if "disagree" in w or "away from the other" in w]
    assert len(disagree) == 1 and disagree[0].startswith("processes disagree: medians 10, 12, 8, 10, 13,")
    drift = [w for w in warnings if "drifted" in w]
    assert len(drift) == 1 and drift[0].startswith("latency drifted during the runs of processes 6, 7 (+")
