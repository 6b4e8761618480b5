"""`effbench system`: this machine's metadata and the checks that predict a noisy measurement;
`effbench export-pyperf`: a result file as pyperf JSON."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from bench.errors import EffbenchError
from bench.machine import (
    FLAGS_OF_INTEREST,
    Check,
    collect_machine_metadata,
    format_cpu_list,
    online_cpus,
    parse_cpu_list,
    system_checks,
)

_STATUS_STYLE = {"ok": ("ok", "green"), "warn": ("WARN", "bold yellow"), "unknown": ("?", "dim")}


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
        help="CPUs to check, e.g. 1 or 2-3 (default: the highest-numbered CPU, where effbench pins by default)",
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


def _default_cpus() -> list[int]:
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = online_cpus() or list(range(os.cpu_count() or 1))
    return [allowed[-1]] if allowed else [0]


def _chosen_cpus(text: str | None) -> list[int]:
    if text is None:
        return _default_cpus()
    try:
        cpus = parse_cpu_list(text)
    except ValueError as exc:
        raise EffbenchError(f"--cpus: {exc}") from None
    if not cpus:
        raise EffbenchError("--cpus is empty: give CPU ids like 1 or 0-3")
    online = online_cpus()
    if online is not None:
        missing = [c for c in cpus if c not in online]
        if missing:
            raise EffbenchError(
                f"--cpus: CPU {format_cpu_list(missing)} does not exist on this machine "
                f"(online CPUs: {format_cpu_list(online)}); pick among those"
            )
    return cpus


def run_system(args: argparse.Namespace) -> int:
    cpus = _chosen_cpus(args.cpus)
    machine = collect_machine_metadata()
    checks = system_checks(cpus)
    if args.json:
        print(json.dumps({"machine": machine, "cpus": cpus, "checks": [c.to_dict() for c in checks]}, indent=2))
        return 0
    from rich.console import Console

    console = Console()
    console.print(machine_table(machine))
    console.print(checks_table(checks, cpus))
    warned = [c for c in checks if c.status == "warn"]
    if warned:
        console.print(f"{len(warned)} warning(s): fix them before measuring, or report them with the results.")
    return 0


def _bytes(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "?"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{int(value)} B"


def _hz(value: Any) -> str:
    return f"{value / 1e9:.2f} GHz" if isinstance(value, (int, float)) and value > 0 else "?"


def machine_rows(machine: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows describing the machine, as `effbench system` shows them."""
    cpu = machine.get("cpu") or {}
    cores = machine.get("cores") or {}
    memory = machine.get("memory") or {}
    python = machine.get("python") or {}
    info = machine.get("effbench") or {}
    flags = set(cpu.get("flags") or [])
    caches = []
    for cache in cpu.get("caches") or []:
        kind = {"Data": "d", "Instruction": "i"}.get(cache.get("type") or "", "")
        shared = (
            f" (shared by {cache['shared_cpu_list']})"
            if "," in str(cache.get("shared_cpu_list")) or "-" in str(cache.get("shared_cpu_list"))
            else ""
        )
        caches.append(f"L{cache.get('level')}{kind} {_bytes(cache.get('size_bytes'))}{shared}")
    quota = machine.get("cgroup_cpu_quota")
    isolated = machine.get("isolated_cpus")
    commit = info.get("git_commit")
    runtimes = machine.get("runtimes") or {}
    return [
        ("machine id", str(machine.get("id"))),
        ("hostname", str(machine.get("hostname"))),
        ("CPU", str(cpu.get("brand"))),
        (
            "vendor / family / model / stepping",
            f"{cpu.get('vendor')} / {cpu.get('family')} / {cpu.get('model')} / {cpu.get('stepping')}",
        ),
        ("frequency", f"advertised {_hz(cpu.get('hz_advertised'))}, current {_hz(cpu.get('hz_actual'))}"),
        (
            "cores",
            f"{cores.get('logical')} logical, {cores.get('physical') or '?'} physical; online {cores.get('online')}"
            + (f"; allowed {format_cpu_list(cores['affinity'])}" if cores.get("affinity") else ""),
        ),
        ("flags", "  ".join(f"{f} {'yes' if f in flags else 'no'}" for f in FLAGS_OF_INTEREST)),
        ("caches (per core)", ", ".join(caches) or "unavailable"),
        ("memory", f"{_bytes(memory.get('total_bytes'))} total, {_bytes(memory.get('available_bytes'))} available"),
        ("OS", f"{(machine.get('os') or {}).get('name') or '?'}, kernel {machine.get('kernel')}"),
        ("Python", f"{python.get('implementation')} {python.get('version')} ({python.get('executable')})"),
        ("governor", str(machine.get("governor"))),
        ("turbo / boost", str(machine.get("boost"))),
        (
            "isolated CPUs",
            (format_cpu_list(isolated) or "none") if isinstance(isolated, list) else str(isolated),
        ),
        ("cgroup CPU quota", f"{quota:g} CPUs" if isinstance(quota, float) else str(quota)),
        ("ASLR", str(machine.get("aslr"))),
        ("load average", " ".join(str(x) for x in machine.get("load_avg") or []) or "?"),
        (
            "effbench",
            f"{info.get('version')}"
            + (f" (git {commit[:12]}{', modified' if info.get('git_dirty') else ''})" if commit else ""),
        ),
        ("runtimes", ", ".join(f"{k} {v or 'not installed'}" for k, v in runtimes.items())),
    ]


def machine_table(machine: dict[str, Any]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="effbench system: this machine", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    for label, value in machine_rows(machine):
        table.add_row(label, escape(value))
    return table


def checks_table(checks: list[Check], cpus: list[int]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"checks for CPU {format_cpu_list(cpus)}")
    table.add_column("status")
    table.add_column("check")
    table.add_column("finding", overflow="fold")
    table.add_column("what to do", overflow="fold")
    for check in checks:
        label, style = _STATUS_STYLE.get(check.status, (check.status, ""))
        table.add_row(f"[{style}]{label}[/]", check.name, escape(check.message), escape(check.remedy))
    return table


def run_export(args: argparse.Namespace) -> int:
    from bench.pyperf_export import export_pyperf

    written = export_pyperf(args.file, args.output)
    print(f"wrote {written}")
    return 0
