"""Looking after every block: the significance level each look of an adaptive A/B may spend, and the decision.

An adaptive `effbench ab --budget S` adds ABBA blocks until the verdict is decided or the budget is spent, and
judges the blocks so far after each one. Testing every look at α would raise the false-regression rate well
above α (a fluke only has to appear once); this module spends α over the looks instead.

Design: an always-valid union bound over an infinite horizon. Look k (k ≥ `min_blocks` = k0 blocks) tests at

    α_k = α · k0 / (k · (k + 1)),    and Σ_{k ≥ k0} α_k = α exactly (the sum telescopes),

so the chance of a false regression at *any* look is at most α, however many blocks the budget buys, whatever
the test statistics' correlation between looks, and without knowing the number of looks in advance (a
group-sequential boundary such as Pocock's or O'Brien-Fleming's needs the maximum number of looks and normal
increments; here the number of blocks depends on how fast the machine runs them). The price is conservatism:
the union bound ignores that successive looks share their blocks. It front-loads the spending (α_4 = α/5 with
k0 = 4, α_10 = α/27.5, α_20 = α/105), where a large effect can be decided from few blocks; small effects pay with
more blocks. `scripts/ab_sequential_sim.py` measures the rates on block ratios resampled from this machine's
real A/A runs (their heavy tails included) and compares the alternatives it rejected.

A block's value is the log ratio of its two processes' 10th percentiles (BLOCK_QUANTILE, below: interference only
adds time), or, when one process measured both arms in alternating bursts (bench.engine.paired, the default `ab`),
of its two arms' medians (PAIRED_QUANTILE). The test at each look is the paired t on the per-block log ratios,
winsorized: a block further than 3 robust standard deviations (1.4826 · MAD) from the median block is pulled in to
that bound, since one wild block would widen the t's interval for the rest of the run. Simulated on resampled real
blocks (`scripts/ab_sequential_sim.py`, 20,000 runs a row, 3.7 s a block): a +10% slowdown is caught within 45 s in
99.3-100% of runs (91.5% on the busier blocks without winsorizing), +4.5% at a 2% threshold within 90 s in
98.9-99.8%, +3% within 180 s in 97-99%, while A/A false regressions stay at most 1.0% at a 2% threshold and 0.01% at
5% (the threshold does much of that work: a false regression also needs an estimate beyond it). The exact sign-flip
guard of a fixed-size `ab` is not used: its smallest p-value, 2^-k, exceeds α_k until k = 9, so it would forbid
every decision before nine blocks."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# Each process enters a block by this quantile of its samples, not its median: interference only adds time, so a
# process's lower tail is what the code costs while nothing else runs. On this machine's 300 A/A blocks the 10th
# percentile's block ratios spread 2.0% (robust) and 2.5% (plain sd) against the median's 2.5% and 4.1%, their
# worst 1% within 7% against 20%; under a spinner on the measured CPU 30% of the time a +10% step's block ratios
# ran +3.4% to +16% at the 10th percentile against -38% to +31% at the median.
BLOCK_QUANTILE = 0.1
# A paired process (bench.engine.paired) enters its block by its median instead: both arms' bursts share every
# second's conditions, so interference no longer falls on one arm, and the lower tail only adds noise. On 12 paired
# 2 s processes (MobileNetV2 225 vs 243 px, ONNX Runtime, CPU 1, a noisy hour) the NEW/BASE log ratio spread 2.4%
# by the medians against 7.4% by the 10th percentiles.
PAIRED_QUANTILE = 0.5
# Blocks beyond this many robust standard deviations from the median block are pulled in to it (see above).
WINSORIZE_MADS = 3.0
# 1.4826 · MAD estimates a normal distribution's standard deviation.
MAD_TO_SD = 1.4826
# Fewer blocks give a t with 2 degrees of freedom or less, whose quantiles at the spent levels are useless
# (t_2 at 0.01 one-sided is 6.96); 4 blocks is 8 processes, about 15 s for a 5 ms model here.
DEFAULT_MIN_BLOCKS = 4


@dataclass(frozen=True)
class SpendingPlan:
    """How α is spread over the looks of an adaptive A/B: look k tests at `level(k)`."""

    alpha: float = 0.05
    min_blocks: int = DEFAULT_MIN_BLOCKS

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 0.5:
            raise ValueError(f"alpha must lie in (0, 0.5), got {self.alpha}")
        if self.min_blocks < 3:
            raise ValueError(f"a sequential look needs at least 3 blocks, got {self.min_blocks}")

    def level(self, blocks: int) -> float:
        """The one-sided significance level of the look after `blocks` blocks (0 before the first look)."""
        if blocks < self.min_blocks:
            return 0.0
        return self.alpha * self.min_blocks / (blocks * (blocks + 1))

    def spent(self, blocks: int) -> float:
        """α spent by all looks up to and including the one after `blocks` blocks."""
        if blocks < self.min_blocks:
            return 0.0
        return self.alpha * (1.0 - self.min_blocks / (blocks + 1))


@dataclass(frozen=True)
class Look:
    """The paired-t decision after some blocks: the NEW/BASE ratio, its (1 - 2·level) CI, and what it means."""

    blocks: int
    level: float
    threshold: float  # the relative threshold it was judged by
    ratio: float
    ci_low: float
    ci_high: float
    p_slower: float
    p_faster: float
    decision: str  # "regression" | "improvement" | "no change" | "continue"

    @property
    def decided(self) -> bool:
        return self.decision != "continue"


def process_quantile_ms(samples_ns: Sequence[int], quantile: float = BLOCK_QUANTILE) -> float:
    """A process's `quantile` of its samples, in ms: the lower nearest rank (no interpolation), so the run that
    stops on it and the verdict that re-reads the document agree to the bit."""
    ordered = sorted(samples_ns)
    return ordered[int(quantile * (len(ordered) - 1))] / 1e6


def judge_blocks(
    base_ms: Sequence[float], new_ms: Sequence[float], threshold: float, floor_ms: float, plan: SpendingPlan
) -> Look:
    """The look at an A/B cell's blocks so far (process i of each arm is block i, by its block value in ms).
    The relative `threshold` is raised to `floor_ms` over BASE's geometric mean where that is larger (as
    bench.compare.verdict does for every cell); `plan.alpha` is this cell's share (a run of m cells gives each
    α/m: Bonferroni, valid whatever their dependence). The adaptive run's stopping rule and the verdict on its
    document both call this, so the document is judged as the run was."""
    blocks = min(len(base_ms), len(new_ms))
    base_geomean = math.exp(math.fsum(math.log(b) for b in base_ms[:blocks]) / blocks) if blocks else 1.0
    ratios = [math.log(new_ms[i] / base_ms[i]) for i in range(blocks)]
    return look(ratios, max(threshold, floor_ms / base_geomean), plan)


def winsorize(values: Sequence[float], mads: float = WINSORIZE_MADS) -> list[float]:
    """`values` with each one further than `mads` robust standard deviations from their median pulled in to that
    bound (none moves when the MAD is zero: identical blocks, as a deterministic fake gives, stay as they are)."""
    center = statistics.median(values)
    spread = MAD_TO_SD * statistics.median(abs(x - center) for x in values)
    if spread == 0.0:
        return list(values)
    low, high = center - mads * spread, center + mads * spread
    return [min(max(x, low), high) for x in values]


def look(log_ratios: Sequence[float], threshold: float, plan: SpendingPlan) -> Look:
    """Judge the blocks so far at the level the plan spends on this look.

    The blocks are winsorized (see the module docstring), then the fixed-size `ab` rule applies at α_k: a
    regression is significant at α_k (one-sided paired t) AND its estimate beyond +threshold; an improvement the
    mirror image; no change when the (1 - 2α_k) CI lies inside ±threshold (both one-sided tests of "beyond the
    threshold" reject at α_k, TOST). Anything else: continue.
    """
    from scipy import stats as sps

    blocks = len(log_ratios)
    level = plan.level(blocks)
    if blocks < max(plan.min_blocks, 2):
        return Look(blocks, level, threshold, math.nan, math.nan, math.nan, 1.0, 1.0, "continue")
    values = winsorize(log_ratios)
    mean = math.fsum(values) / blocks
    var = math.fsum((x - mean) ** 2 for x in values) / (blocks - 1)
    se = math.sqrt(var / blocks)
    df = blocks - 1
    if se == 0.0:
        p_slower = 0.0 if mean > 0 else 1.0
        p_faster = 0.0 if mean < 0 else 1.0
        half = 0.0
    else:
        t_stat = mean / se
        p_slower = float(sps.t.sf(t_stat, df))
        p_faster = float(sps.t.cdf(t_stat, df))
        half = float(sps.t.isf(level, df)) * se
    upper, lower = math.log1p(threshold), math.log1p(-threshold)
    if p_slower < level and mean > upper:
        decision = "regression"
    elif p_faster < level and mean < lower:
        decision = "improvement"
    elif mean - half >= lower and mean + half <= upper:
        decision = "no change"
    else:
        decision = "continue"
    return Look(
        blocks,
        level,
        threshold,
        math.exp(mean),
        math.exp(mean - half),
        math.exp(mean + half),
        p_slower,
        p_faster,
        decision,
    )
