"""Warm-up detection, per-process and per-cell stopping rules, presets: pure logic, no clock."""

from __future__ import annotations

import math

import pytest

from bench.engine.policy import (
    CAP_PREFIX,
    PRESETS,
    TARGET_MET,
    CellTally,
    MeasurePolicy,
    ProcessStopRule,
    WarmupDetector,
    cell_stop_reason,
    get_policy,
    min_total_samples,
)
from bench.errors import EffbenchError

MS = 1_000_000


def feed(detector: WarmupDetector, samples: list[int]) -> int:
    """Number of samples fed until the detector said done (or all of them)."""
    for i, sample in enumerate(samples, 1):
        if detector.add(sample):
            return i
    return len(samples)


def test_presets_are_ordered_and_consistent() -> None:
    fast, default, rigorous = PRESETS["fast"], PRESETS["default"], PRESETS["rigorous"]
    assert fast.min_processes <= default.min_processes <= rigorous.min_processes
    assert fast.process_min_s < default.process_min_s < rigorous.process_min_s
    assert fast.target_ci_rel >= default.target_ci_rel >= rigorous.target_ci_rel
    for policy in PRESETS.values():
        assert policy.min_processes <= policy.max_processes
        assert policy.warmup_min_s <= policy.warmup_max_s
        assert policy.process_min_s <= policy.process_max_s
        assert MeasurePolicy(**policy.to_dict()) == policy  # travels to the worker as JSON


def test_get_policy_unknown_name() -> None:
    with pytest.raises(EffbenchError, match=r"unknown preset 'slow'.*fast, default, rigorous"):
        get_policy("slow")


def test_min_total_samples_is_mlperf_p90_minimum() -> None:
    assert min_total_samples() == 64


def test_warmup_stops_once_latency_stops_improving() -> None:
    detector = WarmupDetector(window_s=0.1, min_s=0.0, max_s=10.0, tolerance=0.01, min_window=2, max_window=50)
    # 10 ms per inference: windows of 10. Latency falls for 30 iterations, then is flat.
    samples = [int((10 + max(0, 30 - i)) * MS) for i in range(200)]
    used = feed(detector, samples)
    assert detector.done and not detector.cap_hit
    assert detector.window == 10
    assert 40 <= used <= 60  # flat from 30: the first window pair entirely past it is steady
    assert "steady" in detector.reason


def test_warmup_respects_min_time() -> None:
    detector = WarmupDetector(window_s=0.01, min_s=0.5, max_s=10.0)
    used = feed(detector, [10 * MS] * 1000)
    assert used == 50  # flat from the start, but at least 0.5 s of warm-up


def test_warmup_cap_hit_when_latency_keeps_falling() -> None:
    detector = WarmupDetector(window_s=1.0, min_s=0.0, max_s=2.0)
    samples = [int(20 * MS * 0.999**i) for i in range(10_000)]  # 5% better every 50-iteration window
    feed(detector, samples)
    assert detector.cap_hit
    assert detector.reason.startswith(CAP_PREFIX)
    assert detector.window == 50
    assert 2e9 <= detector.elapsed_ns < 2e9 + 20 * MS  # stops at the first sample over the cap


def test_warmup_adapts_to_a_slow_model() -> None:
    # EfficientNet-B7 at about 1 s per inference: the windows shrink so that two of them fit in the cap.
    policy = PRESETS["default"]
    detector = WarmupDetector.for_policy(policy)
    used = feed(detector, [1000 * MS] * 100)
    assert detector.window == policy.warmup_min_window
    assert used == 2 * policy.warmup_min_window
    assert not detector.cap_hit
    assert detector.elapsed_ns / 1e9 == pytest.approx(4.0)


def test_warmup_of_a_slow_model_gets_one_more_window() -> None:
    # B7 as measured here: the first warm-up iteration is still slow; a fifth one shows the plateau.
    detector = WarmupDetector.for_policy(PRESETS["default"])
    used = feed(detector, [int(x * MS) for x in (893, 739, 766, 754, 760, 750, 755, 748, 752)])
    assert used == 5 and not detector.cap_hit
    assert detector.elapsed_ns / 1e9 < 4.5


def test_warmup_window_capped_for_fast_models() -> None:
    detector = WarmupDetector(window_s=0.2, min_s=0.0, max_s=5.0, max_window=50)
    detector.add(20_000)  # 20 µs: 10,000 iterations would fill 0.2 s
    assert detector.window == 50


def test_warmup_iteration_cap_still_judges_steadiness() -> None:
    # A 20 µs model reaches the iteration cap before the time minimum; flat latency is still "steady".
    detector = WarmupDetector(window_s=0.1, min_s=1.0, max_s=5.0, max_iterations=500)
    used = feed(detector, [20_000] * 1000)
    assert used == 500
    assert detector.done and not detector.cap_hit


def test_process_rule_needs_samples_and_time() -> None:
    rule = ProcessStopRule.for_policy(PRESETS["default"], planned_processes=3, total_min_samples=64)
    assert rule.min_samples == 22  # ceil(64 / 3)
    samples = [10 * MS] * 21
    assert not rule.done(samples, elapsed_ns=int(100e9) // 100)
    assert not rule.done([*samples, 10 * MS], elapsed_ns=int(1e9))  # enough samples, too short
    assert rule.done([*samples, 10 * MS], elapsed_ns=int(PRESETS["default"].process_min_s * 1e9))
    assert not rule.cap_hit


def run_rule(rule: ProcessStopRule, latency_ms: float) -> list[int]:
    samples: list[int] = []
    elapsed = 0
    while True:
        samples.append(int(latency_ms * MS))
        elapsed += int(latency_ms * MS)
        if rule.done(samples, elapsed):
            return samples


def test_process_rule_cap_for_slow_model() -> None:
    policy = PRESETS["default"]
    # 2 s per inference: 22 samples would take 44 s, far beyond the stretched cap: stop at the cap.
    rule = ProcessStopRule.for_policy(policy, planned_processes=3, total_min_samples=64)
    samples = run_rule(rule, 2000)
    assert rule.cap_hit
    assert len(samples) == math.ceil(policy.process_max_s / 2)
    assert rule.reason.startswith(CAP_PREFIX)


def test_process_rule_stretches_its_cap_for_a_few_samples() -> None:
    # B7 at 0.95 s: 22 samples take 20.9 s, within 1.5 × the 15 s cap: the process gets its share.
    rule = ProcessStopRule.for_policy(PRESETS["default"], planned_processes=3, total_min_samples=64)
    samples = run_rule(rule, 950)
    assert len(samples) == 22 and not rule.cap_hit


def test_process_rule_sample_cap() -> None:
    rule = ProcessStopRule(min_samples=10, min_s=100.0, max_s=1000.0, max_samples=50)
    assert rule.done([1000] * 50, elapsed_ns=50_000)
    assert rule.cap_hit  # minimum time not reached


POLICY = MeasurePolicy(
    name="t",
    min_processes=3,
    max_processes=5,
    warmup_window_s=0.1,
    warmup_min_s=0.1,
    warmup_max_s=1.0,
    target_ci_rel=0.01,
    cell_max_s=30.0,
)


def tally(samples: list[list[int]], elapsed_s: float, ci_half_width_rel: float) -> CellTally:
    return CellTally(len(samples), sum(len(s) for s in samples), elapsed_s, ci_half_width_rel)


def test_cell_needs_min_processes() -> None:
    samples = [[10 * MS] * 100] * 2
    assert cell_stop_reason(POLICY, tally(samples, 5.0, 0.001), 64) is None


def test_cell_needs_min_total_samples() -> None:
    assert cell_stop_reason(POLICY, tally([[10 * MS] * 20] * 3, 5.0, 0.001), 64) is None
    done = cell_stop_reason(POLICY, tally([[10 * MS] * 22] * 3, 5.0, 0.001), 64)
    assert done is not None and done.startswith(TARGET_MET)


def test_cell_needs_precision_then_caps() -> None:
    samples = [[10 * MS] * 100] * 3
    assert cell_stop_reason(POLICY, tally(samples, 5.0, 0.02), 64) is None
    by_time = cell_stop_reason(POLICY, tally(samples, 30.0, 0.02), 64)
    assert by_time is not None and by_time.startswith(CAP_PREFIX) and "time cap 30 s" in by_time
    assert "median CI ±2.00% > ±1.00%" in by_time
    by_count = cell_stop_reason(POLICY, tally([[10 * MS] * 100] * 5, 5.0, 0.02), 64)
    assert by_count is not None and "5 processes reached" in by_count
    unknown = cell_stop_reason(POLICY, tally(samples, 30.0, math.inf), 64)  # too few samples for a CI
    assert unknown is not None and "median CI ±∞ > ±1.00%" in unknown


def test_cell_stop_with_real_statistics() -> None:
    from bench.engine.stats import summarize

    def real(samples: list[list[int]]) -> CellTally:
        half = summarize(samples, confidence=POLICY.confidence).median_ci_rel_halfwidth
        return tally(samples, 5.0, math.inf if half is None else half)

    # Three processes with identical, tight samples: the bootstrap CI of the median is tiny.
    samples = [[10 * MS + (i % 7) * 1000 for i in range(100)] for _ in range(3)]
    reason = cell_stop_reason(POLICY, real(samples), min_total_samples())
    assert reason is not None and reason.startswith(TARGET_MET)
    # Processes that disagree by 10% leave the median uncertain: more processes are needed.
    spread = [[int(10 * MS * f)] * 100 for f in (1.0, 1.1, 0.9)]
    assert cell_stop_reason(POLICY, real(spread), min_total_samples()) is None
