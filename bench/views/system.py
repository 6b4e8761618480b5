"""The `effbench system` views: the machine table, the checks table, the warning count line and the JSON."""

from __future__ import annotations

import json
from typing import Any

from bench.machine import FLAGS_OF_INTEREST, Check, format_cpu_list

_STATUS_STYLE = {"ok": ("ok", "green"), "warn": ("WARN", "bold yellow"), "unknown": ("?", "dim")}


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
    """The machine as a two-column rich table (values printed as text, never as rich markup)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="effbench system: this machine", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    for label, value in machine_rows(machine):
        table.add_row(label, escape(value))
    return table


def checks_table(checks: list[Check], cpus: list[int]) -> Any:
    """One row per check: status, name, finding and what to do."""
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


def warnings_line(checks: list[Check]) -> str | None:
    """The closing line when some check warned, else None."""
    warned = sum(1 for c in checks if c.status == "warn")
    if not warned:
        return None
    return f"{warned} warning(s): fix them before measuring, or report them with the results."


def system_json(machine: dict[str, Any], cpus: list[int], checks: list[Check]) -> str:
    """`effbench system --json`: the metadata, the CPUs checked and the checks."""
    return json.dumps({"machine": machine, "cpus": cpus, "checks": [c.to_dict() for c in checks]}, indent=2)
