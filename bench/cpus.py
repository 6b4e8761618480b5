"""Choosing and validating the CPUs a measurement is pinned to (`--cpus`, `--threads`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.errors import EffbenchError
from bench.machine import format_cpu_list
from bench.machine import parse_cpu_list as _parse_kernel_list

__all__ = ["CpuTopology", "default_cpus", "format_cpu_list", "parse_cpu_list", "read_topology", "resolve_cpus"]

SYSFS_CPU = Path("/sys/devices/system/cpu")


@dataclass(frozen=True)
class CpuTopology:
    """What the kernel says about this machine's CPUs; injectable so tests do not depend on the host."""

    online: frozenset[int]
    allowed: frozenset[int]
    isolated: frozenset[int]
    core_of: dict[int, tuple[int, int]]  # cpu -> (package id, core id): CPUs sharing it are SMT siblings

    def physical_cores(self, cpus: set[int] | frozenset[int]) -> int:
        return len({self.core_of.get(c, (0, c)) for c in cpus})


def parse_cpu_list(text: str) -> list[int]:
    """Parse `--cpus` in the kernel's list syntax ('1,3-5') into sorted CPU ids; EffbenchError otherwise."""
    try:
        cpus = _parse_kernel_list(text)
    except ValueError as exc:
        raise EffbenchError(f"--cpus {text!r}: {exc}") from None
    if not cpus:
        raise EffbenchError("--cpus is empty: give CPU ids like '1' or '1,3-5'")
    return cpus


def _read_list(path: Path) -> frozenset[int]:
    try:
        text = path.read_text().strip()
    except OSError:
        return frozenset()
    if not text:
        return frozenset()
    try:
        return frozenset(_parse_kernel_list(text))
    except ValueError:
        return frozenset()


def read_topology(sysfs: Path = SYSFS_CPU) -> CpuTopology:
    """Read online/isolated CPUs and core ids from sysfs, and the allowed set from this process's affinity."""
    allowed = frozenset(os.sched_getaffinity(0))
    online = _read_list(sysfs / "online") or allowed
    isolated = _read_list(sysfs / "isolated")
    core_of: dict[int, tuple[int, int]] = {}
    for cpu in online:
        topo = sysfs / f"cpu{cpu}" / "topology"
        try:
            core = int((topo / "core_id").read_text())
            package = int((topo / "physical_package_id").read_text())
        except (OSError, ValueError):
            core, package = cpu, 0
        core_of[cpu] = (package, core)
    return CpuTopology(online=online, allowed=allowed, isolated=isolated, core_of=core_of)


def default_cpus(threads: int, topo: CpuTopology | None = None) -> list[int]:
    """N CPUs on distinct physical cores: the kernel's isolated CPUs if it has enough usable ones, else the
    highest-numbered allowed ones, keeping CPU 0 (where the kernel and interrupts usually land) out when possible.
    """
    topo = topo or read_topology()
    _check_threads(threads, topo.allowed, topo)
    usable_isolated = sorted(topo.isolated & topo.allowed)
    if usable_isolated:
        picked = _one_per_core(usable_isolated, threads, topo)
        if len(picked) == threads:
            return sorted(picked)
    candidates = sorted(topo.allowed, reverse=True)
    without_cpu0 = [c for c in candidates if c != 0]
    picked = _one_per_core(without_cpu0, threads, topo)
    if len(picked) < threads:
        picked = _one_per_core(candidates, threads, topo)
    return sorted(picked)


def _one_per_core(cpus: list[int], count: int, topo: CpuTopology) -> list[int]:
    seen: set[tuple[int, int]] = set()
    picked: list[int] = []
    for cpu in cpus:
        core = topo.core_of.get(cpu, (0, cpu))
        if core in seen:
            continue
        seen.add(core)
        picked.append(cpu)
        if len(picked) == count:
            break
    return picked


def _check_threads(threads: int, allowed: frozenset[int], topo: CpuTopology) -> None:
    if threads < 1:
        raise EffbenchError(f"--threads {threads}: must be at least 1")
    cores = topo.physical_cores(allowed)
    if threads > cores:
        raise EffbenchError(
            f"--threads {threads}: this process may use {len(allowed)} CPU(s) on {cores} physical core(s) "
            f"({format_cpu_list(allowed)}); use --threads {cores} or fewer"
        )


def resolve_cpus(threads: int, cpus_text: str | None = None, topo: CpuTopology | None = None) -> list[int]:
    """The CPUs to pin a measurement with `threads` threads to: `--cpus` validated, or the default choice."""
    topo = topo or read_topology()
    _check_threads(threads, topo.allowed, topo)
    if cpus_text is None:
        return default_cpus(threads, topo)
    cpus = parse_cpu_list(cpus_text)
    for cpu in cpus:
        if cpu not in topo.online:
            raise EffbenchError(
                f"--cpus: CPU {cpu} does not exist (online CPUs: {format_cpu_list(topo.online)}); "
                "pick CPUs from that list"
            )
        if cpu not in topo.allowed:
            raise EffbenchError(
                f"--cpus: CPU {cpu} is outside this process's allowed CPUs ({format_cpu_list(topo.allowed)}, "
                "set by taskset or a cgroup); pick CPUs from that list"
            )
    if len(cpus) != threads:
        raise EffbenchError(
            f"--cpus {cpus_text} names {len(cpus)} CPU(s) but --threads is {threads}: give one CPU per thread "
            f"(e.g. --threads {len(cpus)})"
        )
    if topo.physical_cores(set(cpus)) < len(cpus):
        raise EffbenchError(
            f"--cpus {cpus_text}: some of these CPUs are SMT siblings of the same physical core; "
            "--threads N means N distinct physical cores, so pick one CPU per core"
        )
    return cpus
