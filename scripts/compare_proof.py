"""The proof behind `effbench ab`'s verdicts on this machine: A/A false regressions and the power to catch a real
slowdown, each comparison a real `python -m bench ab` run.

    .venv/bin/python scripts/compare_proof.py --cpus 1 --k 20 --output proof.json [--keep DIR]
        [--model mobilenet_v2] [--backend onnxruntime] [--ratio 1.10 --ratio 1.05] [--processes N]
        [--budget S] [--pairing bursts|processes] [--threshold PCT] [--interfere FRACTION] [--pair BASE,NEW]
        [--no-aa | --no-power]
    .venv/bin/python scripts/compare_proof.py --cpus 1 --measure-step 1.045 --blocks 24 --output step.json

(a) K A/A comparisons `ab M M` (the ci preset): every regression verdict is a false one (issue 9 asks ≤ 1 in 20).
(b) K power comparisons per --ratio: `ab M' M''`, the same network at two input resolutions whose MACs differ by
    about that ratio (bench.zoo counts them; a real slowdown, nothing injected in the timing loop), compared as
    one cell; a regression verdict is a catch (≥ 19 in 20 at 1.10). MACs step with the stride-32 feature maps,
    so when no resolution above M's own gives the ratio within ±2%, the base moves up too (mobilenet_v2: r=225
    against r=243 for +10.1%, where r=225 alone is already +14.6% over 224).
--budget runs the adaptive A/B (`ab --budget S`, blocks until decided); without it and without --processes the
A/B is adaptive with its default budget. --interfere F starts, for each comparison, a process pinned to the
measured CPU that spins for random spells (0.2-1 s) a fraction F of the time: interference the worker sees as
"got only N% of its CPU", landing on whichever arm runs then. --pair BASE,NEW names the slowdown's two specs
instead of choosing them by MACs; --measure-step R measures the real latency ratio of the MACs-chosen pair for R
with one long fixed-size A/B (a resolution step changes latency in jumps, not with the MACs), so the pair can be
chosen by what it costs, not what it counts.
Prints a table (verdict counts, false-regression and detection rates, the measured NEW/BASE ratios, wall time and
blocks per comparison), writes a JSON summary to --output and keeps every comparison's result document in --keep.
A benchmark of the machine, not a test: run it on a quiet, pinned CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fsio import write_new_file  # noqa: E402
from bench.zoo import resolve_model  # noqa: E402

MATCH_TOLERANCE = 0.02


@dataclass(frozen=True)
class Outcome:
    """One comparison: what `effbench ab` said and how long it took."""

    kind: str  # "A/A" or "power ×1.10"
    base: str
    new: str
    exit_code: int
    verdict: str | None
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    wall_s: float
    document: str
    error: str = ""
    blocks: int | None = None


def with_resolution(model: str, resolution: int) -> str:
    """`model` with its input resolution set: b0 → b0:r=240, b0:w=1.1,r=224 → b0:w=1.1,r=240."""
    name, _, rest = model.partition(":")
    items = [item for item in rest.split(",") if item.strip() and not item.strip().startswith("r=")]
    return f"{name}:{','.join([*items, f'r={resolution}'])}"


def slower_pair(model: str, ratio: float) -> tuple[str, str, float]:
    """(BASE spec, NEW spec, NEW/BASE MACs) of `model` at two resolutions whose MACs differ by about `ratio`."""
    own = resolve_model(model).resolution
    macs: dict[int, int] = {}

    def at(r: int) -> int:
        if r not in macs:
            macs[r] = resolve_model(with_resolution(model, r)).macs
        return macs[r]

    def best_new(r0: int) -> tuple[float, int]:
        return min((abs(at(r1) / at(r0) - ratio), r1) for r1 in range(r0 + 1, int(r0 * 1.5) + 2))

    miss, r1 = best_new(own)
    base, r0 = model, own
    if miss > MATCH_TOLERANCE:
        for start in range(own + 1, own + 33):
            candidate = best_new(start)
            if candidate[0] < miss:
                (miss, r1), base, r0 = candidate, with_resolution(model, start), start
            if miss <= MATCH_TOLERANCE:
                break
    return base, with_resolution(model, r1), at(r1) / at(r0)


# A competing process on the measured CPU: spins for a random 0.2-1 s, then sleeps so that it spins a fraction
# `busy` of the time, until it is killed.
SPINNER = """
import os, random, sys, time
os.sched_setaffinity(0, {int(c) for c in sys.argv[1].split(",")})
busy, rng = float(sys.argv[2]), random.Random(int(sys.argv[3]))
parent = os.getppid()
while os.getppid() == parent:  # never outlives the proof script, even one that was killed
    spell = rng.uniform(0.2, 1.0)
    end = time.monotonic() + spell
    while time.monotonic() < end:
        pass
    time.sleep(spell * (1.0 - busy) / busy)
"""


def run_ab(kind: str, base: str, new: str, document: Path, args: argparse.Namespace, seed: int = 0) -> Outcome:
    command = [sys.executable, "-m", "bench", "ab", base, new, "--backend", args.backend, "--cpus", args.cpus,
               "--preset", args.preset, "--format", "json", "--output", str(document),
               "--threshold", args.threshold]  # fmt: skip
    if args.processes:
        command += ["--processes", str(args.processes)]
    if args.budget:
        command += ["--budget", str(args.budget)]
    if args.pairing and not args.processes:
        command += ["--pairing", args.pairing]
    spinner = None
    if args.interfere:
        cpus = args.cpus.replace("-", ",")
        spinner = subprocess.Popen([sys.executable, "-c", SPINNER, cpus, str(args.interfere), str(seed)])
    start = time.monotonic()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    wall = time.monotonic() - start
    verdict = ratio = low = high = None
    error = ""
    try:
        (cell,) = json.loads(done.stdout)["cells"]
        verdict, ratio, low, high = cell["verdict"], cell["ratio"], cell["ci_low"], cell["ci_high"]
    except (ValueError, KeyError, TypeError):
        error = (done.stderr.strip().splitlines() or [f"exit {done.returncode}, no output"])[-1]
    blocks = None
    if document.exists():
        cells = json.loads(document.read_text())["cells"]
        blocks = min((len(c.get("processes", [])) for c in cells), default=None)
    return Outcome(kind, base, new, done.returncode, verdict, ratio, low, high, wall, str(document), error, blocks)


def summarize(kind: str, outcomes: list[Outcome]) -> dict[str, Any]:
    verdicts = Counter(o.verdict or "error" for o in outcomes)
    ratios = [o.ratio for o in outcomes if o.ratio is not None]
    regressions = verdicts.get("regression", 0)
    return {
        "kind": kind,
        "comparisons": len(outcomes),
        "base": outcomes[0].base if outcomes else None,
        "new": outcomes[0].new if outcomes else None,
        "verdicts": dict(verdicts),
        "regressions": regressions,
        "regression_rate": regressions / len(outcomes) if outcomes else None,
        "ratio_median": statistics.median(ratios) if ratios else None,
        "ratio_min": min(ratios) if ratios else None,
        "ratio_max": max(ratios) if ratios else None,
        "wall_s_mean": statistics.fmean(o.wall_s for o in outcomes) if outcomes else None,
        "wall_s_max": max(o.wall_s for o in outcomes) if outcomes else None,
        "blocks_mean": statistics.fmean(o.blocks for o in outcomes if o.blocks) if outcomes else None,
        "exit_codes": dict(Counter(str(o.exit_code) for o in outcomes)),
    }


def pct(value: float | None) -> str:
    return "-" if value is None else f"{(value - 1) * 100:+.1f}%"


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"\n{'comparison':<14} {'n':>3}  {'verdicts':<44} {'regr.':>6}  {'NEW/BASE median [min, max]':<28} {'s/run':>6}"
    )
    for row in rows:
        verdicts = ", ".join(f"{n} {v}" for v, n in sorted(row["verdicts"].items()))
        spread = f"{pct(row['ratio_median'])} [{pct(row['ratio_min'])}, {pct(row['ratio_max'])}]"
        rate = "-" if row["regression_rate"] is None else f"{row['regression_rate']:.0%}"
        wall = "-" if row["wall_s_mean"] is None else f"{row['wall_s_mean']:.0f}"
        print(f"{row['kind']:<14} {row['comparisons']:>3}  {verdicts:<44} {rate:>6}  {spread:<28} {wall:>6}")
    for row in rows:
        meaning = "false regressions" if row["kind"] == "A/A" else "slowdowns caught"
        print(f"{row['kind']}: {row['regressions']} of {row['comparisons']} {meaning} ({row['base']} vs {row['new']})")


def measure_step(args: argparse.Namespace, keep: Path) -> int:
    """The real NEW/BASE latency of the pair chosen for --measure-step R: one fixed-size A/B of --blocks blocks,
    the median block ratio and the paired CI, written to --output."""
    base, new, macs = slower_pair(args.model, args.measure_step)
    document = keep / f"step-{args.measure_step:.3f}.json"
    step_args = argparse.Namespace(**{**vars(args), "processes": args.blocks, "budget": None, "interfere": None})
    outcome = run_ab("step", base, new, document, step_args)
    doc = json.loads(document.read_text())
    arms = {cell["arm"]: cell for cell in doc["cells"]}
    ratios = [
        statistics.median(n["samples_ns"]) / statistics.median(b["samples_ns"])
        for b, n in zip(arms["base"]["processes"], arms["new"]["processes"], strict=True)
    ]
    found = {"base": base, "new": new, "macs_ratio": macs, "latency_ratio_median_block": statistics.median(ratios),
             "latency_ratio": outcome.ratio, "ci_low": outcome.ci_low, "ci_high": outcome.ci_high,
             "blocks": len(ratios), "document": str(document)}  # fmt: skip
    print(json.dumps(found, indent=1))
    write_new_file(args.output, json.dumps(found, indent=2) + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mobilenet_v2", help="zoo model or spec (default mobilenet_v2)")
    parser.add_argument("--backend", default="onnxruntime", help="backend (default onnxruntime)")
    parser.add_argument("--cpus", default="1", help="CPU to pin both arms to (default 1)")
    parser.add_argument("--k", type=int, default=20, help="comparisons of each kind (default 20)")
    parser.add_argument("--ratio", type=float, action="append", help="MACs ratio of the power runs (default 1.10)")
    parser.add_argument("--preset", default="ci", help="measurement preset (default ci)")
    parser.add_argument("--processes", type=int, help="processes per arm: a fixed-size A/B (default: adaptive)")
    parser.add_argument("--budget", type=float, help="seconds per adaptive A/B (default: ab's own)")
    parser.add_argument("--pairing", choices=("bursts", "processes"), help="ab's --pairing (default: ab's own)")
    parser.add_argument("--threshold", default="5%", help="the verdicts' threshold (default 5%%)")
    parser.add_argument("--interfere", type=float, help="a spinner on the measured CPU this fraction of the time")
    parser.add_argument("--pair", help="BASE,NEW specs of the slowdown (default: chosen by MACs for --ratio)")
    parser.add_argument("--no-aa", action="store_true", help="no A/A comparisons")
    parser.add_argument("--no-power", action="store_true", help="A/A comparisons only")
    parser.add_argument("--measure-step", type=float, help="measure the latency ratio of the pair chosen for R")
    parser.add_argument("--blocks", type=int, default=24, help="blocks of the --measure-step A/B (default 24)")
    parser.add_argument("--keep", type=Path, help="folder for every comparison's result document")
    parser.add_argument("--output", type=Path, required=True, help="JSON summary (never overwritten)")
    args = parser.parse_args()
    if args.k < 1:
        parser.error("--k must be at least 1")
    keep = args.keep or ROOT / "results" / f"compare-proof-{time.strftime('%Y%m%d-%H%M%S')}"
    keep.mkdir(parents=True, exist_ok=True)
    if args.measure_step:
        return measure_step(args, keep)
    plans: list[tuple[str, str, str, float]] = [] if args.no_aa else [("A/A", args.model, args.model, 1.0)]
    if args.pair:
        base, new = args.pair.split(",")
        macs = resolve_model(new).macs / resolve_model(base).macs
        plans.append((f"step ×{macs:.3f} MACs", base, new, macs))
    for ratio in [] if args.no_power else args.ratio or ([] if args.pair else [1.10]):
        base, new, macs = slower_pair(args.model, ratio)
        plans.append((f"power ×{ratio:.2f}", base, new, macs))
        print(f"power ×{ratio:.2f}: {base} vs {new}, MACs ×{macs:.3f}", flush=True)

    start = time.monotonic()
    outcomes: dict[str, list[Outcome]] = {kind: [] for kind, *_ in plans}
    # Interleaved by repetition, so a quiet or busy hour of the machine is shared by A/A and power runs alike.
    for i in range(args.k):
        for kind, base, new, _ in plans:
            slug = kind.replace("/", "").replace(" ×", "-").replace(" ", "-").lower()
            outcome = run_ab(kind, base, new, keep / f"{slug}-{i + 1:02d}.json", args, seed=i)
            outcomes[kind].append(outcome)
            print(
                f"[{i + 1}/{args.k}] {kind}: exit {outcome.exit_code}, {outcome.verdict or outcome.error}, "
                f"{pct(outcome.ratio)} [{pct(outcome.ci_low)}, {pct(outcome.ci_high)}], {outcome.wall_s:.0f} s, "
                f"{outcome.blocks} blocks",
                flush=True,
            )
    rows = [summarize(kind, outcomes[kind]) for kind, *_ in plans]
    for row, (_, _, _, macs) in zip(rows, plans, strict=True):
        row["macs_ratio"] = macs
    print_table(rows)
    summary = {
        "model": args.model,
        "backend": args.backend,
        "cpus": args.cpus,
        "preset": args.preset,
        "processes": args.processes,
        "budget_s": args.budget,
        "pairing": args.pairing or "ab's default",
        "effbench_commit": subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip(),
        "threshold": args.threshold,
        "interfere": args.interfere,
        "k": args.k,
        "documents": str(keep),
        "total_wall_s": time.monotonic() - start,
        "rows": rows,
        "comparisons": [asdict(o) for kind in outcomes for o in outcomes[kind]],
    }
    written = write_new_file(args.output, json.dumps(summary, indent=2) + "\n")
    print(f"\nsummary written to {written}; result documents in {keep}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
