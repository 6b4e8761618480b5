"""Simulation behind the compare verdict rule: false-regression rate and power on synthetic per-process medians.

    .venv/bin/python scripts/compare_simulation.py [--reps 1000] [--seed 0]

Each comparison draws NEW and BASE per-process medians as 10 ms × exp(N(0, σ)) (× the true ratio for NEW),
σ being the between-process spread of log medians (quiet runs: 1-3%, see bench/compare/verdict.py), and judges
them with bench.compare. Besides the chosen rule ("one-sided p < α after correction for both Welch's test and the
permutation test, and the point estimate beyond the threshold") it evaluates on the same draws:
  2-sided     the same with two-sided tests at α (a 95% CI above 1): the first design,
  ci>thr      the 90% CI's lower bound above 1 + threshold (a stricter rule),
  ci>1        significant only, whatever the size (a looser rule),
  welch-only  the chosen rule without the permutation guard.
Then a suite of 20 cells (19 unchanged, 1 slowed by 10%) under Holm and Benjamini–Hochberg, a placement-luck
scenario (each process 15% slower with probability 0.1) and the smallest slowdown caught in ≥ 95%.
`--paired` instead: the block analysis of `effbench ab` (paired t on per-block log ratios with an exact
sign-flip guard) against Welch on the same interleaved draws, without and with a drift shared by both arms.
A benchmark of the rule, not of the machine: the numbers depend only on --reps and --seed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np

from bench.compare import Arm, CellInput, CompareSettings, Verdict, compare_cells, permutation_p_value

BASE_MS = 10.0


def draw(rng: np.random.Generator, n: int, sigma: float, ratio: float = 1.0) -> tuple[float, ...]:
    return tuple(float(x) for x in BASE_MS * ratio * np.exp(rng.normal(0.0, sigma, n)))


def rates(
    rng: np.random.Generator,
    reps: int,
    n: int,
    sigma: float,
    ratio: float,
    settings: CompareSettings,
    draw_fn: Callable[[np.random.Generator, int, float, float], tuple[float, ...]] = draw,
) -> dict[str, float]:
    """Share of `reps` single-cell comparisons given each verdict (chosen rule) or flagged by each other rule."""
    counts = dict.fromkeys(("regression", "no change", "inconclusive", "2-sided", "ci>thr", "ci>1", "welch-only"), 0)
    upper = 1.0 + settings.threshold
    for _ in range(reps):
        cell = CellInput("c", Arm(draw_fn(rng, n, sigma, 1.0)), Arm(draw_fn(rng, n, sigma, ratio)))
        result = compare_cells([cell], settings).cells[0]
        effect = result.effect
        assert effect is not None
        counts["regression"] += result.verdict is Verdict.REGRESSION
        counts["no change"] += result.verdict is Verdict.NO_CHANGE
        counts["inconclusive"] += result.verdict in (Verdict.INCONCLUSIVE, Verdict.NOISY)
        if effect.ratio > upper and 2 * effect.welch_p_slower < settings.alpha:
            two_sided, _ = permutation_p_value(np.log(cell.base.medians_ms), np.log(cell.new.medians_ms))
            counts["2-sided"] += two_sided < settings.alpha
        counts["ci>thr"] += effect.ci_low > upper
        counts["ci>1"] += effect.ci_low > 1.0
        counts["welch-only"] += effect.welch_p_slower < settings.alpha and effect.ratio > upper
    return {k: v / reps for k, v in counts.items()}


def placement_luck(rng: np.random.Generator, n: int, sigma: float, ratio: float) -> tuple[float, ...]:
    """Per-process medians where one process in ten lands on a 15% slower placement (a heavy right tail)."""
    unlucky = rng.random(n) < 0.1
    return tuple(float(x) for x in BASE_MS * ratio * np.exp(rng.normal(0.0, sigma, n)) * np.where(unlucky, 1.15, 1.0))


def suite(rng: np.random.Generator, reps: int, n: int, sigma: float) -> dict[str, tuple[float, float]]:
    """20 cells, the first slowed by 10%, judged under each correction on the same draws:
    {correction: (share of suites with any false regression, share catching the slow cell)}."""
    corrections = ("holm", "bh", "none")
    false_any = dict.fromkeys(corrections, 0)
    caught = dict.fromkeys(corrections, 0)
    for _ in range(reps):
        cells = [
            CellInput(f"c{i}", Arm(draw(rng, n, sigma)), Arm(draw(rng, n, sigma, 1.10 if i == 0 else 1.0)))
            for i in range(20)
        ]
        for correction in corrections:
            settings = CompareSettings(correction=correction)  # type: ignore[arg-type]
            verdicts = [c.verdict for c in compare_cells(cells, settings).cells]
            caught[correction] += verdicts[0] is Verdict.REGRESSION
            false_any[correction] += any(v is Verdict.REGRESSION for v in verdicts[1:])
    return {c: (false_any[c] / reps, caught[c] / reps) for c in corrections}


def abba_draw(
    rng: np.random.Generator, n: int, sigma: float, ratio: float, drift: float, walk: float
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """One interleaved A/B run of n blocks, 2n process slots in ABBA order: (base medians, new medians).

    The machine's log speed at slot t is drift × t / (2n - 1) (a steady slow-down over the run, e.g. a neighbour
    ramping up or thermal throttling) plus a random walk with steps of `walk` (load coming and going); every
    process adds its own placement noise σ. Both arms see the machine of their own slot.
    """
    slots = 2 * n
    machine = drift * np.arange(slots) / (slots - 1) + np.cumsum(rng.normal(0.0, walk, slots))
    own = rng.normal(0.0, sigma, slots)
    base, new = [], []
    for i in range(n):
        first, second = 2 * i, 2 * i + 1
        a_slot, b_slot = (first, second) if i % 2 == 0 else (second, first)
        base.append(float(BASE_MS * np.exp(machine[a_slot] + own[a_slot])))
        new.append(float(BASE_MS * ratio * np.exp(machine[b_slot] + own[b_slot])))
    return tuple(base), tuple(new)


def paired_rates(
    rng: np.random.Generator, reps: int, n: int, sigma: float, ratio: float, drift: float = 0.0, walk: float = 0.0
) -> dict[str, float]:
    """Share of `reps` interleaved runs judged a regression / no change by the paired analysis and by Welch."""
    counts = dict.fromkeys(("paired regr", "paired same", "welch regr", "welch same"), 0)
    for _ in range(reps):
        base, new = abba_draw(rng, n, sigma, ratio, drift, walk)
        for name, paired in (("paired", True), ("welch", False)):
            verdict = compare_cells([CellInput("c", Arm(base), Arm(new), paired=paired)]).cells[0].verdict
            counts[f"{name} regr"] += verdict is Verdict.REGRESSION
            counts[f"{name} same"] += verdict is Verdict.NO_CHANGE
    return {k: v / reps for k, v in counts.items()}


# Figures of `--paired` (seed 0, 1000 runs per row, 9 blocks, threshold ±5%, α 0.05; shares judged regression /
# no change, paired analysis | Welch on the same draws; σ is each process's own placement noise):
#   quiet, σ 2%                       A/A  0.0% / 99.9%  |  0.0% / 100.0%    +10%: 100.0%  | 100.0%
#   quiet, σ 3%                       A/A  0.0% / 85.9%  |  0.0% /  88.9%    +10%: 100.0%  | 100.0%
#   quiet, σ 5%                       A/A  1.8% / 29.4%  |  2.2% /  31.7%    +10%:  97.2%  |  97.8%
#   drift 10% over the run, σ 2%      A/A  0.0% / 100.0% |  0.0% /  93.2%    +10%: 100.0%  | 100.0%
#   drift 10% + walk 1%/slot, σ 2%    A/A  0.0% / 99.4%  |  0.0% /  75.7%    +10%: 100.0%  | 100.0%
#   walk 2%/slot, σ 2%                A/A  0.0% / 97.4%  |  0.0% /  77.1%    +10%: 100.0%  |  99.9%
#   drift 30% + walk 3%/slot, σ 3%    A/A  0.1% / 62.8%  |  0.1% /   3.6%    +10%:  99.8%  |  57.5%
#   walk 4%/slot, σ 3%                A/A  0.8% / 55.0%  |  0.2% /  10.7%    +10%:  98.8%  |  89.5%
# Without a shared drift the two are alike (the paired t has 8 df instead of ~16, which costs a little); with
# one, Welch sees the drift as between-process spread and loses "no change" and then power, while the block
# ratios cancel it. False regressions stay ≤ 1.8% everywhere, a 10% slowdown is caught in ≥ 97.2%.
def main_paired(reps: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    print(f"{reps} interleaved A/B runs per row, 9 blocks; threshold ±5%, α 0.05; regression / no change")
    print(f"{'scenario':<36} {'true':>5} | {'paired':>13} | {'welch':>13}")
    scenarios = (
        ("quiet, σ 2%", 0.02, 0.0, 0.0),
        ("quiet, σ 3%", 0.03, 0.0, 0.0),
        ("quiet, σ 5%", 0.05, 0.0, 0.0),
        ("drift 10% over the run, σ 2%", 0.02, 0.10, 0.0),
        ("drift 10% + walk 1%/slot, σ 2%", 0.02, 0.10, 0.01),
        ("walk 2%/slot, σ 2%", 0.02, 0.0, 0.02),
        ("drift 30% + walk 3%/slot, σ 3%", 0.03, 0.30, 0.03),
        ("walk 4%/slot, σ 3%", 0.03, 0.0, 0.04),
    )
    for label, sigma, drift, walk in scenarios:
        for ratio in (1.0, 1.10):
            r = paired_rates(rng, reps, 9, sigma, ratio, drift, walk)
            print(
                f"{label:<36} {ratio:>5.2f} | {r['paired regr']:>6.1%} {r['paired same']:>6.1%} | "
                f"{r['welch regr']:>6.1%} {r['welch same']:>6.1%}",
                flush=True,
            )
    print(f"\n{time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=1000, help="comparisons per row (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paired", action="store_true", help="the A/B block analysis against Welch instead")
    args = parser.parse_args()
    if args.paired:
        return main_paired(args.reps, args.seed)
    rng = np.random.default_rng(args.seed)
    settings = CompareSettings()
    start = time.perf_counter()
    print(f"{args.reps} comparisons per row; threshold ±5%, α 0.05; shares of comparisons")
    head = f"{'n':>3} {'σ':>4} {'true':>5} | {'regr':>6} {'no chg':>6} {'incon':>6} |"
    print(head + f" {'2-sided':>7} {'ci>thr':>6} {'ci>1':>6} {'welch':>6}")
    for n in (8, 9, 10):
        for sigma in (0.02, 0.03, 0.05):
            for ratio in (1.0, 1.10):
                r = rates(rng, args.reps, n, sigma, ratio, settings)
                print(
                    f"{n:>3} {sigma:>4.0%} {ratio:>5.2f} | {r['regression']:>6.1%} {r['no change']:>6.1%} "
                    f"{r['inconclusive']:>6.1%} | {r['2-sided']:>7.1%} {r['ci>thr']:>6.1%} {r['ci>1']:>6.1%} "
                    f"{r['welch-only']:>6.1%}",
                    flush=True,
                )
    print("\nplacement luck (each process 15% slower with probability 0.1), 9 processes, σ 3%:")
    for ratio in (1.0, 1.10):
        r = rates(rng, args.reps, 9, 0.03, ratio, settings, placement_luck)
        print(f"  true {ratio:.2f}: regression {r['regression']:.1%}, ci>1 {r['ci>1']:.1%}")
    print("\nsmallest slowdown caught in ≥ 95%, 9 processes per arm:")
    for sigma in (0.02, 0.03, 0.05):
        for percent in range(6, 21):
            r = rates(rng, args.reps // 2, 9, sigma, 1 + percent / 100, settings)
            if r["regression"] >= 0.95:
                print(f"  σ {sigma:.0%}: {percent}% (caught in {r['regression']:.1%})", flush=True)
                break
    suites = max(args.reps // 5, 20)
    for sigma in (0.03, 0.05):
        print(f"\nsuites of 20 cells (1 slowed by 10%), 9 processes, σ {sigma:.0%}, {suites} suites, same draws:")
        for correction, (false_any, caught) in suite(rng, suites, 9, sigma).items():
            print(f"  {correction:<4}: any false regression {false_any:.1%}, slow cell caught {caught:.1%}", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
