#!/usr/bin/env python3
"""Detection delay and false changes of `effbench history changes` on synthetic series.

Each series: --flat runs at one level, then a step (+7% by default) held for --after runs, with log-normal
run-to-run noise of the given size (and, in the "outliers" rows, 5% of runs 15% slower: a busy neighbour).
The values are per-run medians, as the history holds them (bench.history.synthetic.step_factors).

- false change (flat): share of series whose flat part alone, analysed once, shows a change.
- false alarm (nightly): share of series in which *some* nightly analysis of the flat part (after run 6, 7, …,
  --flat) shows a change, i.e. what a nightly job sees over the flat weeks.
- delay: runs after the step until an analysis first reports a change at exactly the step's run (median, p90);
  detected: share of series where that happens within --after runs.
- extra changes: share of series whose full analysis shows a change anywhere but at the step (±1 run).

    python scripts/history_sim.py --series 200
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from bench.history.changepoint import detect_change_points
from bench.history.synthetic import step_factors


def _series(flat: int, after: int, step: float, noise: float, outliers: bool, rng: random.Random) -> list[float]:
    values = [10.0 * f for f in step_factors(flat, after, step, noise, rng)]
    if outliers:
        values = [v * 1.15 if rng.random() < 0.05 else v for v in values]
    return values


def simulate(args: argparse.Namespace, noise: float, step: float, outliers: bool, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    false_flat = false_nightly = detected = extra = 0
    delays: list[int] = []
    for _ in range(args.series):
        values = _series(args.flat, args.after, step, noise, outliers, rng)
        nightly = [bool(detect_change_points(values[:n])) for n in range(6, args.flat + 1)]
        false_flat += nightly[-1]
        false_nightly += any(nightly)
        for m in range(1, args.after + 1):
            if any(c.index == args.flat for c in detect_change_points(values[: args.flat + m])):
                delays.append(m)
                detected += 1
                break
        full = detect_change_points(values)
        extra += any(abs(c.index - args.flat) > 1 for c in full)
    n = args.series
    delays_sorted = sorted(delays)
    return {
        "false_flat": false_flat / n,
        "false_nightly": false_nightly / n,
        "detected": detected / n,
        "delay_median": statistics.median(delays) if delays else float("nan"),
        "delay_p90": delays_sorted[int(0.9 * (len(delays_sorted) - 1))] if delays else float("nan"),
        "extra": extra / n,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=100, help="series per scenario (default 100)")
    parser.add_argument("--flat", type=int, default=20, help="runs before the step (default 20)")
    parser.add_argument("--after", type=int, default=10, help="runs after the step (default 10)")
    parser.add_argument("--step", type=float, default=1.07, help="step as a ratio (default 1.07)")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.01, 0.02, 0.03], help="run-to-run noise")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{args.series} series per row: {args.flat} flat runs, then ×{args.step:g} for {args.after} runs\n")
    print("| noise | outliers | false change (flat) | false alarm (nightly) | detected | delay median | delay p90 "
          "| extra changes |")  # fmt: skip
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    start = time.perf_counter()
    total = 0
    for i, noise in enumerate(args.noise):
        for outliers in (False, True):
            r = simulate(args, noise, args.step, outliers, args.seed * 1000 + i * 2 + outliers)
            total += args.series
            print(
                f"| {noise:.1%} | {'5% of runs +15%' if outliers else 'none'} | {r['false_flat']:.1%} "
                f"| {r['false_nightly']:.1%} | {r['detected']:.0%} | {r['delay_median']:g} runs "
                f"| {r['delay_p90']:g} runs | {r['extra']:.1%} |",
                flush=True,
            )
    print(f"\n{total} series in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
