"""How busy the CPUs were between two /proc/stat readings: the load check before measuring, and the worker's
record of the other CPUs' load and of steal time during its timed loop (standard library only)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from bench.machine.linux import THIS_MACHINE, CpuTimes, Kernel

# Above these, the machine around the measurement was not quiet enough to trust small differences.
OTHER_CPUS_BUSY_WARN = 0.25
STEAL_WARN = 0.02
# A one-thread worker whose timed loop got less of its CPU than this shared the CPU with another process (the
# worker's own "got only N% of its CPU" warning).
OWN_CPU_SHARE_WARN = 0.9


def interfered(activity: Mapping[str, float | None], cpu_wall_ratio: float | None, threads: int) -> bool:
    """A process's timed loop crossed one of its warning levels: the other CPUs busy, steal time, or (one thread)
    another process on its own CPU. What an A/B re-measures and the verdict rule weighs (bench.compare.rule)."""
    busy, steal = activity.get("other_cpus_busy"), activity.get("own_cpus_steal")
    if (busy is not None and busy >= OTHER_CPUS_BUSY_WARN) or (steal is not None and steal >= STEAL_WARN):
        return True
    return threads == 1 and cpu_wall_ratio is not None and 0.0 < cpu_wall_ratio < OWN_CPU_SHARE_WARN


def busy_fractions(before: dict[int, CpuTimes], after: dict[int, CpuTimes]) -> dict[int, float]:
    """Fraction of time each CPU was busy (not idle or iowait) between two readings."""
    busy = {}
    for cpu, now in after.items():
        then = before.get(cpu)
        if then is not None and now.total > then.total:
            busy[cpu] = min(max((now.busy - then.busy) / (now.total - then.total), 0.0), 1.0)
    return busy


def cpu_busy_fractions(
    interval_s: float = 0.2, *, kernel: Kernel = THIS_MACHINE, sleep: Callable[[float], None] = time.sleep
) -> dict[int, float]:
    """Fraction of time each CPU was busy over `interval_s`, from two /proc/stat reads."""
    before = kernel.cpu_times()
    sleep(interval_s)
    return busy_fractions(before, kernel.cpu_times())


def machine_activity(
    before: dict[int, CpuTimes], after: dict[int, CpuTimes], cpus: list[int]
) -> dict[str, float | None]:
    """How busy the other CPUs were, and how much time the hypervisor stole from ours, between two readings."""

    def share(selected: list[int], part: Callable[[CpuTimes], int]) -> float | None:
        both = [c for c in selected if c in before and c in after]
        spent = sum(part(after[c]) - part(before[c]) for c in both)
        total = sum(after[c].total - before[c].total for c in both)
        return spent / total if total > 0 else None

    others = [c for c in after if c not in cpus]
    return {
        "other_cpus_busy": share(others, lambda t: t.busy),
        "own_cpus_steal": share(cpus, lambda t: t.steal),
    }


def activity_warnings(activity: dict[str, float | None], cpus: list[int]) -> list[str]:
    """What the machine activity of a timed loop means for its figures, when it was not quiet."""
    found = []
    busy = activity.get("other_cpus_busy")
    if busy is not None and busy >= OTHER_CPUS_BUSY_WARN:
        found.append(
            f"the other CPUs were {busy:.0%} busy during the timed loop: CPUs that share a core, cache or memory "
            "bandwidth (SMT siblings, VM vCPUs) slow this one even when it runs alone; measure on an idle machine"
        )
    steal = activity.get("own_cpus_steal")
    if steal is not None and steal >= STEAL_WARN:
        found.append(
            f"the hypervisor took {steal:.0%} of CPU {cpus} (steal time) during the timed loop: this VM shares "
            "its physical CPU; expect run-to-run variation"
        )
    return found
