"""The adaptive A/B's sequential rule: α spent over looks, winsorized blocks, decisions."""

from __future__ import annotations

import math

import pytest

from bench.compare.sequential import SpendingPlan, look, winsorize


def test_spending_never_exceeds_alpha_and_telescopes() -> None:
    plan = SpendingPlan(alpha=0.05, min_blocks=4)
    assert plan.level(3) == 0.0 and plan.spent(3) == 0.0
    assert plan.level(4) == pytest.approx(0.05 * 4 / 20)
    total = math.fsum(plan.level(k) for k in range(1, 100_001))
    assert total == pytest.approx(plan.spent(100_000))
    assert total < 0.05
    assert plan.spent(100_000) == pytest.approx(0.05, rel=1e-4)
    assert all(plan.level(k) > plan.level(k + 1) for k in range(4, 50))


def test_spending_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="alpha"):
        SpendingPlan(alpha=0.7)
    with pytest.raises(ValueError, match="at least 3"):
        SpendingPlan(min_blocks=2)


def test_winsorize_pulls_one_far_block_in() -> None:
    values = [0.0, 0.01, -0.01, 0.02, -0.02, 0.5]
    out = winsorize(values)
    assert out[:5] == values[:5]
    # median 0.005, MAD 0.015 -> robust sd 0.022239, bound 0.005 + 3 * 0.022239
    assert out[5] == pytest.approx(0.005 + 3 * 1.4826 * 0.015)
    assert winsorize([0.1, 0.1, 0.1, 0.3]) == [0.1, 0.1, 0.1, 0.3]  # zero MAD: nothing moves


def test_look_waits_for_the_first_look() -> None:
    got = look([0.2, 0.21, 0.19], threshold=0.05, plan=SpendingPlan(min_blocks=4))
    assert got.decision == "continue" and not got.decided


def test_look_calls_a_clear_slowdown_a_regression_and_its_mirror_an_improvement() -> None:
    slower = [math.log(1.10) + d for d in (0.01, -0.01, 0.005, -0.005, 0.0)]
    got = look(slower, threshold=0.05, plan=SpendingPlan())
    assert got.decision == "regression"
    assert got.ci_low > 1.0 and got.ratio == pytest.approx(1.10, rel=1e-3)
    assert look([-x for x in slower], threshold=0.05, plan=SpendingPlan()).decision == "improvement"


def test_look_needs_the_estimate_beyond_the_threshold() -> None:
    # significant but small: +2% on a 5% threshold is no change once the CI fits inside, never a regression
    small = [math.log(1.02) + d for d in (0.002, -0.002, 0.001, -0.001, 0.0, 0.001)]
    got = look(small, threshold=0.05, plan=SpendingPlan())
    assert got.p_slower < got.level
    assert got.decision == "no change"


def test_look_continues_while_the_interval_crosses_the_threshold() -> None:
    spread = [0.06, -0.05, 0.04, -0.03, 0.05]
    assert look(spread, threshold=0.05, plan=SpendingPlan()).decision == "continue"


def test_one_wild_block_does_not_stall_a_clear_regression() -> None:
    blocks = [math.log(1.10) + d for d in (0.01, -0.01, 0.005, -0.005, 0.0, 0.008)] + [-0.35]
    assert look(blocks, threshold=0.05, plan=SpendingPlan()).decision == "regression"


def test_identical_blocks_decide_without_spread() -> None:
    assert look([math.log(1.2)] * 4, threshold=0.05, plan=SpendingPlan()).decision == "regression"
    assert look([0.0] * 4, threshold=0.05, plan=SpendingPlan()).decision == "no change"


def test_a_process_enters_its_block_by_the_lower_nearest_rank_of_its_10th_percentile() -> None:
    from bench.compare.sequential import process_quantile_ms

    samples = [int(x * 1e6) for x in (9.0, 1.0, 5.0, 3.0, 7.0, 2.0, 4.0, 6.0, 8.0, 10.0, 30.0)]
    assert process_quantile_ms(samples) == 2.0  # rank int(0.1 * 10) = 1 of the sorted samples
    assert process_quantile_ms(samples, 0.5) == 6.0
    assert process_quantile_ms([5_000_000]) == 5.0
