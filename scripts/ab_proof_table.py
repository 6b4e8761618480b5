"""The README's table of the A/B proof: one row per summary that scripts/ab_proof.sh wrote.

    .venv/bin/python scripts/ab_proof_table.py results/amd-epyc-cbe573dd/ab-proof

Each row: the model, the true change (A/A, or the measured NEW/BASE median of the slowdown's comparisons), the
threshold, the budget, the injected interference, the verdicts, how many were regressions against the target,
and the seconds per comparison (mean and most). A summary of the proof, not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ORDER = ["aa5", "aa2", "aa5i", "aa2i", "p10", "p10i", "p25i", "p45", "p3"]
TARGETS = {  # (what the issue asks of the regression count in 20, said as text)
    "aa5": "≤ 1 false",
    "aa2": "≤ 1 false",
    "aa5i": "≤ 1 false",
    "aa2i": "≤ 1 false",
    "p10": "≥ 19 caught",
    "p10i": "≥ 19 caught",
    "p25i": "20 caught",
    "p45": "≥ 19 caught",
    "p3": "(reported)",
}


def row(name: str, summary: dict) -> str:
    (line,) = summary["rows"]
    model, _, scenario = name.partition("-")
    aa = line["kind"] == "A/A"
    change = "none (A/A)" if aa else f"{line['ratio_median'] - 1:+.1%} (measured)"
    interference = f"{summary['interfere']:.0%} of the time" if summary.get("interfere") else "none"
    verdicts = ", ".join(f"{n} {v}" for v, n in sorted(line["verdicts"].items(), key=lambda kv: -kv[1]))
    counted = f"{line['regressions']}/{line['comparisons']} {'false' if aa else 'caught'}"
    times = f"{line['wall_s_mean']:.0f} s (most {line['wall_s_max']:.0f} s)"
    budget = f"{summary['budget_s']:g} s"
    target = TARGETS.get(scenario, "")
    return (
        f"| {model} | {change} | {summary['threshold']} | {budget} | {interference} | {counted} | {target} | "
        f"{verdicts} | {times} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the folder of scripts/ab_proof.sh's summaries")
    args = parser.parse_args()
    found = {p.stem: json.loads(p.read_text()) for p in sorted(args.folder.glob("*.json")) if "-step" not in p.stem}
    print(
        "| model | true change | threshold | budget | interference | regressions | target | verdicts | time per A/B |"
    )
    print("|---|---|---:|---:|---|---:|---|---|---:|")
    rank = {name: i for i, name in enumerate(ORDER)}
    for name in sorted(found, key=lambda n: (n.partition("-")[0], rank.get(n.partition("-")[2], 99), n)):
        print(row(name, found[name]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
