"""Per-cell verdicts of a comparison (regression, improvement, no change, …) from the effect of each cell.

Pure logic over per-process numbers, no I/O and no knowledge of the result document: the caller matches cells
and hands in, per arm, one median (ms) per worker process and the cell's flags. Marks follow asv: `+` slower,
`-` faster, `~` within the threshold, `x` not comparable. The statistical rule and the simulation behind it are
above `_judge`; how interference weighs on a verdict, and the exit codes, are in bench.compare.rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.compare.cells import Arm, CellInput
from bench.compare.effect import (
    PERMUTATION_EXACT_LIMIT,
    PERMUTATION_RESAMPLES,
    PERMUTATION_SEED,
    Effect,
    geometric_mean,
    measure_effect,
    measure_paired_effect,
    p90_ratio,
)
from bench.compare.multiple import CORRECTIONS, Correction, adjust_p_values
from bench.compare.power import min_blocks_for_sign_flip, min_processes_for_permutation, processes_needed
from bench.compare.rule import (
    MARKS,
    Interference,
    Verdict,
    paired_interference,
    unpaired_interference,
    verdicts_exit_code,
    weigh_interference,
)
from bench.compare.sequential import Look, SpendingPlan, judge_blocks
from bench.errors import EffbenchError

DEFAULT_THRESHOLD = 0.05
# Below a few tens of µs, a difference is timer resolution, cache luck or a changed Python call path, not the
# model: a 0.2 ms cell needs a 10% change to count.
DEFAULT_FLOOR_MS = 0.02
DEFAULT_ALPHA = 0.05
DEFAULT_POWER = 0.9
# Between-process standard deviation of log medians above which a cell is noisy. The committed result documents
# show 3-process ranges of 1.6-4.6% on a quiet run and 12-25% on a noisy one; a range of 3 normal values is about
# 1.69 σ, so quiet σ ≈ 1-2.7% and noisy σ ≈ 7-15%. 5% leaves a factor ~1.9 above the quietest-but-worst and ~1.4
# below the least noisy; at 5%, 10 processes per arm resolve a 10% change but not a 5% one.
NOISY_SPREAD = 0.05


@dataclass(frozen=True)
class CompareSettings:
    """Knobs of a comparison. threshold and floor define "a change that matters"; alpha and correction define
    "significant"; power sizes the "more processes needed" advice."""

    threshold: float = DEFAULT_THRESHOLD
    floor_ms: float = DEFAULT_FLOOR_MS
    alpha: float = DEFAULT_ALPHA
    correction: Correction = "holm"
    power: float = DEFAULT_POWER
    noisy_spread: float = NOISY_SPREAD
    permutation_exact_limit: int = PERMUTATION_EXACT_LIMIT
    permutation_resamples: int = PERMUTATION_RESAMPLES
    seed: int = PERMUTATION_SEED
    # set for an adaptive A/B document: its paired cells are judged as its run judged them after each block,
    # at the α share per cell the run recorded
    sequential: SpendingPlan | None = None
    blocks_of: str = "process p10s"  # what an adaptive A/B's blocks were made of, for the verdict's reason

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise EffbenchError(f"threshold {self.threshold:g} is out of range: give a fraction such as 0.05 (5%)")
        if self.floor_ms < 0.0 or not math.isfinite(self.floor_ms):
            raise EffbenchError(f"floor {self.floor_ms:g} ms is out of range: give 0 or a positive number of ms")
        if not 0.0 < self.alpha < 0.5:
            raise EffbenchError(f"alpha {self.alpha:g} is out of range: give a level such as 0.05")
        if self.correction not in CORRECTIONS:
            raise EffbenchError(
                f"unknown multiple-comparison correction '{self.correction}'; use one of {', '.join(CORRECTIONS)}"
            )
        if not 0.5 <= self.power < 1.0:
            raise EffbenchError(f"power {self.power:g} is out of range: give a probability such as 0.9")
        if self.noisy_spread <= 0.0:
            raise EffbenchError(f"noisy spread limit {self.noisy_spread:g} must be positive, such as 0.05")


@dataclass(frozen=True)
class CellComparison:
    """The verdict on one cell. Ratios are NEW/BASE (above 1 is slower); [ci_low, ci_high] is the (1 - 2α) CI of
    the ratio; p_value is one-sided in the direction of the observed change (the larger of Welch's and the
    permutation test's) and p_adjusted the same after the correction over all tested cells; both None where no
    test ran. more_processes_needed is set where the effect alone is inconclusive, whatever the final verdict."""

    key: str
    verdict: Verdict
    mark: str
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_adjusted: float | None
    p90_ratio: float | None
    base_processes: int
    new_processes: int
    more_processes_needed: int | None
    reason: str
    # the relative threshold this cell was judged by (the floor included), and the full statistics
    threshold: float | None = None
    effect: Effect | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ComparisonSummary:
    counts: dict[Verdict, int]
    correction: str
    alpha: float
    threshold: float
    floor_ms: float

    def line(self) -> str:
        """The closing line: counts of each verdict present, and the rules they were judged by."""
        parts = [f"{count} {verdict.value}" for verdict, count in self.counts.items() if count]
        counts = ", ".join(parts) if parts else "no cells"
        return (
            f"{counts} (threshold ±{self.threshold * 100:g}%, floor {self.floor_ms:g} ms, α = {self.alpha:g}, "
            f"{CORRECTIONS[self.correction]})"
        )


@dataclass(frozen=True)
class Comparison:
    cells: tuple[CellComparison, ...]
    summary: ComparisonSummary
    settings: CompareSettings


def _pct(ratio: float) -> str:
    return f"{(ratio - 1.0) * 100:+.1f}%"


def _ci_text(effect: Effect) -> str:
    return f"{_pct(effect.ratio)} ({effect.confidence:.0%} CI {_pct(effect.ci_low)} to {_pct(effect.ci_high)})"


def _status_verdict(cell: CellInput) -> tuple[Verdict, str] | None:
    """The verdict when an arm has no usable result, or the caller said the arms do not compare; else None."""
    base, new = cell.base, cell.new

    def said(arm: Arm, name: str) -> str:
        return f"{arm.status} in {name}" + (f": {arm.error}" if arm.error else "")

    if new.status == "failed":
        if base.status == "ok":
            return Verdict.NEWLY_FAILING, said(new, "NEW")
        return Verdict.FAILED, f"{said(new, 'NEW')}; {said(base, 'BASE')}"
    if cell.not_comparable:
        return Verdict.NOT_COMPARABLE, cell.not_comparable
    for arm, name in ((base, "BASE"), (new, "NEW")):
        if arm.status != "ok":
            return Verdict.NOT_COMPARABLE, said(arm, name)
    return None


def _interference(cell: CellInput, paired: bool) -> Interference:
    """Which arm busy-CPU or steal-time warnings hit more: per block for an A/B cell (each arm's flag standing for
    all its processes where per-process flags are missing), per arm for two separate runs."""
    base, new = cell.base, cell.new
    if not paired:
        return unpaired_interference(base.machine_busy, new.machine_busy)
    blocks = len(base.medians_ms)
    return paired_interference(
        base.process_busy or (base.machine_busy,) * blocks, new.process_busy or (new.machine_busy,) * blocks
    )


def _imprecision(cell: CellInput, spread: float, settings: CompareSettings) -> list[str]:
    """Why the arms are less precise than the comparison needs: processes disagree, or a cap cut a cell short.

    Makes an inconclusive cell noisy (more processes would help less than a quieter machine). It does not hide a
    significant regression: Welch's test already pays for the spread, so the verdict stands, with a note.
    """
    found = []
    if spread > settings.noisy_spread:
        found.append(f"between-process spread {spread:.1%} > {settings.noisy_spread:.0%}")
    for arm, name in ((cell.base, "BASE"), (cell.new, "NEW")):
        if arm.processes_disagree and spread <= settings.noisy_spread:
            found.append(f"the processes of {name} disagree")
        if arm.cap_hit:
            found.append(f"{name} stopped at a cap before its precision target")
    return found


# The decision rule. Shares from scripts/compare_simulation.py (seed 0, 2000 comparisons per row, one cell, so
# the correction changes nothing; σ is the between-process spread of log medians, quiet runs 1-3%):
# - regression `+`: one-sided p for "slower" < α after the correction, where p is the larger of Welch's and the
#   permutation test's, AND the point estimate NEW/BASE above 1 + threshold. Unadjusted, significance is the
#   (1 - 2α) CI's lower bound above 1. A/A false regressions with 8 / 9 / 10 processes per arm: 0.0-0.1% at
#   σ 2-3%, 2.5 / 2.1 / 1.9% at σ 5% (a false one needs a fluke at α AND a ≥ 5% estimate). A true 10% slowdown:
#   caught in 100 / 99.9 / 100% at σ 3% and 96.7 / 96.7 / 98.4% at σ 5%. Each process 15% slower with
#   probability 0.1 (placement luck), 9 processes, σ 3%: 1.7% false, 96.8% caught. Smallest slowdown caught in
#   ≥ 95% with 9 processes: 7% at σ 2%, 8% at 3%, 10% at 5%.
#   Rejected: the same with two-sided tests at α (a 95% CI above 1): 93.3% caught at 8 processes and σ 5%.
#   "CI lower bound above 1 + threshold": 89.5-96.1% caught at σ 3%, 54-63% at σ 5%, since the CI half-width is
#   taken out of the effect. "CI above 1" alone: 4.7-5.5% A/A false regressions, and any significant 1% counts.
#   Without the permutation guard: identical shares at 8-10 processes; it only bites with few processes, where
#   a t-test on 3 values is a leap of faith (3 vs 3 can never pass it: 1/20 = α).
# - improvement `-`: the mirror image. The correction keeps false regressions (and, separately, false
#   improvements) at α over all cells: Holm by default.
# - no change `~`: the whole (1 - 2α) CI inside [1 - threshold, 1 + threshold], i.e. both one-sided tests of
#   "the change exceeds the threshold" reject at α (TOST, as in bioequivalence). A/A at σ 3%: 86.6 / 91.1 / 95.2%.
# - inconclusive `?`: anything else, with "about N more processes per arm" from bench.compare.power.
# - noisy `!`: _imprecision, in place of inconclusive only; a busy arm in place of no change or inconclusive.
# - suspect `*` / re-run needed `R`: busy-CPU or steal-time warnings that may have made or hidden a slowdown
#   (bench.compare.rule.weigh_interference, which keeps any other regression a regression).
# - the threshold has an absolute floor: max(threshold, floor_ms / BASE geometric mean), so a difference below
#   floor_ms (0.02 ms) is never a regression or an improvement, whatever its relative size.
def _judge(
    cell: CellInput, effect: Effect, p_adjusted: float, settings: CompareSettings
) -> tuple[Verdict, str, int | None, float]:
    """(verdict, reason, more processes per arm, relative threshold) for a cell with at least 2 processes per arm."""
    threshold = max(settings.threshold, settings.floor_ms / effect.base_geomean_ms)
    upper, lower = 1.0 + threshold, 1.0 - threshold
    significant = p_adjusted < settings.alpha
    test = f"p_adj {p_adjusted:.2g}"
    bound = f"±{threshold:.1%}" + (" (floor)" if threshold > settings.threshold else "")
    if significant and effect.ratio > upper:
        verdict, reason = Verdict.REGRESSION, f"{_ci_text(effect)}, {test} < {settings.alpha:g}, beyond {bound}"
    elif significant and effect.ratio < lower:
        verdict, reason = Verdict.IMPROVEMENT, f"{_ci_text(effect)}, {test} < {settings.alpha:g}, beyond {bound}"
    elif effect.ci_low >= lower and effect.ci_high <= upper:
        verdict, reason = Verdict.NO_CHANGE, f"{_ci_text(effect)} inside {bound}"
    else:
        verdict, reason = Verdict.INCONCLUSIVE, f"{_ci_text(effect)} crosses {bound}, {test}"

    more: int | None = None
    if verdict is Verdict.INCONCLUSIVE:
        have = min(effect.base_processes, effect.new_processes)
        needed = processes_needed(effect.pooled_spread, threshold, alpha=settings.alpha, power=settings.power)
        if effect.paired:  # the sign-flip guard needs more blocks than the two-sample permutation test
            needed = max(needed, min_blocks_for_sign_flip(settings.alpha))
        more = max(needed - have, 1)
        if needed > have:
            reason += f"; about {more} more processes per arm needed at {effect.pooled_spread:.1%} spread"
        else:
            reason += (
                f"; {have} processes per arm usually suffice at {effect.pooled_spread:.1%} spread but this estimate "
                f"lies near a boundary: about {more} more per arm, or a re-run"
            )
    verdict, reason = _qualify(cell, effect, verdict, reason, settings)
    return verdict, reason, more, threshold


def _qualify(
    cell: CellInput, effect: Effect, verdict: Verdict, reason: str, settings: CompareSettings
) -> tuple[Verdict, str]:
    """The verdict and reason after interference (bench.compare.rule) and imprecision have had their say."""
    verdict, note = weigh_interference(verdict, _interference(cell, effect.paired), paired=effect.paired)
    # Paired, what limits precision is the spread of the block ratios (a drift shared by both arms widens each
    # arm's spread but cancels in the ratios); as a per-arm figure, like the unpaired one.
    spread = effect.pooled_spread if effect.paired else max(effect.base_spread, effect.new_spread)
    imprecise = _imprecision(cell, spread, settings)
    if verdict is Verdict.INCONCLUSIVE and imprecise:
        verdict, reason = Verdict.NOISY, f"{'; '.join(imprecise)}: {reason}, or a quieter machine"
    elif verdict in (Verdict.REGRESSION, Verdict.IMPROVEMENT) and imprecise:
        noisy = f"conditions were noisy ({'; '.join(imprecise)}): confirm with a re-run"
        note = f"{note}; {noisy}" if note else noisy
    return verdict, "; ".join(filter(None, (reason, note)))


SEQUENTIAL_VERDICTS = {
    "regression": Verdict.REGRESSION,
    "improvement": Verdict.IMPROVEMENT,
    "no change": Verdict.NO_CHANGE,
    "continue": Verdict.INCONCLUSIVE,
}


def _judge_sequential(cell: CellInput, effect: Effect, settings: CompareSettings) -> CellComparison:
    """A paired cell of an adaptive A/B, judged as its run judged it after its last block
    (bench.compare.sequential.judge_blocks: winsorized paired t at the level spent on that look; the plan's α
    is each cell's share, as the run recorded it)."""
    assert settings.sequential is not None
    seen: Look = judge_blocks(
        cell.base.medians_ms, cell.new.medians_ms, settings.threshold, settings.floor_ms, settings.sequential
    )
    threshold = seen.threshold
    verdict = SEQUENTIAL_VERDICTS[seen.decision]
    ci = f"{_pct(seen.ratio)} ({1 - 2 * seen.level:.2%} CI {_pct(seen.ci_low)} to {_pct(seen.ci_high)})"
    step = (
        f"after {seen.blocks} blocks of {settings.blocks_of} at α {seen.level:.2g} (spent over the looks), "
        f"±{threshold:.1%}"
    )
    reason = f"{ci} {step}" if verdict is not Verdict.INCONCLUSIVE else f"{ci} still crosses {step}"
    verdict, reason = _qualify(cell, effect, verdict, reason, settings)
    p = min(seen.p_slower, seen.p_faster)
    return CellComparison(
        key=cell.key, verdict=verdict, mark=MARKS[verdict], ratio=seen.ratio, ci_low=seen.ci_low,
        ci_high=seen.ci_high, p_value=p, p_adjusted=None, p90_ratio=None,
        base_processes=effect.base_processes, new_processes=effect.new_processes, more_processes_needed=None,
        reason=reason, threshold=threshold, effect=effect,
    )  # fmt: skip


def _before_first_look(cell: CellInput, settings: CompareSettings) -> bool:
    """Whether an adaptive A/B's cell stopped before its design's first look (its budget ran out, as when a
    cold export cache spent it): the run never judged it, so neither may its document."""
    blocks = min(len(cell.base.medians_ms), len(cell.new.medians_ms))
    return settings.sequential is not None and cell.paired and blocks < settings.sequential.min_blocks


def _unlooked(cell: CellInput, settings: CompareSettings) -> CellComparison:
    """ "Re-run needed" (exit 3): the gate could not decide, and a point estimate, however large, is no verdict."""
    assert settings.sequential is not None
    base, new = cell.base, cell.new
    blocks = min(len(base.medians_ms), len(new.medians_ms))
    ratio = geometric_mean(new.medians_ms[:blocks]) / geometric_mean(base.medians_ms[:blocks]) if blocks else None
    estimate = f"{_pct(ratio)} from " if ratio is not None else ""
    reason = (
        f"{estimate}{blocks} block(s): the A/B stopped before its first look at {settings.sequential.min_blocks} "
        "blocks (its budget ran out; an export into a cold cache counts): re-run with a larger --budget"
    )
    return CellComparison(
        key=cell.key, verdict=Verdict.RERUN_NEEDED, mark=MARKS[Verdict.RERUN_NEEDED], ratio=ratio, ci_low=None,
        ci_high=None, p_value=None, p_adjusted=None, p90_ratio=None, base_processes=len(base.medians_ms),
        new_processes=len(new.medians_ms), more_processes_needed=settings.sequential.min_blocks - blocks,
        reason=reason,
    )  # fmt: skip


def _few_processes(cell: CellInput, settings: CompareSettings) -> CellComparison:
    """A cell with a single process in an arm: a point estimate, no spread, so no test."""
    base, new = cell.base, cell.new
    ratio = geometric_mean(new.medians_ms) / geometric_mean(base.medians_ms)
    have = min(len(base.medians_ms), len(new.medians_ms))
    more = min_processes_for_permutation(settings.alpha) - have
    verdict, note = weigh_interference(Verdict.INCONCLUSIVE, _interference(cell, False), paired=False)
    reason = (
        f"{_pct(ratio)} from {len(base.medians_ms)} vs {len(new.medians_ms)} processes: one process gives no "
        f"between-process spread; at least {more} more processes per arm needed"
    )
    reason = "; ".join(filter(None, (reason, note)))
    return CellComparison(
        key=cell.key, verdict=verdict, mark=MARKS[verdict], ratio=ratio, ci_low=None, ci_high=None, p_value=None,
        p_adjusted=None, p90_ratio=p90_ratio(base.p90s_ms, base.samples, new.p90s_ms, new.samples),
        base_processes=len(base.medians_ms), new_processes=len(new.medians_ms), more_processes_needed=more,
        reason=reason,
    )  # fmt: skip


def compare_cells(cells: Sequence[CellInput], settings: CompareSettings | None = None) -> Comparison:
    """Verdicts for matched cells, in their order. p-values of all tested cells are adjusted together."""
    settings = settings or CompareSettings()
    keys = [cell.key for cell in cells]
    if len(set(keys)) != len(keys):
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"cell keys must be unique, got duplicates: {', '.join(duplicates)}")
    results: list[CellComparison | None] = [None] * len(cells)
    tested: list[tuple[int, Effect]] = []
    for index, cell in enumerate(cells):
        status = _status_verdict(cell)
        if status is not None:
            verdict, reason = status
            results[index] = CellComparison(
                key=cell.key,
                verdict=verdict,
                mark=MARKS[verdict],
                ratio=None,
                ci_low=None,
                ci_high=None,
                p_value=None,
                p_adjusted=None,
                p90_ratio=None,
                base_processes=len(cell.base.medians_ms),
                new_processes=len(cell.new.medians_ms),
                more_processes_needed=None,
                reason=reason,
            )
        elif _before_first_look(cell, settings):
            results[index] = _unlooked(cell, settings)
        elif min(len(cell.base.medians_ms), len(cell.new.medians_ms)) < 2:
            results[index] = _few_processes(cell, settings)
        elif cell.paired and len(cell.base.medians_ms) == len(cell.new.medians_ms):
            effect = measure_paired_effect(
                cell.base.medians_ms,
                cell.new.medians_ms,
                confidence=1.0 - 2.0 * settings.alpha,
                resamples=settings.permutation_resamples,
                seed=settings.seed,
            )
            tested.append((index, effect))
        else:
            effect = measure_effect(
                cell.base.medians_ms,
                cell.new.medians_ms,
                confidence=1.0 - 2.0 * settings.alpha,
                exact_limit=settings.permutation_exact_limit,
                resamples=settings.permutation_resamples,
                seed=settings.seed,
            )
            tested.append((index, effect))

    adjusted = adjust_p_values([effect.p_value for _, effect in tested], settings.correction)
    for (index, effect), p_adj in zip(tested, adjusted, strict=True):
        cell = cells[index]
        if settings.sequential is not None and effect.paired:
            results[index] = _judge_sequential(cell, effect, settings)
            continue
        verdict, reason, more, threshold = _judge(cell, effect, p_adj, settings)
        results[index] = CellComparison(
            key=cell.key,
            verdict=verdict,
            mark=MARKS[verdict],
            ratio=effect.ratio,
            ci_low=effect.ci_low,
            ci_high=effect.ci_high,
            p_value=effect.p_value,
            p_adjusted=p_adj,
            p90_ratio=p90_ratio(cell.base.p90s_ms, cell.base.samples, cell.new.p90s_ms, cell.new.samples),
            base_processes=effect.base_processes,
            new_processes=effect.new_processes,
            more_processes_needed=more,
            reason=reason,
            threshold=threshold,
            effect=effect,
        )
    done = tuple(r for r in results if r is not None)
    return Comparison(cells=done, summary=summarize_verdicts(done, settings), settings=settings)


def summarize_verdicts(comparisons: Sequence[CellComparison], settings: CompareSettings) -> ComparisonSummary:
    counts = {verdict: 0 for verdict in Verdict}
    for comparison in comparisons:
        counts[comparison.verdict] += 1
    return ComparisonSummary(
        counts=counts,
        correction=settings.correction,
        alpha=settings.alpha,
        threshold=settings.threshold,
        floor_ms=settings.floor_ms,
    )


def exit_code(comparisons: Sequence[CellComparison] | Comparison, strict: bool = False) -> int:
    """The exit code of a comparison's verdicts (bench.compare.rule.verdicts_exit_code)."""
    cells = comparisons.cells if isinstance(comparisons, Comparison) else comparisons
    return verdicts_exit_code((c.verdict for c in cells), strict=strict)
