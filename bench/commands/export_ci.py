"""`effbench export-ci`: a result document in the JSON a CI dashboard ingests (github-action-benchmark, Bencher)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.commands.options import add_output
from bench.errors import EffbenchError

# bench.views.ci_formats.CI_FORMATS plus pyperf (the same file `effbench export-pyperf` writes), spelled here too:
# no view import at startup.
FORMATS = ("github-action-benchmark", "bmf", "pyperf")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export-ci",
        help="convert a result file for a CI dashboard (github-action-benchmark, Bencher BMF)",
        description="Write one entry per measured cell (model/backend/precision/tN, plus the arm of an A/B "
        "document): the median of the per-process medians with its 95% CI. github-action-benchmark: its custom "
        "JSON for tool customSmallerIsBetter, ms, the CI as range, processes, warnings and runtime versions as "
        "extra. bmf: Bencher Metric Format, Measure latency, in ns, the CI as lower_value/upper_value. pyperf: "
        "as `effbench export-pyperf`. Failed or skipped cells are left out and named on stderr. Keep `effbench "
        "compare`/`ab` as the gate: these dashboards alert on one value against the previous one.",
    )
    parser.add_argument("file", type=Path, metavar="RESULT.json", help="effbench result (.json)")
    # Required, with no default (the two dashboards read different files), which options.add_format does not offer.
    parser.add_argument("--format", required=True, choices=FORMATS, help="output format")
    add_output(
        parser,
        "file to write, replaced if it exists (default: standard output; pyperf: RESULT's name + .pyperf.json, "
        "never overwritten)",
    )
    parser.set_defaults(func=run_export_ci)


def run_export_ci(args: argparse.Namespace) -> int:
    """Convert the document for a dashboard; name the cells left out on stderr."""
    from bench.results import load_result

    if args.format == "pyperf":
        from bench.views.pyperf import export_pyperf

        print(f"wrote {export_pyperf(args.file, args.output)}")
        return 0
    from bench.views.ci_formats import render_ci

    text, left_out = render_ci(load_result(args.file), args.format)
    for note in left_out:
        print(f"effbench: left out {note}", file=sys.stderr)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    from bench.fsio import replace_file

    try:
        replace_file(args.output, text)
    except OSError as exc:
        raise EffbenchError(f"cannot write {args.output}: {exc.strerror or exc}; choose a writable path") from None
    print(f"wrote {args.output}")
    return 0
