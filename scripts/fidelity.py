"""Fidelity benchmark: effbench's median against a bare in-process loop and OpenVINO's benchmark_app.

For each model and backend, in interleaved rounds, pinned to the same CPU:
  effbench latency --backend B (its own workers and stopping rules),
  scripts/bare_loop.py (warm up 50, time 300 iterations in one process),
  benchmark_app (OpenVINO only; the command from REFERENCE.md, plus CPU_DENORMALS_OPTIMIZATION=YES).
All three run the same runtime settings (1 thread, f32, denormals flushed): the comparison is of harnesses.
Prints a Markdown table of medians and effbench's ratio to each, and writes the raw figures as JSON.

    .venv/bin/python scripts/fidelity.py --models b0 resnet50 --rounds 5 --cpu 1
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_effbench(model: str, backend: str, cpu: int) -> float:
    cmd = [sys.executable, "-m", "bench", "latency", "--model", model, "--backend", backend, "--threads", "1"]
    cmd += [
        "--cpus",
        str(cpu),
        "--json",
        "--output",
        str(ROOT / "results" / "_scratch" / f"fidelity-{time.time_ns()}.json"),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    cells = json.loads(out)
    return float(cells[0]["median_ms"])


def run_bare(path: Path, backend: str, shape: tuple[int, ...], cpu: int) -> float:
    cmd = ["taskset", "-c", str(cpu), sys.executable, str(ROOT / "scripts" / "bare_loop.py")]
    cmd += ["--backend", backend, "--model", str(path), "--shape", ",".join(map(str, shape))]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["median_ms"])


def run_benchmark_app(path: Path, cpu: int, iterations: int, config: Path) -> float:
    tool = shutil.which("benchmark_app") or str(Path(sys.executable).parent / "benchmark_app")
    cmd = ["taskset", "-c", str(cpu), tool, "-m", str(path), "-d", "CPU", "-hint", "none", "-nstreams", "1"]
    cmd += ["-nthreads", "1", "-nireq", "1", "-api", "sync", "-infer_precision", "f32", "-niter", str(iterations)]
    cmd += ["-load_config", str(config)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Median:\s+([\d.]+)\s*ms", out)
    if not match:
        raise RuntimeError(f"no median in benchmark_app output:\n{out[-2000:]}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["b0", "resnet50"])
    parser.add_argument("--backends", nargs="+", default=["onnxruntime", "openvino"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpu", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=300, help="benchmark_app -niter")
    parser.add_argument("--output", type=Path, default=None, help="JSON with every figure (default: results/_scratch)")
    args = parser.parse_args()

    from bench.config import load_config
    from bench.export import ensure_artifacts

    config = load_config()
    # benchmark_app with the REFERENCE.md command plus flushed denormals, the one setting effbench adds to it.
    app_config = ROOT / "results" / "_scratch" / "benchmark_app_config.json"
    app_config.parent.mkdir(parents=True, exist_ok=True)
    app_config.write_text(json.dumps({"CPU": {"CPU_DENORMALS_OPTIMIZATION": "YES"}}))
    artifacts = {m: ensure_artifacts(model=m, cache_dir=config.cache_dir) for m in args.models}
    figures: dict[str, dict[str, list[float]]] = {}
    for round_index in range(args.rounds):
        for model in args.models:
            arts = artifacts[model]
            for backend in args.backends:
                path = arts.files["onnx" if backend == "onnxruntime" else "openvino"]
                key = f"{arts.model_name}/{backend}"
                cell = figures.setdefault(key, {"effbench": [], "bare": [], "benchmark_app": []})
                cell["effbench"].append(run_effbench(model, backend, args.cpu))
                cell["bare"].append(run_bare(path, backend, arts.input_shape, args.cpu))
                if backend == "openvino":
                    cell["benchmark_app"].append(run_benchmark_app(path, args.cpu, args.iterations, app_config))
                print(
                    f"round {round_index + 1}: {key}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in cell.items() if v),
                    file=sys.stderr,
                )

    print(
        "| model / backend | effbench (ms) | bare loop (ms) | benchmark_app (ms) | effbench / bare | effbench / benchmark_app |"  # noqa: E501
    )
    print("|---|---:|---:|---:|---:|---:|")
    summary = {}
    for key, cell in figures.items():
        med = {k: statistics.median(v) if v else None for k, v in cell.items()}
        eff, bare, app = med["effbench"], med["bare"], med["benchmark_app"]
        assert eff is not None and bare is not None
        summary[key] = {**med, "ratio_bare": eff / bare, "ratio_benchmark_app": eff / app if app else None}
        app_text = f"{app:.2f}" if app else "–"
        ratio_app = f"{eff / app:.3f}" if app else "–"
        print(f"| {key} | {eff:.2f} | {bare:.2f} | {app_text} | {eff / bare:.3f} | {ratio_app} |")
    output = args.output or ROOT / "results" / "_scratch" / f"fidelity-{time.strftime('%Y%m%dT%H%M%S')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps({"rounds": args.rounds, "cpu": args.cpu, "figures": figures, "summary": summary}, indent=2)
    )
    print(f"\nraw figures: {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
