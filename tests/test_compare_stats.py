"""bench.compare: effect sizes, permutation and Welch tests, Holm/BH, power, per-cell verdicts, exit codes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from bench.compare import (
    EXIT_OK,
    EXIT_REGRESSION,
    EXIT_UNDECIDED,
    MARKS,
    Arm,
    CellComparison,
    CellInput,
    CompareSettings,
    Verdict,
    adjust_p_values,
    benjamini_hochberg,
    compare_cells,
    exit_code,
    holm,
    measure_effect,
    min_processes_for_permutation,
    p90_ratio,
    permutation_p_value,
    processes_needed,
)
from bench.compare.effect import permutation_p_values
from bench.engine.policy import PRESETS
from bench.errors import EffbenchError


def medians(rng: np.random.Generator, n: int, sigma: float, centre: float = 10.0) -> tuple[float, ...]:
    """n per-process medians (ms) around `centre`, lognormal between-process spread sigma."""
    return tuple(float(x) for x in centre * np.exp(rng.normal(0.0, sigma, n)))


def evenly(n: int, sigma: float, centre: float = 10.0) -> tuple[float, ...]:
    """n medians at the normal quantiles: a spread of about sigma with no sampling luck."""
    z = sps.norm.ppf((np.arange(n) + 0.5) / n)
    return tuple(float(x) for x in centre * np.exp(sigma * z))


def judge(base: Arm, new: Arm, settings: CompareSettings | None = None, key: str = "cell") -> CellComparison:
    return compare_cells([CellInput(key, base, new)], settings).cells[0]


# ---- permutation test ------------------------------------------------------------------------------------------


def test_permutation_fully_separated_three_vs_three() -> None:
    p, exact = permutation_p_value([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert exact and p == pytest.approx(2 / 20)
    assert permutation_p_value([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], alternative="greater")[0] == pytest.approx(1 / 20)
    assert permutation_p_value([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], alternative="less")[0] == pytest.approx(1.0)


def test_permutation_two_vs_two_by_hand() -> None:
    # Pooled 1..4; a split's NEW-minus-BASE difference is (sum of NEW) - 5: -2, -1, 0, 0, 1, 2 over the 6 splits.
    p_values, exact = permutation_p_values([1.0, 2.0], [3.0, 4.0])
    assert exact
    assert p_values["two-sided"] == pytest.approx(2 / 6)
    assert p_values["greater"] == pytest.approx(1 / 6)
    assert p_values["less"] == pytest.approx(6 / 6)
    # the observed split sits in the middle: everything is at least as extreme
    assert permutation_p_value([1.0, 4.0], [2.0, 3.0])[0] == pytest.approx(1.0)


def test_permutation_monte_carlo_is_seeded_and_close_to_exact() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0.0, 1.0, 6), rng.normal(1.0, 1.0, 6)
    exact_p, exact = permutation_p_value(a, b)
    mc_p, mc_exact = permutation_p_value(a, b, exact_limit=1, resamples=20_000, seed=3)
    assert exact and not mc_exact
    assert mc_p == permutation_p_value(a, b, exact_limit=1, resamples=20_000, seed=3)[0]  # deterministic
    assert abs(mc_p - exact_p) < 0.01
    # a Monte Carlo p-value never reaches 0: (hits + 1) / (resamples + 1)
    far, _ = permutation_p_value([0.0] * 12, [10.0] * 12, resamples=999)
    assert far == pytest.approx(1 / 1000)


def test_permutation_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        permutation_p_value([], [1.0])
    with pytest.raises(ValueError, match="unknown alternative"):
        permutation_p_value([1.0], [2.0], alternative="both")  # type: ignore[arg-type]


# ---- effect ----------------------------------------------------------------------------------------------------


def test_effect_ratio_of_geometric_means_and_welch_known_answer() -> None:
    base, new = (8.0, 10.0, 12.5, 9.0), (11.0, 12.0, 14.0, 12.5, 13.0)
    effect = measure_effect(base, new, confidence=0.90)
    gm_base, gm_new = math.exp(np.mean(np.log(base))), math.exp(np.mean(np.log(new)))
    assert effect.ratio == pytest.approx(gm_new / gm_base)
    reference = sps.ttest_ind(np.log(new), np.log(base), equal_var=False, alternative="greater")
    assert effect.welch_p_slower == pytest.approx(reference.pvalue)
    assert effect.welch_p_faster == pytest.approx(1.0 - reference.pvalue)
    assert effect.df == pytest.approx(reference.df)
    two_sided = sps.ttest_ind(np.log(new), np.log(base), equal_var=False).confidence_interval(0.90)
    assert (effect.ci_low, effect.ci_high) == pytest.approx((math.exp(two_sided.low), math.exp(two_sided.high)))
    assert effect.p_value == max(effect.welch_p_slower, effect.permutation_p_slower)
    assert effect.base_spread == pytest.approx(np.std(np.log(base), ddof=1))


def test_effect_with_identical_processes_is_exact() -> None:
    effect = measure_effect((2.0, 2.0, 2.0), (3.0, 3.0, 3.0))
    assert effect.ratio == pytest.approx(1.5) and effect.ci_low == pytest.approx(1.5) == effect.ci_high
    assert effect.welch_p_slower == 0.0
    assert effect.p_value == pytest.approx(1 / 20)  # the permutation guard: 3 vs 3 cannot go lower


def test_effect_rejects_too_few_or_bad_medians() -> None:
    with pytest.raises(ValueError, match="at least 2 processes"):
        measure_effect((1.0,), (1.0, 2.0))
    with pytest.raises(ValueError, match="finite and positive"):
        measure_effect((1.0, -2.0), (1.0, 2.0))


def test_p90_ratio_needs_the_mlperf_minimum_in_every_process() -> None:
    assert p90_ratio((10.0, 40.0), (64, 100), (30.0, 30.0), (64, 64)) == pytest.approx(30.0 / 20.0)
    assert p90_ratio((10.0, 40.0), (64, 63), (30.0, 30.0), (64, 64)) is None
    assert p90_ratio(None, None, (30.0,), (64,)) is None
    assert p90_ratio((10.0,), (64, 64), (30.0,), (64,)) is None  # counts do not match the p90s


# ---- multiple comparisons ----------------------------------------------------------------------------------------


def test_holm_by_hand() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 → ×4, ×3, ×2, ×1 = 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_benjamini_hochberg_by_hand() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 → ×4/1, ×4/2, ×4/3, ×4/4 = 0.02, 0.02, 0.04, 0.04 → running min from the top
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert benjamini_hochberg([0.5, 0.6]) == pytest.approx([0.6, 0.6])
    assert benjamini_hochberg([0.01, 0.02, 0.03]) == pytest.approx([0.03, 0.03, 0.03])


def test_adjust_p_values_methods_and_errors() -> None:
    assert adjust_p_values([0.01, 0.02], "none") == [0.01, 0.02]
    assert adjust_p_values([0.01, 0.02]) == holm([0.01, 0.02])
    with pytest.raises(ValueError, match="unknown multiple-comparison correction 'bonf'"):
        adjust_p_values([0.01], "bonf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.5, float("nan")])


# ---- power ------------------------------------------------------------------------------------------------------


def test_processes_needed_known_answer() -> None:
    # n ≥ 2 (σ/δ)² (t_0.95,ν + t_0.90,ν)², δ = log 1.05: 2 (0.03 / 0.04879)² = 0.7561; at n = 8 (ν 14)
    # (1.761 + 1.345)² = 9.648 → 7.29 ≤ 8; at n = 7 (ν 12) (1.782 + 1.356)² = 9.847 → 7.45 > 7. So 8.
    assert processes_needed(0.03, 0.05) == 8
    # the normal approximation alone would say ceil(0.7561 × (1.645 + 1.282)²) = 7: the t quantiles add one
    assert processes_needed(0.0, 0.05) == 4  # the permutation guard's minimum
    assert processes_needed(float("inf"), 0.05) == 1000
    assert min_processes_for_permutation(0.05) == 4  # 1/C(6,3) = 0.05 is not below 0.05; 1/C(8,4) = 0.014 is
    assert min_processes_for_permutation(0.01) == 5
    # the computed n really has about the asked power (noncentral t, one-sided Welch with equal arms)
    n = processes_needed(0.05, 0.10)
    delta = math.log(1.10)
    for size, lo, hi in ((n, 0.88, 1.0), (n - 1, 0.0, 0.90)):
        nc = delta / (0.05 * math.sqrt(2 / size))
        power = 1 - sps.nct.cdf(sps.t.ppf(0.95, 2 * size - 2), 2 * size - 2, nc)
        assert lo <= power <= hi


def test_processes_needed_grows_with_spread_and_shrinks_with_threshold() -> None:
    needed = [processes_needed(s, 0.05) for s in (0.01, 0.02, 0.03, 0.05, 0.08)]
    assert needed == sorted(needed) and needed[-1] > needed[0]
    assert processes_needed(0.05, 0.10) < processes_needed(0.05, 0.05)
    with pytest.raises(ValueError):
        processes_needed(0.03, 0.0)


def test_more_processes_needed_decreases_as_processes_grow() -> None:
    # the same inconclusive +4% at 4% spread with 3, 5, 8 processes per arm
    more = []
    for n in (3, 5, 8):
        result = judge(Arm(evenly(n, 0.04)), Arm(evenly(n, 0.04, 10.4)))
        assert result.verdict in (Verdict.INCONCLUSIVE, Verdict.NOISY)
        assert result.more_processes_needed is not None
        more.append(result.more_processes_needed)
    assert more[0] > more[1] > more[2] >= 1
    effect = judge(Arm(evenly(3, 0.04)), Arm(evenly(3, 0.04, 10.4))).effect
    assert effect is not None
    assert more[0] == processes_needed(effect.pooled_spread, 0.05) - 3


# ---- verdicts -----------------------------------------------------------------------------------------------------


def test_regression_improvement_and_no_change() -> None:
    base = Arm(evenly(9, 0.02))
    regression = judge(base, Arm(evenly(9, 0.02, 11.5)))
    assert (regression.verdict, regression.mark) == (Verdict.REGRESSION, "+")
    assert regression.ratio == pytest.approx(1.15)
    assert regression.ci_low is not None and regression.ci_low > 1.0
    assert regression.p_adjusted is not None and regression.p_adjusted < 0.05
    assert regression.more_processes_needed is None
    assert "+15.0% (90% CI +" in regression.reason and "beyond ±5.0%" in regression.reason
    # one-sided tests at α go with the (1 - 2α) interval
    strict = judge(base, Arm(evenly(9, 0.02, 11.5)), CompareSettings(alpha=0.025))
    assert strict.effect is not None and strict.effect.confidence == pytest.approx(0.95)
    assert strict.ci_low is not None and strict.ci_low < regression.ci_low

    improvement = judge(base, Arm(evenly(9, 0.02, 8.5)))
    assert (improvement.verdict, improvement.mark) == (Verdict.IMPROVEMENT, "-")

    same = judge(base, Arm(evenly(9, 0.02, 10.1)))
    assert (same.verdict, same.mark) == (Verdict.NO_CHANGE, "~")
    assert same.ci_low is not None and same.ci_high is not None
    assert 0.95 <= same.ci_low <= same.ci_high <= 1.05


def test_significant_but_small_change_is_no_change() -> None:
    # +3% with 1% spread: significant, but the whole CI lies inside ±5%
    result = judge(Arm(evenly(9, 0.01)), Arm(evenly(9, 0.01, 10.3)))
    assert result.p_adjusted is not None and result.p_adjusted < 0.01
    assert result.verdict is Verdict.NO_CHANGE


def test_inconclusive_says_how_many_more_processes() -> None:
    result = judge(Arm(evenly(4, 0.03)), Arm(evenly(4, 0.03, 10.4)))
    assert (result.verdict, result.mark) == (Verdict.INCONCLUSIVE, "?")
    assert result.more_processes_needed is not None and result.more_processes_needed >= 1
    assert f"about {result.more_processes_needed} more processes per arm" in result.reason


def test_three_processes_per_arm_never_reach_significance() -> None:
    # fully separated and +30%: the permutation guard's smallest one-sided p for 3 vs 3 is 1/20 = α
    result = judge(Arm((10.0, 10.1, 10.2)), Arm((13.0, 13.1, 13.2)))
    assert result.p_value == pytest.approx(1 / 20)
    assert result.verdict is Verdict.INCONCLUSIVE


def test_noisy_from_spread_only_when_undecided() -> None:
    wide = judge(Arm(evenly(6, 0.09)), Arm(evenly(6, 0.09, 10.2)))
    assert (wide.verdict, wide.mark) == (Verdict.NOISY, "!")
    assert "between-process spread" in wide.reason and "> 5%" in wide.reason
    assert wide.more_processes_needed is not None and wide.more_processes_needed > 10
    # a regression that stands out of a large spread stays a regression: the test paid for the spread
    assert judge(Arm(evenly(10, 0.08)), Arm(evenly(10, 0.08, 14.0))).verdict is Verdict.REGRESSION


def test_noisy_from_disagreeing_processes_or_cap_when_undecided() -> None:
    base, new = evenly(4, 0.03), evenly(4, 0.03, 10.4)
    disagree = judge(Arm(base), Arm(new, processes_disagree=True))
    assert disagree.verdict is Verdict.NOISY and "the processes of NEW disagree" in disagree.reason
    capped = judge(Arm(base, cap_hit=True), Arm(new))
    assert capped.verdict is Verdict.NOISY and "BASE stopped at a cap" in capped.reason
    # a clear no change stays one
    assert judge(Arm(evenly(9, 0.01), cap_hit=True), Arm(evenly(9, 0.01))).verdict is Verdict.NO_CHANGE


def test_busy_arms_weaken_no_change_but_never_hide_a_regression() -> None:
    base, slower, same = evenly(9, 0.02), evenly(9, 0.02, 12.0), evenly(9, 0.02, 10.05)
    both = judge(Arm(base, machine_busy=True), Arm(slower, machine_busy=True))
    assert (both.verdict, both.mark) == (Verdict.REGRESSION, "+")
    assert "conditions were noisy, busy CPU or steal time during BASE and NEW: confirm with a re-run" in both.reason
    assert both.ratio == pytest.approx(1.2)
    # only NEW busy: the slowdown may be the interference, so the gate cannot decide (exit 3, never 0)
    new_only = judge(Arm(base), Arm(slower, machine_busy=True))
    assert (new_only.verdict, new_only.mark) == (Verdict.SUSPECT, "*")
    assert "during NEW only: the slowdown may be that interference" in new_only.reason
    assert "effbench ab" in new_only.reason
    assert exit_code([new_only]) == EXIT_UNDECIDED
    # only BASE busy: it understates a slowdown, and may hide one behind "no change"
    assert judge(Arm(base, machine_busy=True), Arm(slower)).verdict is Verdict.REGRESSION
    assert judge(Arm(base, machine_busy=True), Arm(same)).verdict is Verdict.SUSPECT
    # no change, busy elsewhere: weakened to noisy
    noisy = judge(Arm(base), Arm(same, machine_busy=True))
    assert (noisy.verdict, noisy.mark) == (Verdict.NOISY, "!") and "measured no change" in noisy.reason
    assert exit_code([noisy]) == EXIT_OK


def test_a_regression_out_of_a_large_spread_says_conditions_were_noisy() -> None:
    clear = judge(Arm(evenly(10, 0.08)), Arm(evenly(10, 0.08, 14.0)))
    assert clear.verdict is Verdict.REGRESSION
    assert clear.reason.endswith("; conditions were noisy (between-process spread 7.9% > 5%): confirm with a re-run")


def test_failed_newly_failing_and_not_comparable() -> None:
    ok = Arm(evenly(5, 0.02))
    failed = Arm(status="failed", error="worker crashed")
    newly = judge(ok, failed)
    assert (newly.verdict, newly.mark) == (Verdict.NEWLY_FAILING, "F")
    assert newly.reason == "failed in NEW: worker crashed"
    both = judge(failed, failed)
    assert (both.verdict, both.mark) == (Verdict.FAILED, "x")
    fixed = judge(failed, ok)
    assert (fixed.verdict, fixed.mark) == (Verdict.NOT_COMPARABLE, "x")
    assert fixed.reason == "failed in BASE: worker crashed"
    assert judge(ok, Arm(status="missing")).reason == "missing in NEW"
    assert judge(Arm(status="skipped", error="openvino is not installed"), ok).reason == (
        "skipped in BASE: openvino is not installed"
    )
    caller = compare_cells([CellInput("c", ok, ok, not_comparable="different machine (use --across-machines)")])
    assert caller.cells[0].verdict is Verdict.NOT_COMPARABLE
    assert caller.cells[0].reason == "different machine (use --across-machines)"
    assert caller.cells[0].p_value is None and caller.cells[0].ratio is None


def test_single_process_arm_gives_a_point_estimate_only() -> None:
    result = judge(Arm((10.0,)), Arm((11.0, 11.2)))
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.ratio == pytest.approx(math.sqrt(11.0 * 11.2) / 10.0)
    assert result.ci_low is None and result.p_value is None
    assert result.more_processes_needed == 3  # to the permutation guard's 4 per arm


def test_absolute_floor_for_sub_millisecond_cells() -> None:
    # 0.1 ms, +15% = 0.015 ms: under the 0.02 ms floor, the threshold becomes 20%
    tiny = judge(Arm(evenly(9, 0.01, 0.1)), Arm(evenly(9, 0.01, 0.115)))
    assert tiny.verdict is Verdict.NO_CHANGE
    assert tiny.threshold == pytest.approx(0.2)
    assert "(floor)" in tiny.reason
    # the same +15% on a 0.5 ms cell is 0.075 ms: a regression
    assert judge(Arm(evenly(9, 0.01, 0.5)), Arm(evenly(9, 0.01, 0.575))).verdict is Verdict.REGRESSION
    # no regression verdict ever rests on a difference under the floor
    rng = np.random.default_rng(11)
    for _ in range(40):
        centre = float(rng.uniform(0.02, 0.5))
        result = judge(Arm(medians(rng, 9, 0.02, centre)), Arm(medians(rng, 9, 0.02, centre * 1.3)))
        if result.verdict is Verdict.REGRESSION:
            assert result.effect is not None
            assert result.effect.new_geomean_ms - result.effect.base_geomean_ms >= 0.02


def test_every_verdict_has_its_mark() -> None:
    ok = Arm(evenly(9, 0.02))
    cells = [
        CellInput("regression", ok, Arm(evenly(9, 0.02, 12.0))),
        CellInput("suspect", ok, Arm(evenly(9, 0.02, 12.0), machine_busy=True)),
        CellInput("re-run needed", ok, Arm(evenly(9, 0.02, 12.0), machine_busy=True), paired=True),
        CellInput("improvement", ok, Arm(evenly(9, 0.02, 8.0))),
        CellInput("no change", ok, Arm(evenly(9, 0.02))),
        CellInput("inconclusive", Arm(evenly(4, 0.03)), Arm(evenly(4, 0.03, 10.4))),
        CellInput("noisy", ok, Arm(evenly(9, 0.02), machine_busy=True)),
        CellInput("failed", Arm(status="failed"), Arm(status="failed")),
        CellInput("newly failing", ok, Arm(status="failed")),
        CellInput("not comparable", ok, Arm(status="missing")),
    ]
    result = compare_cells(cells)
    assert [c.verdict.value for c in result.cells] == [c.key for c in cells]
    assert {c.verdict for c in result.cells} == set(Verdict)
    assert [c.mark for c in result.cells] == ["+", "*", "R", "-", "~", "?", "!", "x", "F", "x"]
    assert all(MARKS[c.verdict] == c.mark for c in result.cells)
    assert all(result.summary.counts[v] == 1 for v in Verdict)
    line = result.summary.line()
    assert line.startswith(
        "1 regression, 1 suspect, 1 re-run needed, 1 improvement, 1 no change, 1 inconclusive, 1 noisy, 1 failed, "
    )
    assert "Holm (family-wise error rate)" in line and "±5%" in line


def test_adjusted_p_values_feed_the_verdict() -> None:
    rng = np.random.default_rng(2)
    # a cell whose one-sided p is between α/20 and α: a regression alone, not among 19 unchanged cells under Holm
    slow = CellInput("slow", Arm(evenly(8, 0.05)), Arm(evenly(8, 0.05, 10.8)))
    alone = compare_cells([slow], CompareSettings(correction="none")).cells[0]
    assert alone.p_value is not None and 0.05 / 20 < alone.p_value < 0.05
    assert alone.verdict is Verdict.REGRESSION
    others = [CellInput(f"c{i}", Arm(medians(rng, 8, 0.02)), Arm(medians(rng, 8, 0.02))) for i in range(19)]
    holm_result = compare_cells([slow, *others])
    tested = [c.p_value for c in holm_result.cells]
    assert [c.p_adjusted for c in holm_result.cells] == pytest.approx(holm(tested))  # type: ignore[arg-type]
    assert holm_result.cells[0].verdict is not Verdict.REGRESSION
    bh_result = compare_cells([slow, *others], CompareSettings(correction="bh"))
    assert [c.p_adjusted for c in bh_result.cells] == pytest.approx(benjamini_hochberg(tested))  # type: ignore[arg-type]
    assert "Benjamini–Hochberg (false discovery rate)" in bh_result.summary.line()


def test_cells_without_a_test_stay_out_of_the_family() -> None:
    ok = Arm(evenly(9, 0.02))
    result = compare_cells([CellInput("a", ok, Arm(evenly(9, 0.02, 11.0))), CellInput("b", ok, Arm(status="missing"))])
    assert result.cells[0].p_adjusted == pytest.approx(result.cells[0].p_value)  # a family of one
    assert result.cells[1].p_adjusted is None


def test_comparison_is_deterministic() -> None:
    # 11 vs 11 is beyond the exact limit (C(22, 11) = 705,432 splits): the seeded Monte Carlo path
    rng = np.random.default_rng(4)
    cell = CellInput("c", Arm(medians(rng, 11, 0.03)), Arm(medians(rng, 11, 0.03, 10.4)))
    first, second = compare_cells([cell]).cells[0], compare_cells([cell]).cells[0]
    assert first.effect is not None and not first.effect.permutation_exact
    assert first == second


def test_bad_input_is_refused() -> None:
    with pytest.raises(EffbenchError, match=r"threshold 0 is out of range.*0\.05"):
        CompareSettings(threshold=0.0)
    with pytest.raises(EffbenchError, match="unknown multiple-comparison correction 'fdr'"):
        CompareSettings(correction="fdr")  # type: ignore[arg-type]
    with pytest.raises(EffbenchError, match=r"alpha 0\.7"):
        CompareSettings(alpha=0.7)
    with pytest.raises(ValueError, match="unknown cell status 'done'"):
        Arm((1.0,), status="done")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs at least one per-process median"):
        Arm(())
    with pytest.raises(ValueError, match="finite and positive"):
        Arm((1.0, 0.0))
    ok = Arm((1.0, 1.1))
    with pytest.raises(ValueError, match="duplicates: a"):
        compare_cells([CellInput("a", ok, ok), CellInput("a", ok, ok)])


# ---- exit codes ---------------------------------------------------------------------------------------------------


def _cell(verdict: Verdict) -> CellComparison:
    return CellComparison(
        key=verdict.value,
        verdict=verdict,
        mark=MARKS[verdict],
        ratio=None,
        ci_low=None,
        ci_high=None,
        p_value=None,
        p_adjusted=None,
        p90_ratio=None,
        base_processes=0,
        new_processes=0,
        more_processes_needed=None,
        reason="",
    )


@pytest.mark.parametrize(
    ("verdicts", "plain", "strict"),
    [
        ([], EXIT_OK, EXIT_OK),
        ([Verdict.NO_CHANGE, Verdict.IMPROVEMENT, Verdict.FAILED, Verdict.NOT_COMPARABLE], EXIT_OK, EXIT_OK),
        ([Verdict.NO_CHANGE, Verdict.REGRESSION], EXIT_REGRESSION, EXIT_REGRESSION),
        ([Verdict.NEWLY_FAILING], EXIT_REGRESSION, EXIT_REGRESSION),
        ([Verdict.INCONCLUSIVE], EXIT_OK, EXIT_UNDECIDED),
        ([Verdict.NOISY, Verdict.NO_CHANGE], EXIT_OK, EXIT_UNDECIDED),
        ([Verdict.NOISY, Verdict.REGRESSION], EXIT_REGRESSION, EXIT_REGRESSION),
        ([Verdict.SUSPECT, Verdict.NO_CHANGE], EXIT_UNDECIDED, EXIT_UNDECIDED),
        ([Verdict.RERUN_NEEDED, Verdict.IMPROVEMENT], EXIT_UNDECIDED, EXIT_UNDECIDED),
        ([Verdict.RERUN_NEEDED, Verdict.SUSPECT, Verdict.REGRESSION], EXIT_REGRESSION, EXIT_REGRESSION),
    ],
)
def test_exit_codes(verdicts: list[Verdict], plain: int, strict: int) -> None:
    cells = [_cell(v) for v in verdicts]
    assert exit_code(cells, strict=False) == plain
    assert exit_code(cells, strict=True) == strict
    assert (EXIT_OK, EXIT_REGRESSION, EXIT_UNDECIDED) == (0, 1, 3)


def test_exit_code_takes_a_whole_comparison() -> None:
    ok = Arm(evenly(9, 0.02))
    assert exit_code(compare_cells([CellInput("a", ok, Arm(evenly(9, 0.02, 12.0)))])) == 1


# ---- calibration -------------------------------------------------------------------------------------------------


def test_simulated_false_regressions_and_power_with_nine_processes() -> None:
    """200 A/A comparisons at 3% spread: ≤ 5% regressions; 200 with a true 10% slowdown: ≥ 95% caught."""
    rng = np.random.default_rng(20240909)
    aa = slow = 0
    for _ in range(200):
        aa += judge(Arm(medians(rng, 9, 0.03)), Arm(medians(rng, 9, 0.03))).verdict is Verdict.REGRESSION
        slow += judge(Arm(medians(rng, 9, 0.03)), Arm(medians(rng, 9, 0.03, 11.0))).verdict is Verdict.REGRESSION
    assert aa <= 10
    assert slow >= 190


def test_ci_preset_has_the_processes_a_comparison_needs() -> None:
    ci, default = PRESETS["ci"], PRESETS["default"]
    assert 8 <= ci.min_processes <= ci.max_processes <= 10
    assert ci.min_processes > default.min_processes
    # 3 processes (default) cannot reach significance with the permutation guard; the ci preset can
    assert default.min_processes < min_processes_for_permutation(0.05) <= ci.min_processes
    # at the noisiest quiet spread (2.7%) it has the power for a 10% change
    assert processes_needed(0.027, 0.10) <= ci.min_processes
