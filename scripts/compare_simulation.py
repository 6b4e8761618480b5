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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=1000, help="comparisons per row (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
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
