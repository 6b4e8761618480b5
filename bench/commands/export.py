"""`effbench export`: export models to ONNX and OpenVINO IR into the cache (parity-checked), or into a bundle."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.commands.options import (
    add_bundle,
    add_cache_dir,
    add_input_shape,
    add_json,
    add_models,
    add_precision,
    add_seed,
    add_weights,
    cache_dir,
    command_config,
)
from bench.errors import EffbenchError
from bench.views.format import format_size
from bench.vocab import split_precisions


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
    """An export's lines: the model, its status and input, then each artifact with its size, hash and parity."""
    arts = outcome.artifacts
    manifest = arts.manifest
    verb = {"exported": "exported in", "cached": "cache hit, verified in", "prebuilt": "prebuilt, verified in"}
    shape = ",".join(map(str, arts.input_shape))
    int8 = " (int8)" if manifest.get("precision") == "int8" else ""
    lines = [
        f"{arts.model_name}{int8}: {verb[outcome.status]} {outcome.seconds:.2f} s  input {arts.input_name} [{shape}] "
        f"{arts.input_dtype}  fingerprint {arts.fingerprint[:16]}  {outcome.folder}"
    ]
    parity = manifest.get("parity", {})
    runtime_of = {"onnx": "onnxruntime", "openvino": "openvino"}
    files = manifest.get("files", {})
    for fmt, path in arts.files.items():
        names = [path.name] if fmt == "onnx" else [path.name, path.with_suffix(".bin").name]
        size = sum(files.get(name, {}).get("size", 0) for name in names)
        result = parity.get("results", {}).get(runtime_of[fmt], {})
        agreement = (manifest.get("agreement") or {}).get(runtime_of[fmt])
        if agreement:  # an int8 entry: checked against fp32, loosely (bench.export.int8_checks)
            check = f"int8 vs fp32: cosine {agreement['cosine']:.3f}, max rel error {agreement['rel_error']:.2g}"
        elif "max_rel_error" in result:
            check = (
                f"parity vs {result['reference']}: max abs {result['max_abs_error']:.2g}, "
                f"rel {result['max_rel_error']:.2g} (tolerance {parity['tolerance']['max_rel_error']:g})"
            )
        else:
            check = f"parity: {result.get('note') or result.get('skipped') or 'not checked'}"
        lines.append(f"  {fmt:<9}{path.name:<11}{format_size(size):>9}  sha256 {arts.sha256[fmt][:12]}  {check}")
    return lines


def _outcome_json(outcome: Any, bundle: Path | None) -> dict[str, Any]:
    arts = outcome.artifacts
    return {
        "model": arts.model_name,
        "status": outcome.status,
        "seconds": round(outcome.seconds, 4),
        "folder": str(outcome.folder),
        "fingerprint": arts.fingerprint,
        "files": {fmt: str(p) for fmt, p in arts.files.items()},
        "sha256": arts.sha256,
        "input": {"name": arts.input_name, "shape": list(arts.input_shape), "dtype": arts.input_dtype},
        "parity": arts.manifest.get("parity"),
        "bundle": str(bundle) if bundle else None,
    }


def run_export(args: argparse.Namespace) -> int:
    """Export (or verify the cached) artifacts of every --model, optionally into a bundle; print what happened."""
    from bench.export import FORMATS, export_model, looks_like_path, normalize_formats, parse_input_shape, write_bundle

    config = command_config(args)
    formats = normalize_formats(args.format or config.export.get("formats") or FORMATS)
    input_shape = parse_input_shape(args.input_shape) if args.input_shape else None

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"effbench: {message}", file=sys.stderr, flush=True)

    # bf16 is a runtime setting on the fp32 artifacts; int8 has artifacts of its own (bench.export.quantize).
    asked = split_precisions(args.precision or "fp32").split(",")
    artifact_precisions = ["int8"] if asked == ["int8"] else ["fp32"] + (["int8"] if "int8" in asked else [])
    outcomes: list[Any] = []
    for model in _models(args.model):
        # bench.toml's opset is the default for PyTorch exports; a user file keeps its own unless --opset is given.
        default_opset = None if looks_like_path(model) else config.export.get("opset")
        outcomes.extend(
            export_model(
                model,
                formats=formats,
                cache_dir=cache_dir(args, config),
                opset=args.opset if args.opset is not None else default_opset,
                force=args.force,
                seed=args.seed,
                weights=Path(args.weights) if args.weights else None,
                input_shape=input_shape,
                progress=progress,
                precision=precision,
            )
            for precision in artifact_precisions
        )
    bundle = write_bundle([o.artifacts for o in outcomes], args.bundle, progress=progress) if args.bundle else None
    if args.json:
        print(json.dumps([_outcome_json(o, bundle) for o in outcomes], indent=2))
        return 0
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
    add_models(
        parser,
        metavar="NAME|FILE",
        short=False,
        help="zoo model or glob (b1, 'efficientnet_b*', b0:r=32), an .onnx or OpenVINO .xml file, or an exported "
        "artifact folder; repeat for several",
    )
    parser.add_argument(
        "--format", metavar="LIST", help="comma-separated formats: onnx, openvino (default: bench.toml or both)"
    )
    parser.add_argument(
        "--opset", type=int, metavar="N", help="ONNX opset for PyTorch exports (default: bench.toml or 17; 7-20)"
    )
    add_cache_dir(parser)
    parser.add_argument("--force", action="store_true", help="export again even when the cache holds the artifacts")
    add_seed(parser, "parity input")
    add_weights(parser)
    add_input_shape(parser)
    add_bundle(
        parser,
        "also copy the artifacts and manifests into DIR (with index.json and README.md) for a machine without torch",
    )
    add_precision(parser)
    add_json(parser, "print the outcome as JSON")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages on stderr")
    parser.set_defaults(func=run_export)
