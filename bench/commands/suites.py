"""`effbench suites`: every suite this folder can run, shipped or from bench.toml, with its size here and its time."""

from __future__ import annotations

import argparse
from typing import Any

from bench.commands.options import add_config, add_format, command_config
from bench.views.console import print_rows
from bench.views.tables import FORMATS, Column

COLUMNS = (
    Column("name", "suite", align="left"),
    Column("source", "source", align="left"),
    Column("models", "models"),
    Column("cells", "cells here"),
    Column("cells_in_matrix", "of"),
    Column("threads", "threads"),
    Column("preset", "preset", align="left"),
    Column("estimate", "est. time", align="left"),
)
# --format json keeps every key of a row (the description too); the columns leave it out: it would fold every row.


def run_suites(args: argparse.Namespace) -> int:
    """Print every suite (shipped ones, then bench.toml's) with its source, counts and estimated time."""
    from bench.suite.listing import suite_rows

    config = command_config(args)
    print_rows(
        suite_rows(config),
        COLUMNS,
        args.format,
        title="effbench suites (run one with: effbench run --suite NAME; cells here = the cells this machine's "
        "runtimes and CPU can run)",
    )
    return 0


def register(subparsers: Any) -> None:
    from bench.suite.listing import ESTIMATE_HELP

    parser = subparsers.add_parser(
        "suites",
        help="list the suites `effbench run --suite` knows: shipped and bench.toml's",
        description="List every suite: the ones effbench ships, and those the nearest bench.toml (or --config) "
        "adds or overrides by name, with the file each comes from, its model count, the cells this machine can "
        "run (its installed runtimes, its CPUs' count, and bf16 only with AVX-512 BF16 or AMX) out of the whole "
        "matrix, and an estimated time. " + ESTIMATE_HELP,
    )
    add_config(parser, after_command=True)
    add_format(parser, FORMATS, default="table")
    parser.set_defaults(func=run_suites)
