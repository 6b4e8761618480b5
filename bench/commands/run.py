"""`effbench run`: measure a named suite of bench.toml (or resume an interrupted one) in one interleaved schedule."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.commands.options import add_bundle, add_config, add_cpus, add_output, command_config
from bench.engine.plan import add_identity_options, resolve_identity
from bench.vocab import preset_names

if TYPE_CHECKING:
    from bench.engine.launchers import Launcher
    from bench.engine.measure import MeasuredRun

# Options that describe a new run: a resumed one keeps what its document recorded.
_NEW_RUN_ONLY = ("output", "cpus", "label", "commit", "no_calibrate", "preset")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="measure a named suite of bench.toml (models x backends x precisions x threads)",
        description="Measure every cell of a [suite.NAME] of bench.toml in one interleaved schedule: export what "
        "is missing (or read the models from a bundle), calibrate the peak GFLOP/s once per thread count, then "
        "measure, saving the result document after every cell. Ctrl-C keeps the finished cells; --resume "
        "measures the rest into the same file.",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--suite", "-s", metavar="NAME", help="the [suite.NAME] table of bench.toml to run")
    what.add_argument(
        "--resume", metavar="RESULT.json", type=Path, help="measure the missing cells of an interrupted suite run"
    )
    # Also accepted after `run` (as the examples write it), without hiding `effbench --config FILE run`.
    add_config(parser, after_command=True)
    add_bundle(parser, "read the models from this bundle (effbench export --bundle): no torch")
    add_output(parser)
    add_cpus(parser, "CPUs to pin to, one per thread of the widest thread count")
    parser.add_argument("--no-calibrate", action="store_true", help="skip the peak calibration (no %% of peak)")
    parser.add_argument(
        "--preset",
        choices=preset_names(),
        help="measurement preset for this run instead of the suite's own (recorded in the document)",
    )
    add_identity_options(parser)
    parser.set_defaults(func=run_run)


def run_run(
    args: argparse.Namespace,
    launcher: Launcher | None = None,
    calibration_launcher: Launcher | None = None,
    topology: Any = None,
) -> int:
    """Run or resume a suite with `launcher` (default: real pinned workers) and print the cells."""
    from bench.engine.launchers import SubprocessLauncher
    from bench.errors import EffbenchError
    from bench.suite.definition import load_suite
    from bench.suite.progress import SuiteProgress
    from bench.suite.run import SuiteRun, resume_suite, run_suite
    from bench.views.console import make_console

    err = make_console(stderr=True)
    config = command_config(args)

    def make_progress(plans: Any, policy: Any) -> SuiteProgress:
        return SuiteProgress(plans, policy.min_processes, err)

    workers = launcher or SubprocessLauncher()
    if args.resume is not None:
        given = [f"--{name.replace('_', '-')}" for name in _NEW_RUN_ONLY if getattr(args, name, None)]
        if given:
            raise EffbenchError(
                f"{given[0]} applies to a new run; --resume keeps what {args.resume} recorded: drop {given[0]}"
            )
        resumed = resume_suite(
            args.resume, workers, cache_dir=config.cache_dir, bundle=args.bundle, make_progress=make_progress,
            say=err.print,
        )  # fmt: skip
        if resumed is None:
            err.print(f"nothing to resume: every cell of {args.resume} is finished")
            return 0
        return _report(resumed, err)
    suite = load_suite(config, args.suite)
    if args.preset is not None:
        suite = replace(suite, preset=args.preset)  # stored with the suite: --resume keeps it
    request = SuiteRun(
        suite=suite,
        cache_dir=config.cache_dir,
        results_dir=config.results_dir,
        command=("effbench", *sys.argv[1:]),
        bundle=args.bundle,
        output=args.output,
        cpus=args.cpus,
        identity=resolve_identity(args.label, args.commit),
        calibrate=not args.no_calibrate,
    )
    run = run_suite(
        request, workers, calibration_launcher=calibration_launcher, make_progress=make_progress, say=err.print,
        topology=topology,
    )  # fmt: skip
    return _report(run, err)


def _report(run: MeasuredRun, err: Any) -> int:
    """Print the run's cells and where they were written; the exit code (130 interrupted, 1 a failed cell)."""
    from bench.suite.run import run_summary
    from bench.views.console import emit, make_console
    from bench.views.latency import render_latency_table

    emit(render_latency_table(run.document.cells, "table", run.document.warnings), make_console())
    err.print(f"results written to {run.path} ({run_summary(run.document)})")
    if run.interrupted:
        err.print(f"interrupted: the finished cells are in the result file; measure the rest with "
                  f"'effbench run --resume {run.path}'")  # fmt: skip
        return 130
    return 1 if run.failed else 0
