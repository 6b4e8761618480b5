"""Export determinism across CPUs: the same model must give the same ONNX and OpenVINO bytes on every x86-64 CPU,
whatever else the exporting process exported before it.

Different CPUs run different kernels: ATen picks AVX-512, AVX2 or scalar code, oneDNN and MKL pick AVX2, AVX-512
or AMX. This script exports the models once per kernel choice, all of them in one process as a suite run does,
each variant with its own cache folder, plus once with one process per model; then it compares the artifacts'
sha256. It is the stand-in for exporting on several machines: every variant forces the code path another CPU
would take, and the one-process-per-model variant shows whether a model's bytes depend on what was exported
before it in the same process (OpenVINO numbers new nodes from a process-wide counter).

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

# name → environment: each forces the kernels another CPU would run.
VARIANTS: dict[str, dict[str, str]] = {
    "native": {},
    "native-separate": {},  # one process per model
    "aten-scalar": {"ATEN_CPU_CAPABILITY": "default"},
    "aten-avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "onednn-mkl-avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}


def suite_models(name: str) -> list[str]:
    from bench.suite.definition import load_suite

    return list(load_suite(None, name).models)


def export(models: list[str], variant: str, cache: Path) -> dict[str, dict[str, str]]:
    """model → format → sha256, all `models` exported by one `effbench export` process under `variant`."""
    env = {**os.environ, **VARIANTS[variant]}
    cmd = [sys.executable, "-m", "bench", "export", "--cache-dir", str(cache), "--json", "--quiet"]
    for model in models:
        cmd += ["--model", model]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise SystemExit(f"export of {' '.join(models)} under {variant} failed (exit {done.returncode}): {done.stderr}")
    entries = json.loads(done.stdout)
    return {model: dict(entry["sha256"]) for model, entry in zip(models, entries, strict=True)}


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
        for variant in variants:
            start = time.perf_counter()
            if variant == "native-separate":
                found = {m: export([m], variant, Path(tmp) / variant)[m] for m in models}
            else:
                found = export(models, variant, Path(tmp) / variant)
            for model in models:
                table.setdefault(model, {})[variant] = found[model]
            print(f"{variant:16s} {len(models)} model(s) in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        for model in models:
            print(
                f"{model:24s} "
                + "  ".join(
                    f"{fmt} " + "/".join(sorted({table[model][v][fmt][:12] for v in variants}))
                    for fmt in sorted(table[model][variants[0]])
                ),
                file=sys.stderr,
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
