"""Repeatability benchmark: N consecutive `effbench latency` runs of one cell; max/min of their medians.

    .venv/bin/python scripts/repeatability.py --model b0 --backend onnxruntime --runs 5
Target on the 2-core development machine: max/min <= 1.03.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="b0")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("extra", nargs="*", help="more effbench latency options, after --")
    args = parser.parse_args()
    medians, seconds = [], []
    for index in range(args.runs):
        output = ROOT / "results" / "_scratch" / f"repeatability-{time.time_ns()}.json"
        cmd = [sys.executable, "-m", "bench", "latency", "--model", args.model, "--backend", args.backend]
        cmd += ["--json", "--output", str(output), *args.extra]
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
        seconds.append(time.perf_counter() - start)
        cell = json.loads(out)[0]
        medians.append(float(cell["median_ms"]))
        print(f"run {index + 1}: median {medians[-1]:.3f} ms, n={cell['n']}, {seconds[-1]:.1f} s", file=sys.stderr)
    ratio = max(medians) / min(medians)
    print(
        f"{args.model}/{args.backend}: medians "
        + ", ".join(f"{m:.2f}" for m in medians)
        + f" ms; max/min {ratio:.4f}; {sum(seconds) / len(seconds):.1f} s per run"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
