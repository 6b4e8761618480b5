"""Export determinism across CPUs: the same model must give the same ONNX and OpenVINO bytes on every x86-64 CPU.

Different CPUs run different kernels: ATen picks AVX-512, AVX2 or scalar code, oneDNN and MKL pick AVX2, AVX-512
or AMX. This script exports each model once per kernel choice, each in a fresh process with its own cache folder,
and compares the artifacts' sha256. It is the stand-in for exporting on several machines: every variant forces
the code path another CPU would take.

    .venv/bin/python scripts/export_determinism.py --model b0 --model resnet50 --model mobilenet_v2
    .venv/bin/python scripts/export_determinism.py --suite paper        # every model of a suite

Exit 0 when every model gives one sha256 per format under every variant, 1 otherwise. Pin it with taskset to keep
CPU 1 free for measurements.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name → environment: each forces the kernels another CPU would run (a variant the CPU cannot run is skipped).
VARIANTS: dict[str, dict[str, str]] = {
    "native": {},
    "aten-scalar": {"ATEN_CPU_CAPABILITY": "default"},
    "aten-avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "onednn-mkl-avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}


def suite_models(name: str) -> list[str]:
    from bench.suites import load_suite

    return list(load_suite(None, name).models)


def export(model: str, variant: str, cache: Path) -> dict[str, str]:
    env = {**os.environ, **VARIANTS[variant]}
    cmd = [sys.executable, "-m", "bench", "export", "--model", model, "--cache-dir", str(cache), "--json", "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise SystemExit(f"export of {model} under {variant} failed (exit {done.returncode}): {done.stderr.strip()}")
    (entry,) = json.loads(done.stdout)
    return dict(entry["sha256"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help="zoo model (repeat); default b0")
    parser.add_argument("--suite", help="every model of this bench.toml suite")
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), help="default: all")
    parser.add_argument("--output", type=Path, help="also write every sha256, per model and variant, to this JSON")
    args = parser.parse_args()
    models = list(args.model) + (suite_models(args.suite) if args.suite else [])
    models = models or ["b0"]
    variants = args.variant or list(VARIANTS)
    table: dict[str, dict[str, dict[str, str]]] = {}
    differing: list[str] = []
    with tempfile.TemporaryDirectory(prefix="effbench-determinism-") as tmp:
        for model in models:
            table[model] = {}
            for variant in variants:
                start = time.perf_counter()
                table[model][variant] = export(model, variant, Path(tmp) / variant)
                shas = table[model][variant]
                print(
                    f"{model:24s} {variant:16s} "
                    + " ".join(f"{fmt} {sha[:12]}" for fmt, sha in sorted(shas.items()))
                    + f"  ({time.perf_counter() - start:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
            for fmt in table[model][variants[0]]:
                if len({table[model][v][fmt] for v in variants}) != 1:
                    differing.append(f"{model} {fmt}")
    if args.output is not None:
        record = {"variants": {v: VARIANTS[v] for v in variants}, "identical": not differing, "sha256": table}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if differing:
        print(f"DIFFERENT bytes under {', '.join(variants)}: {'; '.join(differing)}")
        return 1
    print(f"identical: {len(models)} model(s) × {len(variants)} kernel variants ({', '.join(variants)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
