"""`effbench export-pyperf`: a result document as pyperf JSON (`python -m pyperf stats/hist/compare_to` read it)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.commands.options import add_output


def register(subparsers: Any) -> None:
    export = subparsers.add_parser(
        "export-pyperf",
        help="convert a result file to pyperf JSON (python -m pyperf stats/hist/compare_to read it)",
        description="Write an effbench result as a pyperf JSON file: one benchmark per cell "
        "(model/backend/precision/threads), one run per worker process, values in seconds. "
        "An existing output file is never overwritten: a new name is chosen and reported.",
    )
    export.add_argument("file", type=Path, metavar="FILE", help="effbench result (.json)")
    add_output(export, "pyperf file to write (default: FILE's name + .pyperf.json)", metavar="OUT")
    export.set_defaults(func=run_export_pyperf)


def run_export_pyperf(args: argparse.Namespace) -> int:
    """Convert the document and say where the pyperf file went (never over an existing one)."""
    from bench.views.pyperf import export_pyperf

    written = export_pyperf(args.file, args.output)
    print(f"wrote {written}")
    return 0
