"""`effbench latency`: batch-1 latency of models on every installed runtime, in fresh pinned worker processes."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from bench.backends import settings_help
from bench.commands.options import (
    add_backends,
    add_cache_dir,
    add_cpus,
    add_input_shape,
    add_json,
    add_models,
    add_output,
    add_precision,
    add_processes,
    add_seed,
    add_threads,
    add_weights,
    command_config,
)
from bench.engine.plan import add_identity_options, plan_cells, resolve_identity, resolve_settings
from bench.views.console import emit, make_console
from bench.views.latency import render_latency_table

if TYPE_CHECKING:
    from bench.engine.launchers import Launcher


def presets_help() -> str:
    """The presets' processes, durations and CI targets, as latency --help lists them under the options."""
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
    add_models(parser, help="zoo name or spec (b1, efficientnet:phi=2, b0:r=32) or a .onnx/.xml file; repeatable")
    add_backends(parser)
    add_threads(parser)
    add_cpus(parser)
    add_precision(parser)
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--fast", dest="preset", action="store_const", const="fast", help="quick, rougher run")
    preset.add_argument("--rigorous", dest="preset", action="store_const", const="rigorous", help="long run")
    add_processes(parser, "exactly N worker processes per cell")
    add_output(parser)
    add_json(parser, "print only a JSON summary on stdout")
    add_seed(parser)
    add_weights(parser)
    add_input_shape(parser)
    add_cache_dir(parser)
    add_identity_options(parser)
    parser.set_defaults(func=run_latency)


def run_latency(args: argparse.Namespace, launcher: Launcher | None = None) -> int:
    """Resolve the settings, plan (export), measure with `launcher` (default: real pinned workers), print."""
    from bench.engine.launchers import SubprocessLauncher
    from bench.engine.measure import measure
    from bench.engine.progress import RichProgress

    err = make_console(stderr=True)
    settings = resolve_settings(
        command_config(args),
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
