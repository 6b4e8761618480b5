"""`effbench compare BASE.json NEW.json`: per-cell verdicts on per-process medians and an exit code for CI."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.commands.options import EXIT_HELP, add_verdict_options, verdict_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="regression verdicts between two result documents (exit code for CI)",
        description="Compare two result documents (or the two arms of one `effbench ab` document) cell by cell. "
        "The unit of evidence is the worker process: the effect is the ratio of geometric means of per-process "
        "medians with a Welch CI on the log scale, guarded by an exact permutation test, with Holm (or BH) "
        "control across cells.",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("base", type=Path, metavar="BASE.json", help="baseline result (or an effbench ab result)")
    parser.add_argument("new", type=Path, nargs="?", metavar="NEW.json", help="candidate result")
    parser.add_argument("--across-machines", action="store_true", help="compare documents of two machines anyway")
    add_verdict_options(parser)
    parser.set_defaults(func=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    """Judge BASE against NEW (or the two arms of one A/B document) and print the verdicts; the CI exit code."""
    from bench.compare.documents import judged_as_run, match_ab, match_documents
    from bench.results import load_result
    from bench.views.verdicts import judge_and_print

    settings = verdict_settings(args)  # bad options fail before any file is read
    base = load_result(args.base)
    if args.new is None:
        matched = match_ab(base)
        settings = judged_as_run(settings, base)
    else:
        matched = match_documents(base, load_result(args.new), across_machines=args.across_machines)
    return judge_and_print(matched, settings, args.format, strict=args.strict)
