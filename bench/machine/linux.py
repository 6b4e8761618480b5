"""The one reader of what Linux says about this machine under /sys and /proc.

Standard library only: the worker reads /proc/stat through it before numpy or a runtime starts its thread
pools. Every read tolerates a missing or odd file (most VMs hide cpufreq; containers hide cgroup files) and
answers None, {} or "unavailable" rather than a guess. `Kernel` holds the roots, so tests point it at a fake tree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

UNAVAILABLE = "unavailable"


def read_text(path: Path) -> str | None:
    """The stripped text of a kernel file, or None if it is missing or unreadable."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def parse_cpu_list(text: str) -> list[int]:
    """CPUs of a Linux CPU list ("0-3,8,10-11"); "" is no CPU. ValueError on anything else."""
    cpus: set[int] = set()
    text = text.strip()
    if not text:
        return []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ValueError(f"invalid CPU list item {part!r}: expected N or N-M, e.g. 1 or 0-3,6")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ValueError(f"invalid CPU range {part!r}: the end is below the start")
        cpus.update(range(first, last + 1))
    return sorted(cpus)


def format_cpu_list(cpus: Collection[int]) -> str:
    """Shortest Linux CPU list for the CPUs ([0, 1, 2, 5] -> "0-2,5")."""
    ordered = sorted(set(cpus))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def _cpu_list_or_none(text: str | None) -> list[int] | None:
    """A CPU list read from a kernel file; None if the file was unreadable or the list garbled."""
    if text is None:
        return None
    try:
        return parse_cpu_list(text)
    except ValueError:
        return None


def _size_bytes(text: str) -> int | None:
    match = re.fullmatch(r"(\d+)\s*([KMG]?)", text.strip())
    if not match:
        return None
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[match.group(2)]
    return int(match.group(1)) * scale


class CpuTimes(NamedTuple):
    """Jiffies one CPU has spent since boot: busy (not idle or iowait), stolen by the hypervisor, and in all."""

    busy: int
    steal: int
    total: int


def parse_proc_stat(text: str) -> dict[int, CpuTimes]:
    """CpuTimes per CPU from the text of /proc/stat (the all-CPU "cpu" line and other lines are skipped)."""
    times: dict[int, CpuTimes] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        try:
            # user nice system idle iowait irq softirq steal (guest time is already counted in user)
            fields = ([int(x) for x in rest.split()] + [0] * 8)[:8]
            cpu = int(name[3:])
        except ValueError:
            continue
        total = sum(fields)
        times[cpu] = CpuTimes(busy=total - fields[3] - fields[4], steal=fields[7], total=total)
    return times


def read_cpu_times(path: str | Path = "/proc/stat") -> dict[int, CpuTimes]:
    """CpuTimes per CPU from a /proc/stat file; {} where it is unreadable."""
    return parse_proc_stat(read_text(Path(path)) or "")


@dataclass(frozen=True)
class Kernel:
    """Where the kernel's files are: the real /sys and /proc by default, a fake tree in tests.

    `allowed` stands in for this process's CPU affinity (a system call, not a file); None asks the kernel.
    """

    sys_root: Path = Path("/sys")
    proc_root: Path = Path("/proc")
    cgroup_root: Path = Path("/sys/fs/cgroup")
    allowed: frozenset[int] | None = None

    # ------------------------------------------------------------------------------------- CPU sets

    @property
    def cpu_dir(self) -> Path:
        return self.sys_root / "devices" / "system" / "cpu"

    def cpu_list(self, name: str) -> list[int] | None:
        """A CPU list file under devices/system/cpu ("online", "present", "isolated"...); None if unreadable."""
        return _cpu_list_or_none(read_text(self.cpu_dir / name))

    def online_cpus(self) -> list[int] | None:
        """CPUs the kernel has online, or None if /sys does not say."""
        return self.cpu_list("online")

    def present_cpus(self) -> list[int] | None:
        """CPUs physically there, online or not, or None if /sys does not say."""
        return self.cpu_list("present")

    def isolated_cpus(self) -> list[int] | None:
        """CPUs isolated from the scheduler (isolcpus=), [] if none, None if /sys does not say."""
        return self.cpu_list("isolated")

    def allowed_cpus(self) -> list[int] | None:
        """The CPUs this process may run on (its affinity: taskset, cpuset), or None where that is unknown."""
        if self.allowed is not None:
            return sorted(self.allowed)
        try:
            return sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            return None

    # -------------------------------------------------------------------------------- per-CPU files

    def cpu_file(self, cpu: int, *parts: str) -> str | None:
        return read_text(self.cpu_dir.joinpath(f"cpu{cpu}", *parts))

    def core_of(self, cpu: int) -> tuple[int, int] | None:
        """(package id, core id) of a CPU: CPUs that share one are SMT siblings. None if /sys does not say."""
        package = self.cpu_file(cpu, "topology", "physical_package_id")
        core = self.cpu_file(cpu, "topology", "core_id")
        try:
            return (int(package), int(core)) if package is not None and core is not None else None
        except ValueError:
            return None

    def thread_siblings(self, cpu: int) -> list[int] | None:
        """The CPUs sharing `cpu`'s core, itself included; None if /sys does not say."""
        return _cpu_list_or_none(self.cpu_file(cpu, "topology", "thread_siblings_list"))

    def caches(self, cpu: int) -> list[dict[str, Any]]:
        """Per-core cache description of one CPU (py-cpuinfo sums some sizes over cores, this does not)."""
        base = self.cpu_dir / f"cpu{cpu}" / "cache"
        try:
            indexes = sorted(p for p in base.iterdir() if p.name.startswith("index"))
        except OSError:
            return []
        caches = []
        for index in indexes:
            size = read_text(index / "size")
            level = read_text(index / "level")
            caches.append(
                {
                    "level": int(level) if level and level.isdigit() else None,
                    "type": read_text(index / "type"),
                    "size_bytes": _size_bytes(size) if size else None,
                    "shared_cpu_list": read_text(index / "shared_cpu_list"),
                }
            )
        return caches

    # ---------------------------------------------------------------------------------- frequency

    def governors(self, cpus: Sequence[int] | None = None) -> dict[int, str]:
        """scaling_governor per CPU (all online ones by default), for the CPUs where cpufreq exposes one."""
        cpus = cpus if cpus is not None else (self.online_cpus() or [])
        found = {}
        for cpu in cpus:
            value = self.cpu_file(cpu, "cpufreq", "scaling_governor")
            if value:
                found[cpu] = value
        return found

    def scaling_driver(self) -> str:
        return self.cpu_file(0, "cpufreq", "scaling_driver") or UNAVAILABLE

    def boost_state(self) -> str:
        """'on' | 'off' | 'unavailable': turbo/boost as intel_pstate or the cpufreq boost switch reports it."""
        no_turbo = read_text(self.cpu_dir / "intel_pstate" / "no_turbo")
        if no_turbo in ("0", "1"):
            return "on" if no_turbo == "0" else "off"
        boost = read_text(self.cpu_dir / "cpufreq" / "boost")
        if boost in ("0", "1"):
            return "on" if boost == "1" else "off"
        return UNAVAILABLE

    # --------------------------------------------------------------------------------------- /proc

    def cpu_times(self) -> dict[int, CpuTimes]:
        """CpuTimes per CPU from /proc/stat; {} where it is unreadable."""
        return read_cpu_times(self.proc_root / "stat")

    def first_cpuinfo(self) -> dict[str, Any]:
        """Brand, vendor and flags of the first CPU in /proc/cpuinfo, under py-cpuinfo's key names."""
        found: dict[str, Any] = {}
        for line in (read_text(self.proc_root / "cpuinfo") or "").splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if not key and found:
                break  # end of the first CPU's block
            if key == "model name":
                found.setdefault("brand_raw", value)
            elif key == "vendor_id":
                found.setdefault("vendor_id_raw", value)
            elif key == "flags":
                found.setdefault("flags", value.split())
        return found

    def meminfo(self) -> dict[str, int | None]:
        """MemTotal and MemAvailable in bytes (None where /proc/meminfo does not say)."""
        values: dict[str, int | None] = {"total_bytes": None, "available_bytes": None}
        for line in (read_text(self.proc_root / "meminfo") or "").splitlines():
            key, _, rest = line.partition(":")
            fields = rest.split()
            if not fields or not fields[0].isdigit():
                continue
            if key == "MemTotal":
                values["total_bytes"] = int(fields[0]) * 1024
            elif key == "MemAvailable":
                values["available_bytes"] = int(fields[0]) * 1024
        return values

    def load_average(self) -> list[float] | None:
        """The 1, 5 and 15 minute load averages, or None if /proc/loadavg is unreadable."""
        fields = (read_text(self.proc_root / "loadavg") or "").split()[:3]
        try:
            return [round(float(x), 2) for x in fields] if len(fields) == 3 else None
        except ValueError:
            return None

    def aslr(self) -> str:
        value = read_text(self.proc_root / "sys" / "kernel" / "randomize_va_space")
        return {"0": "off", "1": "conservative", "2": "full"}.get(value or "", UNAVAILABLE)

    def os_thread_count(self) -> int:
        """Threads of this process (-1 if /proc does not say)."""
        try:
            return len(os.listdir(self.proc_root / "self" / "task"))
        except OSError:
            return -1

    def cgroup_cpu_quota(self) -> float | str:
        """CPU bandwidth limit of this process's cgroup in CPUs (quota / period), "unlimited" or "unavailable".

        cgroup v2: cpu.max of the cgroup and each parent (the smallest applies). v1: cpu.cfs_quota_us /
        cpu.cfs_period_us of the cpu controller's cgroup, or of the root as seen inside a container.
        """
        text = read_text(self.proc_root / "self" / "cgroup")
        if text is None:
            return UNAVAILABLE
        limits: list[float] = []
        readable = False
        for line in text.splitlines():
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            hierarchy, controllers, path = parts
            names = [n for n in path.strip("/").split("/") if n]
            try:
                if hierarchy == "0" and not controllers:
                    for depth in range(len(names), -1, -1):
                        fields = (read_text(self.cgroup_root.joinpath(*names[:depth], "cpu.max")) or "").split()
                        if len(fields) == 2:
                            readable = True
                            if fields[0] != "max":
                                limits.append(int(fields[0]) / int(fields[1]))
                elif "cpu" in controllers.split(","):
                    for base in (self.cgroup_root.joinpath("cpu", *names), self.cgroup_root / "cpu"):
                        quota = read_text(base / "cpu.cfs_quota_us")
                        period = read_text(base / "cpu.cfs_period_us")
                        if quota and period:
                            readable = True
                            if int(quota) > 0:
                                limits.append(int(quota) / int(period))
                            break
            except (ValueError, ZeroDivisionError):
                continue
        if limits:
            return min(limits)
        return "unlimited" if readable else UNAVAILABLE


# The machine effbench runs on.
THIS_MACHINE = Kernel()
