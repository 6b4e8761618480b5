"""`effbench export`: export models to ONNX and OpenVINO IR into the cache (parity-checked), or into a bundle."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.commands.cache import format_size
from bench.errors import EffbenchError


def _models(values: list[str]) -> list[str]:
    """Each --model value, with a glob on zoo names expanded ('efficientnet_b[0-3]')."""
    from bench.export import looks_like_path

    names: list[str] = []
    for value in values:
        if not looks_like_path(value) and any(ch in value for ch in "*?["):
            from bench.zoo import list_models

            matched = [spec.name for spec in list_models(value)]
            if not matched:
                raise EffbenchError(f"no model matches '{value}': see 'effbench models' for the names")
            names += matched
        else:
            names.append(value)
    return names


def _describe(outcome: Any) -> list[str]:
    arts = outcome.artifacts
    manifest = arts.manifest
    verb = {"exported": "exported in", "cached": "cache hit, verified in", "prebuilt": "prebuilt, verified in"}
    shape = ",".join(map(str, arts.input_shape))
    lines = [
        f"{arts.model_name}: {verb[outcome.status]} {outcome.seconds:.2f} s  input {arts.input_name} [{shape}] "
        f"{arts.input_dtype}  fingerprint {arts.fingerprint[:16]}  {outcome.folder}"
    ]
    parity = manifest.get("parity", {})
    runtime_of = {"onnx": "onnxruntime", "openvino": "openvino"}
    files = manifest.get("files", {})
    for fmt, path in arts.files.items():
        names = [path.name] if fmt == "onnx" else [path.name, path.with_suffix(".bin").name]
        size = sum(files.get(name, {}).get("size", 0) for name in names)
        result = parity.get("results", {}).get(runtime_of[fmt], {})
        if "max_rel_error" in result:
            check = (
                f"parity vs {result['reference']}: max abs {result['max_abs_error']:.2g}, "
                f"rel {result['max_rel_error']:.2g} (tolerance {parity['tolerance']['max_rel_error']:g})"
            )
        else:
            check = f"parity: {result.get('note') or result.get('skipped') or 'not checked'}"
        lines.append(f"  {fmt:<9}{path.name:<11}{format_size(size):>9}  sha256 {arts.sha256[fmt][:12]}  {check}")
    return lines


def run(args: argparse.Namespace) -> int:
    from bench.config import load_config
    from bench.export import FORMATS, export_model, normalize_formats, write_bundle

    config = load_config(Path(args.config) if getattr(args, "config", None) else None)
    cache_dir = Path(args.cache_dir) if args.cache_dir else config.cache_dir
    formats = normalize_formats(args.format or config.export.get("formats") or FORMATS)
    weights = Path(args.weights) if args.weights else None
    input_shape = None
    if args.input_shape:
        from bench.export import parse_input_shape

        input_shape = parse_input_shape(args.input_shape)

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"effbench: {message}", file=sys.stderr, flush=True)

    from bench.export import looks_like_path

    outcomes = []
    for model in _models(args.model):
        # bench.toml's opset is the default for PyTorch exports; a user file keeps its own unless --opset is given.
        default_opset = None if looks_like_path(model) else config.export.get("opset")
        outcomes.append(
            export_model(
                model,
                formats=formats,
                cache_dir=cache_dir,
                opset=args.opset if args.opset is not None else default_opset,
                force=args.force,
                seed=args.seed,
                weights=weights,
                input_shape=input_shape,
                progress=progress,
            )
        )
    bundle = None
    if args.bundle:
        bundle = write_bundle([o.artifacts for o in outcomes], Path(args.bundle), progress=progress)

    if args.json:
        doc = [
            {
                "model": o.artifacts.model_name,
                "status": o.status,
                "seconds": round(o.seconds, 4),
                "folder": str(o.folder),
                "fingerprint": o.artifacts.fingerprint,
                "files": {fmt: str(p) for fmt, p in o.artifacts.files.items()},
                "sha256": o.artifacts.sha256,
                "input": {
                    "name": o.artifacts.input_name,
                    "shape": list(o.artifacts.input_shape),
                    "dtype": o.artifacts.input_dtype,
                },
                "parity": o.artifacts.manifest.get("parity"),
                "bundle": str(bundle) if bundle else None,
            }
            for o in outcomes
        ]
        print(json.dumps(doc, indent=2))
    else:
        for outcome in outcomes:
            print("\n".join(_describe(outcome)))
        if bundle:
            print(f"bundle: {bundle} ({len(outcomes)} model(s) added; see {bundle / 'index.json'})")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export models to ONNX and OpenVINO IR (cached, parity-checked)",
        description="Export a model at batch 1 and its own resolution to ONNX (TorchScript exporter, checked with "
        "onnx.checker and shape inference) and convert that same ONNX to OpenVINO IR with fp32 weights. Every "
        "export runs the artifacts in ONNX Runtime and OpenVINO (f32) on a seeded input and compares with "
        "PyTorch fp32; beyond 1e-4 relative error (max|out-ref|/max|ref|) the export fails with exit code 1 and "
        "nothing is cached. Artifacts are cached by fingerprint; a second export is a verified cache hit.",
    )
    parser.add_argument(
        "--model",
        required=True,
        action="append",
        metavar="NAME|FILE",
        help="zoo model or glob (b1, 'efficientnet_b*', b0:r=32), an .onnx or OpenVINO .xml file, or an exported "
        "artifact folder; repeat for several",
    )
    parser.add_argument(
        "--format", metavar="LIST", help="comma-separated formats: onnx, openvino (default: bench.toml or both)"
    )
    parser.add_argument(
        "--opset", type=int, metavar="N", help="ONNX opset for PyTorch exports (default: bench.toml or 17; 7-20)"
    )
    parser.add_argument(
        "--cache-dir", metavar="DIR", help="artifact cache folder (default: bench.toml [paths] cache_dir, or models/)"
    )
    parser.add_argument("--force", action="store_true", help="export again even when the cache holds the artifacts")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights and parity input (default 0)")
    parser.add_argument("--weights", metavar="FILE", help="state dict (.safetensors or torch.save) for a zoo model")
    parser.add_argument(
        "--input-shape",
        metavar="DIMS",
        help="input shape for a user file with dynamic dims, e.g. 1,3,224,224 (a dynamic batch alone becomes 1)",
    )
    parser.add_argument(
        "--bundle",
        metavar="DIR",
        help="also copy the artifacts and manifests into DIR (with index.json and README.md) for a machine "
        "without torch",
    )
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages on stderr")
    parser.set_defaults(func=run)
