"""`effbench compare BASE.json NEW.json`: per-cell verdicts on per-process medians and an exit code for CI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.errors import EffbenchError

EXIT_HELP = """\
exit codes (noise may weaken "no change", never hide a regression):
  0  no regression (improvements, no change, and without --strict inconclusive or noisy cells)
  1  a regression (whatever the busy-CPU or steal-time warnings, unless they hit NEW more than BASE), or a
     cell that newly fails
  2  bad input: a missing, unreadable, truncated or newer-format file, no common cells, another machine
  3  undecided, and no regression: suspect (two runs: slower while only NEW was busy, or neither slower nor
     faster while only BASE was), re-run needed (effbench ab: the same, with interference on one arm's
     processes in more blocks than on the other's), or with --strict an inconclusive or noisy cell
"""


def parse_fraction(text: str, what: str) -> float:
    """'5%' or '0.05' as 0.05; EffbenchError naming the option otherwise."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise EffbenchError(
            f"{what} {text!r} is not a number: give a fraction like 0.05 or a percentage like 5%"
        ) from None
    return value


def add_verdict_options(parser: Any) -> None:
    """The options compare and ab share: what counts as a change, and how to print it."""
    parser.add_argument("--threshold", default="5%", metavar="PCT", help="smallest change that matters (default 5%%)")
    parser.add_argument("--floor-ms", type=float, default=None, metavar="MS",
                        help="absolute floor: differences below it never count (default 0.02 ms)")  # fmt: skip
    parser.add_argument("--alpha", default="0.05", metavar="A", help="significance level per family (default 0.05)")
    parser.add_argument(
        "--correction",
        choices=("holm", "bh", "none"),
        default="holm",
        help="multiple-comparison control across cells: holm (family-wise, default), bh (FDR)",
    )
    parser.add_argument("--format", "-f", choices=("term", "md", "json"), default="term", help="output format")
    parser.add_argument("--strict", action="store_true", help="exit 3 also when a cell is inconclusive or noisy")


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


def settings_from(args: argparse.Namespace) -> Any:
    from bench.compare import CompareSettings
    from bench.compare.verdict import DEFAULT_FLOOR_MS

    return CompareSettings(
        threshold=parse_fraction(args.threshold, "--threshold"),
        floor_ms=DEFAULT_FLOOR_MS if args.floor_ms is None else args.floor_ms,
        alpha=parse_fraction(args.alpha, "--alpha"),
        correction=args.correction,
    )


def judge_and_print(matched: Any, args: argparse.Namespace) -> int:
    """Verdicts for matched cells, printed in the chosen format; returns the exit code."""
    from bench.compare import compare_cells, exit_code
    from bench.views.compare import render_comparison

    comparison = compare_cells(matched.cells, settings_from(args))
    sys.stdout.write(render_comparison(comparison, matched, args.format))
    if args.format != "term":  # the closing line on stderr too, where a CI log shows it
        print(comparison.summary.line(), file=sys.stderr)
    return exit_code(comparison, strict=args.strict)


def run_compare(args: argparse.Namespace) -> int:
    from bench.compare.documents import match_ab, match_documents
    from bench.results import load_result

    settings_from(args)  # bad options fail before any file is read
    base = load_result(args.base)
    if args.new is None:
        matched = match_ab(base)
    else:
        matched = match_documents(base, load_result(args.new), across_machines=args.across_machines)
    return judge_and_print(matched, args)
