"""The verdicts of `effbench compare` and `effbench ab` printed: the comparison of matched cells in one format on
stdout, its closing line on stderr too, and the exit code a CI job acts on."""

from __future__ import annotations

import sys

from bench.compare import CompareSettings, compare_cells, exit_code
from bench.compare.documents import Matched
from bench.views.compare import render_comparison


def judge_and_print(matched: Matched, settings: CompareSettings, fmt: str, *, strict: bool) -> int:
    """Verdicts for `matched` cells, printed as `fmt` (term, md or json); returns the exit code."""
    comparison = compare_cells(matched.cells, settings)
    sys.stdout.write(render_comparison(comparison, matched, fmt))
    if fmt != "term":  # the closing line on stderr too, where a CI log shows it
        print(comparison.summary.line(), file=sys.stderr)
    return exit_code(comparison, strict=strict)
