"""`effbench latency`: batch-1 latency of models on every installed runtime, in fresh pinned worker processes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.backends import settings_help
from bench.engine.plan import add_identity_options
from bench.views.console import emit, make_console
from bench.views.latency import render_latency_table
from bench.vocab import PRECISIONS

if TYPE_CHECKING:
    from bench.engine.runner import Launcher


def presets_help() -> str:
    from bench.engine.policy import PRESETS

    lines = ["presets (every cell also needs the MLPerf p90 minimum of samples in all):"]
    for flag, policy in (("--fast", PRESETS["fast"]), ("default", PRESETS["default"]),
                         ("--rigorous", PRESETS["rigorous"])):  # fmt: skip
        lines.append(
            f"  {flag:<11}  {policy.min_processes}-{policy.max_processes} processes of ≥ {policy.process_min_s:g} s "
            f"(cap {policy.process_max_s:g} s), median CI target ±{policy.target_ci_rel:.1%}, "
            f"cell cap {policy.cell_max_s:g} s"
        )
    return "\n".join(lines) + "\n"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "latency",
        help="measure batch-1 latency on torch, ONNX Runtime and OpenVINO",
        description="Measure batch-1 inference latency: each (model, backend) cell in several fresh worker "
        "processes, pinned to the chosen CPUs, each importing only its own runtime; fp32 unless asked.",
        epilog=settings_help() + presets_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        "-m",
        action="append",
        required=True,
        metavar="MODEL",
        help="zoo name or spec (b1, efficientnet:phi=2, b0:r=32) or a .onnx/.xml file; repeatable",
    )
    parser.add_argument(
        "--backend",
        "-b",
        action="append",
        metavar="NAME",
        help="torch, onnxruntime, openvino (repeatable or comma list; default: every installed one)",
    )
    parser.add_argument("--threads", "-t", type=int, metavar="N", help="threads per runtime, on N physical cores")
    parser.add_argument("--cpus", metavar="LIST", help="CPUs to pin to, e.g. 1 or 2-3 (default: chosen)")
    parser.add_argument("--precision", choices=PRECISIONS, help="fp32 (default) or bf16 where supported")
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--fast", dest="preset", action="store_const", const="fast", help="quick, rougher run")
    preset.add_argument("--rigorous", dest="preset", action="store_const", const="rigorous", help="long run")
    parser.add_argument("--processes", type=int, metavar="N", help="exactly N worker processes per cell")
    parser.add_argument("--output", "-o", type=Path, metavar="FILE", help="result document path (never overwritten)")
    parser.add_argument("--json", action="store_true", help="print only a JSON summary on stdout")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights and input (default 0)")
    parser.add_argument("--weights", metavar="FILE", help="state dict (.safetensors or torch.save) for zoo models")
    parser.add_argument(
        "--input-shape", metavar="N,C,H,W", help="input shape for a user ONNX file with dynamic dimensions"
    )
    parser.add_argument(
        "--cache-dir", metavar="DIR", help="artifact cache folder (default: bench.toml [paths] cache_dir, or models/)"
    )
    add_identity_options(parser)
    parser.set_defaults(func=run_latency)


# ------------------------------------------------------------------------------------------------ command


def run_latency(args: argparse.Namespace, launcher: Launcher | None = None) -> int:
    """Resolve the settings, plan (export), measure with `launcher` (default: real pinned workers), print."""
    from bench.config import load_config
    from bench.engine.measure import measure
    from bench.engine.plan import plan_cells, resolve_identity, resolve_settings
    from bench.engine.runner import RichProgress, SubprocessLauncher

    err = make_console(stderr=True)
    settings = resolve_settings(
        load_config(Path(args.config) if getattr(args, "config", None) else None),
        models=args.model,
        backends=args.backend,
        threads=args.threads,
        cpus=args.cpus,
        precision=args.precision,
        preset=args.preset,
        processes=args.processes,
        seed=args.seed,
        weights=args.weights,
        input_shape=args.input_shape,
        cache_dir=args.cache_dir,
        output=args.output,
    )
    identity = resolve_identity(getattr(args, "label", None), getattr(args, "commit", None))
    for note in settings.notes:
        err.print(f"note: {note}")
    plans = plan_cells(settings, say=err.print)
    run = measure(
        settings,
        plans,
        launcher or SubprocessLauncher(),
        command=["effbench", *sys.argv[1:]],
        progress=RichProgress(err),
        say=err.print,
        identity=identity,
    )

    cells, warnings = run.document.cells, run.document.warnings
    if args.json:
        emit(render_latency_table(cells, "json"))
        emit(render_latency_table(cells, "table", warnings), err)
    else:
        emit(render_latency_table(cells, "table", warnings), make_console())
    err.print(f"results written to {run.path}")
    if run.interrupted:
        err.print("interrupted: the finished cells are in the result file")
        return 130
    return 1 if run.failed else 0
