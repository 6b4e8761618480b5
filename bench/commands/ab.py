"""`effbench ab BASE NEW`: both arms measured in one interleaved run, judged as blocks, exit code for CI."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bench.commands.options import (
    EXIT_HELP,
    add_backends,
    add_cache_dir,
    add_cpus,
    add_output,
    add_precision,
    add_processes,
    add_seed,
    add_threads,
    add_verdict_options,
    command_config,
    verdict_settings,
)
from bench.engine.plan import add_identity_options, plan_cells, resolve_identity, resolve_settings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bench.compare import CompareSettings
    from bench.document import SequentialDesign
    from bench.engine.ab import AdaptiveABBA
    from bench.engine.launchers import Launcher
    from bench.engine.runner import CellPlan

DEFAULT_PRESET = "ci"
# A CI job's A/B step: about 20 blocks of a 5 ms model here (3.7 s a block), enough to catch a real 4-5% slowdown
# at --threshold 2% in most runs (scripts/ab_sequential_sim.py; README's verdict section).
DEFAULT_BUDGET_S = 90.0
# A burst of a paired process (bench.engine.paired): about ten inferences of a 5 ms model, short against the
# seconds over which a shared host's speed wanders, long against the one untimed inference that starts each burst.
DEFAULT_BURST_S = 0.05


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ab",
        help="A/B: measure BASE and NEW interleaved in one run and judge the difference (exit code for CI)",
        description="Measure BASE and NEW in one run on the same pinned CPUs, in ABBA rounds (process i of each "
        "arm back to back, the order alternating), so a slow drift of a shared machine hits both arms alike; "
        "then judge each cell on the per-block ratios (paired t on log ratios, guarded by an exact sign-flip "
        "test), with the verdicts and exit codes of `effbench compare`. BASE and NEW are models (b0, b0:r=235, a "
        ".onnx file), or one model twice with --base-python/--new-python (two Python environments, e.g. two "
        "runtime versions). The result document keeps both arms: `effbench compare FILE` judges it again.",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("base", metavar="BASE", help="baseline model: zoo name, spec or .onnx/.xml file")
    parser.add_argument("new", metavar="NEW", help="candidate model (the same one with --new-python)")
    add_backends(parser)
    add_threads(parser)
    add_cpus(parser, "CPUs to pin both arms to, e.g. 1 or 2-3 (default: chosen)")
    add_precision(parser)
    parser.add_argument("--preset", default=DEFAULT_PRESET, metavar="NAME",
                        help="measurement preset (default ci: many short processes)")  # fmt: skip
    parser.add_argument(
        "--budget",
        type=float,
        metavar="SECONDS",
        help="adaptive (the default): add blocks (paired processes, or ABBA ones) until every cell's verdict is "
        f"decided or the next block would end past SECONDS since the command started (default {DEFAULT_BUDGET_S:g})",
    )
    add_processes(parser, "blocks per arm: a fixed count without --budget (the old fixed-size A/B); with --budget, "
                  "the most blocks")  # fmt: skip
    parser.add_argument(
        "--pairing",
        choices=("auto", "bursts", "processes"),
        default="auto",
        help="bursts: each block is one process timing BASE and NEW in alternating bursts of "
        f"{DEFAULT_BURST_S * 1000:g} ms (the machine's second-to-second noise cancels); processes: each block is "
        "four processes in ABBA order; auto (default): bursts for an adaptive A/B with one interpreter, "
        "processes otherwise",
    )
    parser.add_argument("--base-python", metavar="PY", help="interpreter for BASE's workers (default: this one)")
    parser.add_argument("--new-python", metavar="PY", help="interpreter for NEW's workers (default: this one)")
    add_output(parser)
    add_seed(parser)
    add_cache_dir(parser)
    add_verdict_options(parser)
    add_identity_options(parser)
    parser.set_defaults(func=run_ab)


def run_ab(args: argparse.Namespace, launchers: Mapping[str, Launcher] | None = None) -> int:
    """Check the options and interpreters, plan both arms, measure them interleaved, print the verdicts.

    `launchers` ({"base": …, "new": …}) replaces the real workers (tests use InProcessLauncher)."""
    from bench.backends import backend_class
    from bench.compare.documents import judged_as_run, match_ab
    from bench.engine.ab import check_python, measure_ab, pair_plans
    from bench.engine.launchers import SubprocessLauncher
    from bench.engine.policy import get_policy
    from bench.engine.progress import RichProgress
    from bench.errors import EffbenchError
    from bench.views.console import make_console
    from bench.views.verdicts import judge_and_print

    started = time.monotonic()  # the budget counts from here: exports and checks are part of a CI job's time
    err = make_console(stderr=True)
    verdicts = verdict_settings(args)  # bad verdict options fail before anything is measured
    if args.processes is not None and args.processes < 2:
        raise EffbenchError(f"--processes {args.processes}: an A/B run needs at least 2 processes (blocks) per arm")
    if args.budget is not None and not 0 < args.budget < math.inf:
        raise EffbenchError(f"--budget {args.budget:g}: give the seconds the A/B may take, such as 90")
    adaptive = args.budget is not None or args.processes is None
    if args.pairing == "bursts" and not adaptive:
        raise EffbenchError("--pairing bursts is for the adaptive A/B: add --budget SECONDS or drop --processes")
    bursts = adaptive and pairing(args)
    processes = args.processes if args.processes is not None else get_policy(args.preset).max_processes
    settings = resolve_settings(
        command_config(args),
        models=[args.base, args.new],
        backends=args.backend,
        threads=args.threads,
        cpus=args.cpus,
        precision=args.precision,
        preset=args.preset,
        processes=processes,
        seed=args.seed,
        cache_dir=args.cache_dir,
        output=args.output,
    )
    if launchers is None:
        pythons = {"base": args.base_python or sys.executable, "new": args.new_python or sys.executable}
        for arm, python in pythons.items():
            if python != sys.executable:
                check_python(python, [backend_class(b).module for b in settings.backends], arm)
        launchers = {arm: SubprocessLauncher(python=python) for arm, python in pythons.items()}
    for note in settings.notes:
        err.print(f"note: {note}")
    # Planned one arm at a time: the same model twice (two interpreters, or an A/A check) is two cells here.
    pairs = pair_plans(
        plan_cells(replace(settings, models=(args.base,)), say=err.print),
        plan_cells(replace(settings, models=(args.new,)), say=err.print),
    )
    cpus = ",".join(map(str, settings.cpus))
    design = None
    if adaptive:
        design = adaptive_design(args, verdicts, pairs, started, bursts)
        kind = "paired processes (alternating bursts)" if bursts else "ABBA blocks"
        err.print(f"A/B: {len(pairs)} cell(s) on CPU(s) {cpus}, {kind} until each verdict is decided, "
                  f"within {design[1].budget_s:g} s (first look after {design[1].min_blocks} blocks)")  # fmt: skip
    else:
        err.print(f"A/B: {len(pairs)} cell(s), {processes} processes per arm in ABBA rounds on CPU(s) {cpus}")
    run = measure_ab(
        settings, pairs, launchers, command=["effbench", *sys.argv[1:]], progress=RichProgress(err), say=err.print,
        identity=resolve_identity(args.label, args.commit), adaptive=design,
    )  # fmt: skip
    err.print(f"results written to {run.path}")
    if run.interrupted:
        err.print("interrupted: the finished processes are in the result file")
        return 130
    if design is not None:
        blocks = [len(cell.processes) for cell in run.document.cells if cell.arm == "base"]
        err.print(f"verdict after {max(blocks, default=0)} block(s) in {time.monotonic() - started:.0f} s "
                  f"(budget {design[1].budget_s:g} s)")  # fmt: skip
    return judge_and_print(
        match_ab(run.document), judged_as_run(verdicts, run.document), args.format, strict=args.strict
    )


def pairing(args: argparse.Namespace) -> bool:
    """Whether an adaptive A/B's blocks are paired processes (True) or ABBA process blocks, as --pairing says:
    both arms share a process only when they share an interpreter (then one backend too: bench.engine.ab.pair_plans
    pairs equal backends)."""
    from bench.errors import EffbenchError

    one_interpreter = (args.base_python or sys.executable) == (args.new_python or sys.executable)
    if args.pairing == "bursts" and not one_interpreter:
        raise EffbenchError(
            "--pairing bursts measures both arms in one process, which cannot run two interpreters: drop "
            "--base-python/--new-python or use --pairing processes"
        )
    return args.pairing == "bursts" or (args.pairing == "auto" and one_interpreter)


def adaptive_design(
    args: argparse.Namespace,
    verdicts: CompareSettings,
    pairs: Sequence[tuple[CellPlan, CellPlan]],
    started: float,
    bursts: bool,
) -> tuple[AdaptiveABBA, SequentialDesign]:
    """The adaptive round order and the design the document records: α shared by the pairs that will run; with
    `bursts`, each block one paired process (bench.engine.paired) entering by its median."""
    from bench.compare.sequential import BLOCK_QUANTILE, DEFAULT_MIN_BLOCKS, PAIRED_QUANTILE, SpendingPlan
    from bench.document import SequentialDesign
    from bench.engine.ab import AdaptiveABBA, SequentialRule

    budget = DEFAULT_BUDGET_S if args.budget is None else float(args.budget)
    cells = max(1, sum(1 for base, new in pairs if not (base.skip_reason or new.skip_reason)))
    design = SequentialDesign(
        budget_s=budget, alpha=verdicts.alpha / cells, min_blocks=DEFAULT_MIN_BLOCKS, cells=cells,
        max_blocks=args.processes, quantile=PAIRED_QUANTILE if bursts else BLOCK_QUANTILE,
        burst_s=DEFAULT_BURST_S if bursts else None,
    )  # fmt: skip
    rule = SequentialRule(
        verdicts.threshold, verdicts.floor_ms, SpendingPlan(design.alpha, design.min_blocks), design.quantile
    )
    order = AdaptiveABBA(rule, started + budget, max_blocks=args.processes, burst_s=design.burst_s, started=started)
    return order, design
