"""Simulates the adaptive A/B's sequential rule (bench.compare.sequential) on block ratios of this machine.

    .venv/bin/python scripts/ab_sequential_sim.py [--design abba|paired] [--runs 20000] [--block-s 3.7]
        [--output sim.json]
    .venv/bin/python scripts/ab_sequential_sim.py --extract-paired DIR     # once: DIR = ab_proof.sh's documents

Each simulated comparison draws ABBA blocks one at a time, as `effbench ab --budget` does, and judges after every
block. A block's NEW/BASE log ratio is drawn (with replacement) from the per-block log ratios of the committed
A/A documents (results/amd-epyc-cbe573dd/compare-proof*: 300 blocks, MobileNetV2 on ONNX Runtime, CPU 1, the ci
preset; each process by its 10th percentile, as the adaptive A/B judges it), centred on zero and shifted by
log(true ratio): the real heavy tails, not a normal model. "quiet" draws from the run whose blocks spread 2.0%,
"noisy" from a busier one (2.5% robust, 4.4% plain sd). A comparison stops at its first decided look or when the
budget's blocks are spent (undecided: no regression reported).

`--design paired` draws instead from the blocks of the paired design (`effbench ab`'s default: one process timing
both arms in alternating bursts, each arm by its median): MobileNetV2's A/As of scripts/ab_proof.sh (rows aa5 and
aa2 "quiet", aa5i and aa2i "interfered", a spinner on the measured CPU 30% of the time), extracted once into
results/amd-epyc-cbe573dd/ab-sequential-sim/paired-aa-blocks.json by `--extract-paired` (the documents are not
kept). Those A/As stopped once decided, so their blocks lean a little to the agreeing ones; the real runs are the proof.

Rules compared (rows of the output); all but `raw` winsorize the blocks at 3 robust sd, as the shipped rule does:
- `spend`: the shipped rule, α_k = α·k0/(k(k+1)) at look k ≥ k0 (union bound, always valid);
- `raw`: the same spending on the plain (not winsorized) block ratios;
- `naive`: every look at α (what looking without correcting would do);
- `bonferroni`: α / (number of looks the budget allows) at every look (needs the budget fixed in advance);
- `fixed`: one look after all the budget's blocks, at α (a fixed-size ab of that many blocks).
A benchmark of the rule, not a test; the numbers it prints are quoted in README.md.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.compare.sequential import (  # noqa: E402
    BLOCK_QUANTILE,
    MAD_TO_SD,
    PAIRED_QUANTILE,
    WINSORIZE_MADS,
    SpendingPlan,
    look,
    process_quantile_ms,
)

SOURCES = {
    "quiet": "results/amd-epyc-cbe573dd/compare-proof/aa-*.json",
    "noisy": "results/amd-epyc-cbe573dd/compare-proof-5pct/aa-*.json",
}
PAIRED_BLOCKS = "results/amd-epyc-cbe573dd/ab-sequential-sim/paired-aa-blocks.json"
PAIRED_ROWS = {"quiet": ("aa5", "aa2"), "interfered": ("aa5i", "aa2i")}


def raw_block_log_ratios(pattern: str, quantile: float = BLOCK_QUANTILE) -> list[float]:
    """Per-block log(NEW / BASE) of every A/A document matching `pattern`, each process by its `quantile`."""
    ratios: list[float] = []
    for path in sorted(glob.glob(str(ROOT / pattern) if not Path(pattern).is_absolute() else pattern)):
        doc = json.loads(Path(path).read_text())
        arms = {cell.get("arm"): cell for cell in doc["cells"]}
        base = [process_quantile_ms(p["samples_ns"], quantile) for p in arms["base"]["processes"]]
        new = [process_quantile_ms(p["samples_ns"], quantile) for p in arms["new"]["processes"]]
        ratios += [math.log(n / b) for b, n in zip(base, new, strict=True)]
    return ratios


def centred(ratios: list[float]) -> np.ndarray:
    values = np.array(ratios)
    return values - float(np.median(values))


def extract_paired(folder: Path) -> None:
    """PAIRED_BLOCKS from MobileNetV2's paired A/A documents under `folder` (ab_proof.sh's --keep folders)."""
    pools = {
        name: [r for row in rows for r in raw_block_log_ratios(str(folder / f"mobilenet_v2-{row}" / "aa-*.json"),
                                                              PAIRED_QUANTILE)]
        for name, rows in PAIRED_ROWS.items()
    }  # fmt: skip
    meta = {"model": "mobilenet_v2", "backend": "onnxruntime", "quantile": PAIRED_QUANTILE, "rows": PAIRED_ROWS}
    (ROOT / PAIRED_BLOCKS).write_text(json.dumps({**meta, "blocks": pools}, indent=1))
    print(f"{PAIRED_BLOCKS}: " + ", ".join(f"{name} {len(v)} blocks" for name, v in pools.items()))


@dataclass(frozen=True)
class Rule:
    name: str
    plan: SpendingPlan

    def level(self, k: int, max_blocks: int) -> float | None:
        """The one-sided level of the look after k blocks; None where this rule does not look."""
        if k < self.plan.min_blocks:
            return None
        if self.name in ("spend", "raw"):
            return self.plan.level(k)
        if self.name == "naive":
            return self.plan.alpha
        if self.name == "bonferroni":
            return self.plan.alpha / (max_blocks - self.plan.min_blocks + 1)
        return self.plan.alpha if k == max_blocks else None  # fixed


def decisions(draws: np.ndarray, threshold: float, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
    """(first decision per comparison, blocks run per comparison) for draws of shape (comparisons, max blocks):
    bench.compare.sequential.look's rule, vectorised over comparisons (0 continue, 1 regression, 2 improvement,
    3 no change)."""
    from scipy import stats as sps

    runs, max_blocks = draws.shape
    decision = np.zeros(runs, dtype=int)
    blocks = np.full(runs, max_blocks)
    upper, lower = math.log1p(threshold), math.log1p(-threshold)
    for k in range(2, max_blocks + 1):
        level = rule.level(k, max_blocks)
        if level is None:
            continue
        values = draws[:, :k]
        if rule.name != "raw":
            center = np.median(values, axis=1, keepdims=True)
            spread = MAD_TO_SD * np.median(np.abs(values - center), axis=1, keepdims=True)
            values = np.clip(values, center - WINSORIZE_MADS * spread, center + WINSORIZE_MADS * spread)
        mean = values.mean(axis=1)
        se = values.std(axis=1, ddof=1) / math.sqrt(k)
        crit = float(sps.t.isf(level, k - 1))
        open_ = decision == 0
        slower = open_ & (mean > crit * se) & (mean > upper)
        faster = open_ & ~slower & (mean < -crit * se) & (mean < lower)
        same = open_ & ~slower & ~faster & (mean - crit * se >= lower) & (mean + crit * se <= upper)
        for code, hit in ((1, slower), (2, faster), (3, same)):
            decision[hit] = code
            blocks[hit] = k
    return decision, blocks


def check_against_look(draws: np.ndarray, threshold: float, plan: SpendingPlan) -> None:
    """The vectorised rule must decide as bench.compare.sequential.look does, look by look."""
    codes = {"continue": 0, "regression": 1, "improvement": 2, "no change": 3}
    decision, blocks = decisions(draws, threshold, Rule("spend", plan))
    for row, want, at in zip(draws, decision, blocks, strict=True):
        got, k = 0, draws.shape[1]
        for k in range(plan.min_blocks, draws.shape[1] + 1):
            got = codes[look(row[:k].tolist(), threshold, plan).decision]
            if got:
                break
        if (got, k if got else draws.shape[1]) != (want, at):
            raise SystemExit(f"simulation and look() disagree: {got}@{k} against {want}@{at}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=4000, help="simulated comparisons per row")
    parser.add_argument("--block-s", type=float, default=3.7, help="seconds per ABBA block (two processes)")
    parser.add_argument("--setup-s", type=float, default=8.0, help="seconds before the first block (checks, plan)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--design", choices=("abba", "paired"), default="abba", help="whose blocks to draw")
    parser.add_argument("--extract-paired", type=Path, metavar="DIR", help="write PAIRED_BLOCKS from DIR and stop")
    args = parser.parse_args(argv)
    if args.extract_paired:
        extract_paired(args.extract_paired)
        return 0
    rng = np.random.default_rng(args.seed)
    if args.design == "paired":
        stored = json.loads((ROOT / PAIRED_BLOCKS).read_text())["blocks"]
        pools = {name: centred(values) for name, values in stored.items()}
    else:
        pools = {name: centred(raw_block_log_ratios(pattern)) for name, pattern in SOURCES.items()}
    for name, pool in pools.items():
        mad = 1.4826 * float(np.median(np.abs(pool)))
        print(f"{name}: {pool.size} blocks, sd {pool.std(ddof=1):.2%}, robust sd {mad:.2%}")
    scenarios = [
        # (label, true ratio, threshold, budget s)
        ("A/A, threshold 5%", 1.0, 0.05, 90),
        ("A/A, threshold 2%", 1.0, 0.02, 90),
        ("+10%, threshold 5%, 45 s", 1.10, 0.05, 45),
        ("+4.5%, threshold 2%, 90 s", 1.045, 0.02, 90),
        ("+3%, threshold 2%, 180 s", 1.03, 0.02, 180),
        ("+25%, threshold 5%, 90 s", 1.25, 0.05, 90),
    ]
    plan = SpendingPlan()
    rows = []
    print(f"{'scenario':32} {'noise':10} {'rule':11} {'regression':>10} {'blocks':>7} {'seconds':>8}")
    for label, ratio, threshold, budget in scenarios:
        max_blocks = max(int((budget - args.setup_s) // args.block_s), plan.min_blocks)
        for noise, pool in pools.items():
            draws = rng.choice(pool, size=(args.runs, max_blocks)) + math.log(ratio)
            check_against_look(draws[:100], threshold, plan)
            for rule_name in ("spend", "raw", "naive", "bonferroni", "fixed"):
                decided, ran = decisions(draws, threshold, Rule(rule_name, plan))
                share, blocks = float(np.mean(decided == 1)), float(np.mean(ran))
                seconds = args.setup_s + blocks * args.block_s
                rows.append(
                    {"scenario": label, "noise": noise, "rule": rule_name, "ratio": ratio, "threshold": threshold,
                     "budget_s": budget, "max_blocks": max_blocks, "regression_share": share,
                     "mean_blocks": blocks, "mean_seconds": seconds}
                )  # fmt: skip
                print(f"{label:32} {noise:10} {rule_name:11} {share:10.2%} {blocks:7.1f} {seconds:8.0f}")
    if args.output:
        summary = {"design": args.design, "runs": args.runs, "block_s": args.block_s, "rows": rows}
        args.output.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
