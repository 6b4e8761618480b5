"""System checks: what on this machine would make a measurement pinned to some CPUs noisy, and what to do about it
(after pyperf's `system show`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from bench.machine.activity import cpu_busy_fractions
from bench.machine.linux import THIS_MACHINE, UNAVAILABLE, Kernel, format_cpu_list
from bench.machine.metadata import summarize_per_cpu

# A pinned CPU busier than this while idle-checking will steal time from the measurement.
BUSY_WARN = 0.10

CheckStatus = Literal["ok", "warn", "unknown"]


@dataclass(frozen=True)
class Check:
    """One system check: status 'ok' | 'warn' | 'unknown', what was found, and how to fix it ('' if nothing)."""

    name: str
    status: CheckStatus
    message: str
    remedy: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "message": self.message, "remedy": self.remedy}


def _check_cpus_exist(cpus: Sequence[int], online: list[int] | None, affinity: Collection[int] | None) -> Check:
    if online is None:
        return Check("cpus", "unknown", f"cannot read the online CPUs to check CPU {format_cpu_list(cpus)}")
    missing = [c for c in cpus if c not in online]
    if missing:
        return Check(
            "cpus",
            "warn",
            f"CPU {format_cpu_list(missing)} does not exist or is offline (online: {format_cpu_list(online)})",
            f"pick CPUs among {format_cpu_list(online)}",
        )
    if affinity is not None:
        outside = [c for c in cpus if c not in affinity]
        if outside:
            return Check(
                "cpus",
                "warn",
                f"CPU {format_cpu_list(outside)} is outside this process's affinity ({format_cpu_list(affinity)})",
                f"pick CPUs among {format_cpu_list(affinity)}, or run effbench without a taskset/cpuset limit",
            )
    return Check("cpus", "ok", f"CPU {format_cpu_list(cpus)} online")


def _check_governor(cpus: Sequence[int], kernel: Kernel) -> Check:
    found = kernel.governors(cpus)
    if not found:
        return Check(
            "governor",
            "unknown",
            "CPU frequency scaling is not visible (typical in a VM or container): the host sets the frequency",
            "compare results only from the same machine; on bare metal: sudo cpupower frequency-set -g performance",
        )
    slow = {c: g for c, g in found.items() if g != "performance"}
    if slow:
        return Check(
            "governor",
            "warn",
            f"the CPU governor is {summarize_per_cpu(slow)}, not performance",
            "set it to performance (sudo cpupower frequency-set -g performance, or python -m pyperf system tune) "
            "or expect ±10%",
        )
    return Check("governor", "ok", f"governor performance on CPU {format_cpu_list(found)}")


def _check_boost(kernel: Kernel) -> Check:
    state = kernel.boost_state()
    if state == UNAVAILABLE:
        return Check("boost", "unknown", "turbo/boost state is not visible (typical in a VM)", "")
    if state == "on":
        return Check(
            "boost",
            "warn",
            "turbo boost is on: the clock varies with temperature and with the load on other cores",
            "disable it for stable numbers (echo 1 | sudo tee /sys/devices/system/cpu/intel_pstate/no_turbo, "
            "or python -m pyperf system tune), or keep it and say so",
        )
    return Check("boost", "ok", "turbo boost off")


def _check_load(cpus: Sequence[int], busy: dict[int, float]) -> Check:
    if not busy:
        return Check("load", "unknown", "cannot read /proc/stat to measure the load on the CPUs", "")
    measured = {c: busy[c] for c in cpus if c in busy}
    if not measured:
        return Check("load", "unknown", f"no load figures for CPU {format_cpu_list(cpus)}", "")
    loaded = {c: f for c, f in measured.items() if f > BUSY_WARN}
    if loaded:
        what = ", ".join(f"CPU {c} {f * 100:.0f}% busy" for c, f in sorted(loaded.items()))
        return Check(
            "load",
            "warn",
            f"{what} before measuring",
            "close other programs or pin the measurement to an idle CPU (effbench latency --cpus)",
        )
    worst = max(measured.values())
    return Check("load", "ok", f"CPU {format_cpu_list(measured)} idle (at most {worst * 100:.0f}% busy)")


def _check_cgroup(cpus: Sequence[int], kernel: Kernel) -> Check:
    quota = kernel.cgroup_cpu_quota()
    if quota == UNAVAILABLE:
        return Check("cgroup", "unknown", "cannot read this process's cgroup CPU quota", "")
    if isinstance(quota, float) and quota < len(cpus):
        return Check(
            "cgroup",
            "warn",
            f"the cgroup CPU quota is {quota:g} CPUs, below the {len(cpus)} CPU(s) measured on: "
            "the kernel will throttle the measurement",
            "raise the container's CPU limit (docker --cpus, Kubernetes limits) or measure on fewer CPUs",
        )
    shown = "no cgroup CPU quota" if quota == "unlimited" else f"cgroup CPU quota {quota:g} CPUs"
    return Check("cgroup", "ok", shown)


def _check_aslr(kernel: Kernel) -> Check:
    state = kernel.aslr()
    if state == UNAVAILABLE:
        return Check("aslr", "unknown", "cannot read kernel.randomize_va_space", "")
    return Check(
        "aslr",
        "ok",
        f"ASLR {state}: memory layout changes between processes, which is why effbench measures in several",
    )


def _check_isolated(cpus: Sequence[int], kernel: Kernel) -> Check:
    isolated = kernel.isolated_cpus()
    if isolated is None:
        return Check("isolated", "unknown", "cannot read the isolated CPUs", "")
    if not isolated:
        return Check(
            "isolated",
            "ok",
            "no CPU is isolated (optional: booting with isolcpus=N nohz_full=N gives the quietest CPU)",
        )
    used = [c for c in cpus if c in isolated]
    if len(used) < len(cpus):
        rest = [c for c in cpus if c not in isolated]
        return Check(
            "isolated",
            "warn",
            f"CPU {format_cpu_list(isolated)} isolated, but CPU {format_cpu_list(rest)} is not",
            f"pin the measurement to the isolated CPUs (--cpus {format_cpu_list(isolated)})",
        )
    return Check("isolated", "ok", f"CPU {format_cpu_list(used)} isolated")


def _check_smt(cpus: Sequence[int], kernel: Kernel, busy: dict[int, float]) -> Check:
    problems = []
    shared = []
    readable = False
    any_sibling = False
    for cpu in cpus:
        found = kernel.thread_siblings(cpu)
        if found is None:
            continue
        readable = True
        siblings = [s for s in found if s != cpu]
        any_sibling = any_sibling or bool(siblings)
        for sibling in siblings:
            if sibling in cpus:
                if cpu < sibling:
                    shared.append(f"CPU {cpu} and {sibling}")
            elif busy.get(sibling, 0.0) > BUSY_WARN:
                problems.append(f"CPU {cpu}'s SMT sibling CPU {sibling} is {busy[sibling] * 100:.0f}% busy")
    if not readable:
        return Check("smt", "unknown", "cannot read the CPU topology (SMT siblings)", "")
    if problems:
        return Check(
            "smt",
            "warn",
            "; ".join(problems) + ": siblings share one core's execution units and caches",
            "keep the sibling idle, pin to a core whose sibling is idle, or disable SMT",
        )
    if shared:
        return Check(
            "smt",
            "warn",
            f"{', '.join(shared)} are SMT siblings of one core: threads on them compete for it",
            "use one CPU per physical core (see thread_siblings_list), or say that SMT was used",
        )
    if not any_sibling:
        return Check("smt", "ok", "no SMT sibling (one hardware thread per core)")
    return Check("smt", "ok", "SMT siblings idle")


def system_checks(
    cpus: Sequence[int],
    *,
    kernel: Kernel = THIS_MACHINE,
    load_interval_s: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Check]:
    """What on this machine may disturb a measurement pinned to `cpus`.

    Reads /proc/stat twice, `load_interval_s` apart, to measure how busy the CPUs are.
    """
    cpus = sorted(set(cpus))
    busy = cpu_busy_fractions(load_interval_s, kernel=kernel, sleep=sleep)
    allowed = kernel.allowed_cpus()
    return [
        _check_cpus_exist(cpus, kernel.online_cpus(), allowed),
        _check_governor(cpus, kernel),
        _check_boost(kernel),
        _check_load(cpus, busy),
        _check_smt(cpus, kernel, busy),
        _check_cgroup(cpus, kernel),
        _check_isolated(cpus, kernel),
        _check_aslr(kernel),
    ]
