"""How busy the CPUs were between two /proc/stat readings: the load check before measuring, and the worker's
record of the other CPUs' load and of steal time during its timed loop (standard library only)."""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.machine.linux import THIS_MACHINE, CpuTimes, Kernel

# Above these, the machine around the measurement was not quiet enough to trust small differences.
OTHER_CPUS_BUSY_WARN = 0.25
STEAL_WARN = 0.02


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
