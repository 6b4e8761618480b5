"""`effbench layers`: where a model's time goes by layer kind (a runtime's profiler), against the measured peak."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from typing import Any

from bench.commands.options import (
    add_cache_dir,
    add_cpus,
    add_format,
    add_models,
    add_output,
    add_threads,
    cache_dir,
)
from bench.errors import EffbenchError


def register(subparsers: Any) -> None:
    from bench.probes.layers import DEFAULT_RUNS, DEFAULT_WARMUP

    layers = subparsers.add_parser(
        "layers",
        help="time and multiply-adds per layer kind (ONNX Runtime profiler), as %% of the measured peak",
        description="Run a model's ONNX file in ONNX Runtime with its profiler on, in a clean worker pinned like a "
        "cell (the cells' session settings), and sum every node's median kernel time and multiply-adds by kind: "
        "dense k x k, 1 x 1 and depthwise convolutions, convolutions on 1 x 1 maps (squeeze-excitation), fully "
        "connected layers, and the rest (activations, pooling, layout reorders). GFLOP/s per kind against the "
        "matrix-multiply peak measured on the same CPUs shows which layers keep a model from the peak. The "
        "profiler adds a little time per node: read the shares.",
    )
    add_models(layers, help="zoo model (repeat)", metavar="NAME", short=False)
    layers.add_argument(
        "--backend",
        choices=("onnxruntime", "openvino", "inductor"),
        default="onnxruntime",
        help="runtime (default onnxruntime; inductor has no per-layer times)",
    )
    layers.add_argument(
        "--precision", choices=("fp32", "bf16", "int8"), default="fp32",
        help="bf16 (OpenVINO only) or int8 (the model's int8 entry, ONNX Runtime or OpenVINO)",
    )  # fmt: skip
    add_threads(layers, help="intra-op threads (default 1)", default=1, short=False)
    add_cpus(layers, "CPUs to pin to (default: as effbench latency chooses)")
    layers.add_argument("--runs", type=int, default=DEFAULT_RUNS, help=f"profiled runs (default {DEFAULT_RUNS})")
    layers.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help=f"runs first (default {DEFAULT_WARMUP})")
    layers.add_argument("--no-calibrate", action="store_true", help="no peak calibration (no %% of peak)")
    add_cache_dir(layers)
    add_format(layers, ("term", "md", "json"), default="term")
    add_output(layers, "also write the profiles as a JSON document")
    layers.set_defaults(func=run_layers)


# AOTInductor's kernels are fused across layers (a convolution carries its BN, activation and often the next
# elementwise ops) and the package runs as one call the profiler cannot see into without instrumented kernels, so
# no time per layer kind can be read from it.
NO_INDUCTOR_LAYERS = (
    "per-layer times are not available for inductor: its compiled kernels fuse layers and the profiler sees the "
    "package as one call; profile the same model with --backend onnxruntime or openvino"
)


def _check_installed(backend: str) -> None:
    """The runtime `backend` profiles with (and onnx, which counts ONNX Runtime's multiply-adds) is installed."""
    needed = ("openvino",) if backend == "openvino" else ("onnxruntime", "onnx")
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        extra = "openvino" if backend == "openvino" else "onnx"
        raise EffbenchError(
            f"effbench layers needs {' and '.join(missing)}, which is not installed: pip install 'effbench[{extra}]'"
        )


def run_layers(args: argparse.Namespace) -> int:
    """Calibrate the peak, profile each model in a clean pinned worker, print (and with --output write) the kinds."""
    from bench.export import ensure_artifacts
    from bench.machine import collect_machine_metadata, resolve_cpus
    from bench.probes.calibrate import bf16_unsupported, measure_peak, rate_unit, read_cpu_description
    from bench.probes.layers import check_options, layers_document, profile_layers
    from bench.zoo import resolve_model
    from bench.zoo.effective import effective_macs

    specs = [resolve_model(name) for name in args.model]  # unknown names fail before anything runs
    if args.backend == "inductor":
        raise EffbenchError(NO_INDUCTOR_LAYERS)
    _check_installed(args.backend)
    check_options(args.runs, args.warmup, args.backend, args.precision)
    cpu = read_cpu_description()
    reason = bf16_unsupported(cpu.flags) if args.precision == "bf16" else None
    if reason:
        raise EffbenchError(f"--precision bf16: {reason}")
    cpus = resolve_cpus(args.threads, args.cpus)
    cache = cache_dir(args)
    say = (lambda message: print(message, file=sys.stderr)) if args.format != "json" else (lambda _m: None)
    peak = None
    if not args.no_calibrate:
        say(f"peak calibration: {args.threads} thread(s) on CPU(s) {','.join(map(str, cpus))}")
        peak = measure_peak(cpus, args.threads, (args.precision,), cpu=cpu).gflops(args.precision)
        figure = f"{peak:.1f} {rate_unit(args.precision)}" if peak else "unavailable (no % of peak)"
        say(f"  {args.precision}: {figure}")
    profiles = []
    for spec in specs:
        fmt = "openvino" if args.backend == "openvino" else "onnx"
        precision = "int8" if args.precision == "int8" else "fp32"  # bf16 is a runtime setting on the fp32 model
        artifacts = ensure_artifacts(spec.name, formats=(fmt,), cache_dir=cache, progress=say, precision=precision)
        say(f"{spec.name}: profiling {args.warmup} + {args.runs} runs on CPU(s) {','.join(map(str, cpus))}")
        profile = profile_layers(
            spec.name, artifacts.files[fmt], artifacts.sha256[fmt], cpus, args.threads, backend=args.backend,
            precision=args.precision, runs=args.runs, warmup=args.warmup, model_macs=spec.macs, peak_gflops=peak,
            model_effective_macs=effective_macs(spec),
        )  # fmt: skip
        profiles.append(profile)
    document = layers_document(profiles, collect_machine_metadata(), ["effbench", *sys.argv[1:]])
    if args.output is not None:
        from bench.fsio import replace_file

        args.output.parent.mkdir(parents=True, exist_ok=True)
        replace_file(args.output, json.dumps(document, indent=2, sort_keys=True) + "\n")
        say(f"written: {args.output}")
    if args.format == "json":
        print(json.dumps(document, indent=2, sort_keys=True))
        return 0
    from bench.views.layers import render_layers

    print(render_layers(profiles, args.format), end="")
    return 0
