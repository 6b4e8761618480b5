"""The `effbench system` views: the machine table, where effbench reads and writes, the checks table, the warning
count line and the JSON."""

from __future__ import annotations

import json
from typing import Any

from bench.config import Config
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


def path_rows(config: Config) -> list[tuple[str, str]]:
    """(label, value) rows: the bench.toml read (if any), and where exports, results and the history go and why."""
    read = str(config.source) if config.source is not None else "none found here or above: the defaults"
    results_why = "bench.toml [paths] results_dir" if "results_dir" in config.raw.get("paths", {}) else "the default"
    return [
        ("bench.toml", read),
        ("export cache", f"{config.cache_dir} ({config.cache_origin})"),
        ("results", f"{config.results_dir} ({results_why}: results/ beside bench.toml, else of the current folder)"),
        ("history database", str(config.history_db)),
    ]


def paths_table(config: Config) -> Any:
    """Where this folder's effbench reads its settings and writes its exports and results, as a rich table."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="effbench system: where effbench reads and writes here", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("path", overflow="fold")
    for label, value in path_rows(config):
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


def system_json(machine: dict[str, Any], cpus: list[int], checks: list[Check], config: Config) -> str:
    """`effbench system --json`: the metadata, the paths effbench uses here, the CPUs checked and the checks."""
    paths = {
        "config": str(config.source) if config.source is not None else None,
        "cache_dir": str(config.cache_dir),
        "cache_origin": config.cache_origin,
        "results_dir": str(config.results_dir),
        "history_db": str(config.history_db),
    }
    checks_json = [c.to_dict() for c in checks]
    return json.dumps({"machine": machine, "paths": paths, "cpus": cpus, "checks": checks_json}, indent=2)
