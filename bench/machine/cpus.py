"""Which CPUs a measurement is pinned to: the one default rule and the one set of `--cpus`/`--threads` checks,
shared by `effbench latency` (the CPUs it measures on) and `effbench system` (the CPUs it checks)."""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import EffbenchError
from bench.machine.linux import THIS_MACHINE, Kernel, format_cpu_list, parse_cpu_list


@dataclass(frozen=True)
class CpuTopology:
    """What the kernel says about this machine's CPUs; built by hand in tests so they do not depend on the host."""

    online: frozenset[int]
    allowed: frozenset[int]
    isolated: frozenset[int]
    core_of: dict[int, tuple[int, int]]  # cpu -> (package id, core id): CPUs sharing it are SMT siblings
    present: frozenset[int] = frozenset()  # online or offline; empty: the same as online

    def physical_cores(self, cpus: set[int] | frozenset[int]) -> int:
        return len({self.core_of.get(c, (0, c)) for c in cpus})


def read_topology(kernel: Kernel = THIS_MACHINE) -> CpuTopology:
    """Online, present and isolated CPUs and core ids from sysfs, and the allowed set from the process affinity."""
    allowed = frozenset(kernel.allowed_cpus() or kernel.online_cpus() or [0])
    online = frozenset(kernel.online_cpus() or allowed)
    core_of = {cpu: kernel.core_of(cpu) or (0, cpu) for cpu in online}
    return CpuTopology(
        online=online,
        allowed=allowed,
        isolated=frozenset(kernel.isolated_cpus() or ()),
        core_of=core_of,
        present=frozenset(kernel.present_cpus() or ()) | online,
    )


def parse_cpus_option(text: str) -> list[int]:
    """`--cpus` in the kernel's list syntax ('1,3-5') as sorted CPU ids; EffbenchError otherwise."""
    try:
        cpus = parse_cpu_list(text)
    except ValueError as exc:
        raise EffbenchError(f"--cpus {text!r}: {exc}") from None
    if not cpus:
        raise EffbenchError("--cpus is empty: give CPU ids like 1 or 0-3")
    return cpus


def validate_cpus(text: str, topo: CpuTopology) -> list[int]:
    """`--cpus` parsed and checked against the machine: every CPU exists, is online and is allowed."""
    cpus = parse_cpus_option(text)
    online = format_cpu_list(topo.online)
    missing = [c for c in cpus if c not in topo.present and c not in topo.online]
    if missing:
        raise EffbenchError(
            f"--cpus: CPU {format_cpu_list(missing)} does not exist (online CPUs: {online}); pick CPUs from that list"
        )
    offline = [c for c in cpus if c not in topo.online]
    if offline:
        raise EffbenchError(
            f"--cpus: CPU {format_cpu_list(offline)} is offline (online CPUs: {online}); pick CPUs from that list, "
            f"or bring it online (echo 1 | sudo tee /sys/devices/system/cpu/cpu{offline[0]}/online)"
        )
    outside = [c for c in cpus if c not in topo.allowed]
    if outside:
        raise EffbenchError(
            f"--cpus: CPU {format_cpu_list(outside)} is outside this process's allowed CPUs "
            f"({format_cpu_list(topo.allowed)}, set by taskset or a cgroup); pick CPUs from that list"
        )
    return cpus


def _check_threads(threads: int, topo: CpuTopology) -> None:
    if threads < 1:
        raise EffbenchError(f"--threads {threads}: must be at least 1")
    cores = topo.physical_cores(topo.allowed)
    if threads > cores:
        raise EffbenchError(
            f"--threads {threads}: this process may use {len(topo.allowed)} CPU(s) on {cores} physical core(s) "
            f"({format_cpu_list(topo.allowed)}); use --threads {cores} or fewer"
        )


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


def default_cpus(threads: int, topo: CpuTopology) -> list[int]:
    """N CPUs on distinct physical cores: the kernel's isolated CPUs if it has enough usable ones, else the
    highest-numbered allowed ones, keeping CPU 0 (where the kernel and interrupts usually land) out when possible.
    """
    _check_threads(threads, topo)
    usable_isolated = sorted(topo.isolated & topo.allowed)
    if usable_isolated:
        picked = _one_per_core(usable_isolated, threads, topo)
        if len(picked) == threads:
            return sorted(picked)
    candidates = sorted(topo.allowed, reverse=True)
    picked = _one_per_core([c for c in candidates if c != 0], threads, topo)
    if len(picked) < threads:
        picked = _one_per_core(candidates, threads, topo)
    return sorted(picked)


def resolve_cpus(threads: int, cpus_text: str | None = None, topo: CpuTopology | None = None) -> list[int]:
    """The CPUs to pin a measurement with `threads` threads to: `--cpus` validated, or the default choice."""
    topo = topo or read_topology()
    _check_threads(threads, topo)
    if cpus_text is None:
        return default_cpus(threads, topo)
    cpus = validate_cpus(cpus_text, topo)
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


def cpus_to_check(cpus_text: str | None = None, topo: CpuTopology | None = None) -> list[int]:
    """The CPUs `effbench system` checks: `--cpus` validated (any number of them), or by default the CPU
    `effbench latency --threads 1` would measure on, so the checks are about the CPU that will be used."""
    topo = topo or read_topology()
    if cpus_text is None:
        return resolve_cpus(1, None, topo)
    return validate_cpus(cpus_text, topo)
