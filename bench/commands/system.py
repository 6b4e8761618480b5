"""`effbench system`: this machine's metadata and the checks that predict a noisy measurement;
`effbench export-pyperf`: a result file as pyperf JSON."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.machine import collect_machine_metadata, cpus_to_check, read_topology, system_checks


def register(subparsers: Any) -> None:
    system = subparsers.add_parser(
        "system",
        help="show this machine and check it for sources of measurement noise",
        description="Show the CPU, memory, OS, runtimes and frequency settings of this machine, and check "
        "the CPUs a measurement would use for what makes latency noisy (governor, turbo, load, SMT siblings, "
        "cgroup quota), with what to do about each. Modelled on `python -m pyperf system show`.",
    )
    system.add_argument("--json", action="store_true", help="print the metadata and checks as JSON")
    system.add_argument(
        "--cpus",
        metavar="LIST",
        help="CPUs to check, e.g. 1 or 2-3 (default: the CPU `effbench latency --threads 1` measures on: an isolated "
        "CPU if there is one, else the highest-numbered allowed one)",
    )
    system.set_defaults(func=run_system)

    export = subparsers.add_parser(
        "export-pyperf",
        help="convert a result file to pyperf JSON (python -m pyperf stats/hist/compare_to read it)",
        description="Write an effbench result as a pyperf JSON file: one benchmark per cell "
        "(model/backend/precision/threads), one run per worker process, values in seconds. "
        "An existing output file is never overwritten: a new name is chosen and reported.",
    )
    export.add_argument("file", type=Path, metavar="FILE", help="effbench result (.json)")
    export.add_argument(
        "-o", "--output", type=Path, metavar="OUT", help="pyperf file to write (default: FILE's name + .pyperf.json)"
    )
    export.set_defaults(func=run_export)


def run_system(args: argparse.Namespace) -> int:
    from bench.views.system import checks_table, machine_table, system_json, warnings_line

    cpus = cpus_to_check(args.cpus, read_topology())
    machine = collect_machine_metadata()
    checks = system_checks(cpus)
    if args.json:
        print(system_json(machine, cpus, checks))
        return 0
    from rich.console import Console

    console = Console()
    console.print(machine_table(machine))
    console.print(checks_table(checks, cpus))
    closing = warnings_line(checks)
    if closing:
        console.print(closing)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from bench.views.pyperf import export_pyperf

    written = export_pyperf(args.file, args.output)
    print(f"wrote {written}")
    return 0
