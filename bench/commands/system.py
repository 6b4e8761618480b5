"""`effbench system`: this machine's metadata and the checks that predict a noisy measurement."""

from __future__ import annotations

import argparse
from typing import Any

from bench.commands.options import add_config, add_cpus, add_json, command_config
from bench.machine import collect_machine_metadata, cpus_to_check, read_topology, system_checks


def register(subparsers: Any) -> None:
    system = subparsers.add_parser(
        "system",
        help="show this machine, where effbench writes here, and check it for sources of measurement noise",
        description="Show the CPU, memory, OS, runtimes and frequency settings of this machine; which bench.toml "
        "effbench reads here and where its export cache and results go (bench.toml's [paths], else models/ in "
        "effbench's own checkout or $XDG_CACHE_HOME/effbench (~/.cache/effbench) elsewhere, and results/ of the "
        "current folder); and check the CPUs a measurement would use for what makes latency noisy (governor, "
        "turbo, load, SMT siblings, cgroup quota), with what to do about each. Modelled on `python -m pyperf "
        "system show`.",
    )
    add_config(system, after_command=True)
    add_json(system, "print the metadata and checks as JSON")
    add_cpus(
        system,
        "CPUs to check, e.g. 1 or 2-3 (default: the CPU `effbench latency --threads 1` measures on: an isolated "
        "CPU if there is one, else the highest-numbered allowed one)",
    )
    system.set_defaults(func=run_system)


def run_system(args: argparse.Namespace) -> int:
    """Print this machine's metadata, where effbench reads and writes here, and the noise checks of the CPUs a
    measurement would use (or JSON)."""
    from bench.views.system import checks_table, machine_table, paths_table, system_json, warnings_line

    config = command_config(args)
    cpus = cpus_to_check(args.cpus, read_topology())
    machine = collect_machine_metadata()
    checks = system_checks(cpus)
    if args.json:
        print(system_json(machine, cpus, checks, config))
        return 0
    from rich.console import Console  # only for the table: --json prints without it

    console = Console()
    console.print(machine_table(machine))
    console.print(paths_table(config))
    console.print(checks_table(checks, cpus))
    closing = warnings_line(checks)
    if closing:
        console.print(closing)
    return 0
