"""Print this machine's measured matrix-multiply peak (bench.probes.calibrate) on the given CPUs and threads.

    python scripts/peak.py --cpus 1 --threads 1 [--budget 4] [--json]

Runs the same clean, pinned calibration worker a suite run uses, then prints per precision the measured
GFLOP/s, the library and size that gave it, every kernel's best window, and the flags x GHz figure beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.errors import EffbenchError
from bench.machine import parse_cpus_option
from bench.probes.calibrate import DEFAULT_BUDGET_S, PeakCalibration, measure_peak


def format_calibration(cal: PeakCalibration) -> str:
    lines = [
        f"peak calibration on CPUs {list(cal.cpus)} with {cal.threads} thread(s): {cal.cpu_brand or 'unknown CPU'}"
        + (" (VM)" if cal.virtualized else ""),
        f"  worker ran on CPUs {list(cal.affinity)}, CPU/wall {cal.cpu_wall_ratio or 0:.2f}; "
        f"{cal.measure_s:.1f} s timed, {cal.duration_s:.1f} s in all",
    ]
    for peak in cal.peaks:
        if peak.gflops is None:
            lines.append(f"{peak.precision}: unavailable: {peak.unavailable}")
        else:
            lines.append(f"{peak.precision}: {peak.gflops:,.1f} GFLOP/s measured, n={peak.n}, {peak.library}")
        for kernel in peak.kernels:
            if kernel.error:
                lines.append(f"    {kernel.kernel:<13} error: {kernel.error}")
                continue
            sizes = ", ".join(
                f"n={s.n}: {s.gflops:.1f} (windows {' '.join(f'{w:.0f}' for w in s.windows_gflops)})"
                for s in kernel.sizes
            )
            stop = f"; stopped: {kernel.stopped}" if kernel.stopped else ""
            lines.append(f"    {kernel.kernel:<13} {sizes}{stop}")
        theory = f"{peak.theoretical_gflops:,.1f} GFLOP/s" if peak.theoretical_gflops else "–"
        lines.append(f"    theoretical (flags x advertised GHz): {theory}: {peak.theoretical_basis}")
    lines.extend(f"warning: {w}" for w in cal.warnings)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpus", default="1", help="CPUs to pin to, e.g. 1 or 2-3 (default 1)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, help="timed seconds, all kernels")
    parser.add_argument("--json", action="store_true", help="print the calibration record as JSON")
    args = parser.parse_args()
    try:
        cal = measure_peak(parse_cpus_option(args.cpus), args.threads, budget_s=args.budget)
    except EffbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(cal.to_dict(), indent=2) if args.json else format_calibration(cal))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
