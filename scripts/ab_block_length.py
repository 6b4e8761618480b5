"""How long should an A/B's worker processes be? Block length against the evidence a second of CI buys.

    .venv/bin/python scripts/ab_block_length.py --cpus 1 [--model mobilenet_v2] [--lengths 1.0,0.5,0.25]
        [--pairing processes|bursts] [--blocks 12] [--budget 45] [--repeats 2] [--output FILE]

Runs real A/A comparisons with the ci preset's timed loop set to each length in turn (the lengths interleaved run
by run) and reports per length: seconds per block, the robust spread of the block log ratios (1.4826 · MAD) and the
information per second 1 / (spread² · block s), which is what the sequential test's power grows with (its
standard error falls as spread / √blocks). `--pairing processes`: fixed-size ABBA A/As (`effbench ab M M
--processes N --pairing processes`), a block being four processes of that length. `--pairing bursts` (the
default design of `effbench ab`): adaptive A/As held at a threshold no A/A can decide (0.1%) for `--budget`
seconds, a block being one process timing both arms in alternating bursts, each arm for that length. Between-
process spread dominates, so shorter processes can buy more blocks than they lose precision; this measures where
that stops on this machine. A benchmark of the machine, not a test: run it on an idle, pinned CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cli import main as effbench  # noqa: E402
from bench.engine import policy  # noqa: E402
from bench.results import load_result  # noqa: E402


def block_ratios(path: Path) -> tuple[list[float], float]:
    """Per-block log(NEW/BASE) of process medians, and the seconds the blocks took (both arms' processes)."""
    doc = load_result(path)
    base, new = (next(c for c in doc.cells if c.arm == arm) for arm in ("base", "new"))
    ratios = [
        math.log(statistics.median(n.samples_ns) / statistics.median(b.samples_ns))
        for b, n in zip(base.processes, new.processes, strict=True)
    ]
    seconds = sum(p.wall_time_s for c in (base, new) for p in c.processes)
    return ratios, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--cpus", default="1")
    parser.add_argument("--lengths", default="1.0,0.5,0.25", help="timed-loop seconds per process to compare")
    parser.add_argument("--pairing", choices=("processes", "bursts"), default="processes")
    parser.add_argument("--blocks", type=int, default=12, help="blocks per A/A (--pairing processes)")
    parser.add_argument("--budget", type=float, default=45.0, help="seconds per A/A (--pairing bursts)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=ROOT / "results" / "_scratch" / "block-length")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    lengths = [float(x) for x in args.lengths.split(",")]
    ci = policy.PRESETS["ci"]
    found: dict[float, dict[str, list[float]]] = {x: {"ratios": [], "wall": [], "block_s": []} for x in lengths}
    args.keep.mkdir(parents=True, exist_ok=True)
    for repeat in range(args.repeats):
        for length in lengths:
            policy.PRESETS["ci"] = replace(ci, process_min_s=length, warmup_min_s=min(ci.warmup_min_s, length))
            out = args.keep / f"aa-{length:g}s-{repeat + 1}-{int(time.time())}.json"
            started = time.monotonic()
            design = (
                ["--budget", f"{args.budget:g}", "--threshold", "0.1%", "--pairing", "bursts"]
                if args.pairing == "bursts"
                else ["--processes", str(args.blocks), "--pairing", "processes"]
            )
            code = effbench(["ab", args.model, args.model, "--backend", args.backend, "--cpus", args.cpus, *design,
                             "--output", str(out), "-f", "json"])  # fmt: skip
            wall = time.monotonic() - started
            if code not in (0, 1, 3):
                raise SystemExit(f"effbench ab exited {code}")
            ratios, _ = block_ratios(out)
            found[length]["ratios"] += ratios
            found[length]["wall"].append(wall)
            found[length]["block_s"].append(wall / len(ratios))
    policy.PRESETS["ci"] = ci
    rows = []
    print(f"{'timed s':>8} {'block s':>8} {'robust sd':>10} {'sd':>7} {'info/s':>8}")
    for length, data in found.items():
        ratios = data["ratios"]
        centre = statistics.median(ratios)
        robust = 1.4826 * statistics.median(abs(r - centre) for r in ratios)
        block_s = statistics.fmean(data["block_s"])
        info = 1.0 / (robust**2 * block_s) if robust > 0 else math.inf
        rows.append({"process_min_s": length, "block_s": block_s, "robust_sd": robust,
                     "sd": statistics.stdev(ratios), "blocks": len(ratios), "info_per_s": info})  # fmt: skip
        print(f"{length:8.2f} {block_s:8.2f} {robust:10.2%} {statistics.stdev(ratios):7.2%} {info:8.0f}")
    if args.output:
        summary = {"model": args.model, "backend": args.backend, "pairing": args.pairing, "rows": rows}
        args.output.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
