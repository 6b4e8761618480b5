"""Machine metadata for result documents, and system checks that say what would make a measurement noisy.

Everything is read from /proc, /sys, py-cpuinfo and importlib.metadata: no runtime (torch, onnxruntime,
openvino, onnx) is imported here, since importing one changes the process that measures. Values that cannot be
read (cpufreq in most VMs) are recorded as "unavailable" rather than guessed.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bench import __version__

UNAVAILABLE = "unavailable"
SYS_ROOT = Path("/sys")
PROC_ROOT = Path("/proc")

# Distribution names to look for, per runtime (the first one installed wins).
RUNTIME_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "onnxruntime": ("onnxruntime", "onnxruntime-openvino", "onnxruntime-gpu", "ort-nightly"),
    "openvino": ("openvino",),
    "onnx": ("onnx",),
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "pyperf": ("pyperf",),
}

# CPU flags that decide which kernels the runtimes pick for these CNNs.
FLAGS_OF_INTEREST = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile")

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


# ----------------------------------------------------------------------------------------------- helpers


def _read_text(path: Path) -> str | None:
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
            raise ValueError(f"invalid CPU list item {part!r} in {text!r}: expected N or N-M, e.g. 1 or 0-3,6")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ValueError(f"invalid CPU range {part!r} in {text!r}: the end is below the start")
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


def _cpu_dir(sys_root: Path) -> Path:
    return sys_root / "devices" / "system" / "cpu"


def _sys_cpu_list(sys_root: Path, name: str) -> list[int] | None:
    """A CPU list file under /sys/devices/system/cpu, parsed; None if it is missing or unreadable."""
    text = _read_text(_cpu_dir(sys_root) / name)
    if text is None:
        return None
    try:
        return parse_cpu_list(text)
    except ValueError:
        return None


def online_cpus(sys_root: Path = SYS_ROOT) -> list[int] | None:
    """CPUs the kernel has online, or None if /sys does not say."""
    return _sys_cpu_list(sys_root, "online")


def _size_bytes(text: str) -> int | None:
    match = re.fullmatch(r"(\d+)\s*([KMG]?)", text.strip())
    if not match:
        return None
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[match.group(2)]
    return int(match.group(1)) * scale


# ------------------------------------------------------------------------------------------- collectors


def _cpuinfo() -> dict[str, Any]:
    """py-cpuinfo's view of the CPU (about 1 s: it probes the CPU). {} if it fails."""
    try:
        import cpuinfo

        info = cpuinfo.get_cpu_info()
    except Exception:  # a probe failure must not stop a measurement; the fields become unavailable
        return {}
    return dict(info) if isinstance(info, dict) else {}


def _proc_cpuinfo(proc_root: Path) -> dict[str, Any]:
    """Brand, vendor and flags of the first CPU in /proc/cpuinfo: the fallback when py-cpuinfo fails, so the
    machine id does not change with py-cpuinfo's mood."""
    found: dict[str, Any] = {}
    for line in (_read_text(proc_root / "cpuinfo") or "").splitlines():
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


def _caches(sys_root: Path, cpu: int) -> list[dict[str, Any]]:
    """Per-core cache description from sysfs (py-cpuinfo sums some sizes over cores, this does not)."""
    caches = []
    base = _cpu_dir(sys_root) / f"cpu{cpu}" / "cache"
    try:
        indexes = sorted(p for p in base.iterdir() if p.name.startswith("index"))
    except OSError:
        return []
    for index in indexes:
        size = _read_text(index / "size")
        level = _read_text(index / "level")
        caches.append(
            {
                "level": int(level) if level and level.isdigit() else None,
                "type": _read_text(index / "type"),
                "size_bytes": _size_bytes(size) if size else None,
                "shared_cpu_list": _read_text(index / "shared_cpu_list"),
            }
        )
    return caches


def _physical_cores(sys_root: Path, cpus: Sequence[int]) -> int | None:
    cores = set()
    for cpu in cpus:
        topo = _cpu_dir(sys_root) / f"cpu{cpu}" / "topology"
        package = _read_text(topo / "physical_package_id")
        core = _read_text(topo / "core_id")
        if package is None or core is None:
            return None
        cores.add((package, core))
    return len(cores) or None


def _meminfo(proc_root: Path) -> dict[str, int | None]:
    values: dict[str, int | None] = {"total_bytes": None, "available_bytes": None}
    text = _read_text(proc_root / "meminfo") or ""
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if not fields or not fields[0].isdigit():
            continue
        if key == "MemTotal":
            values["total_bytes"] = int(fields[0]) * 1024
        elif key == "MemAvailable":
            values["available_bytes"] = int(fields[0]) * 1024
    return values


def governors(sys_root: Path = SYS_ROOT, cpus: Sequence[int] | None = None) -> dict[int, str]:
    """scaling_governor per CPU, for the CPUs where cpufreq exposes one."""
    cpus = cpus if cpus is not None else (online_cpus(sys_root) or [])
    found = {}
    for cpu in cpus:
        value = _read_text(_cpu_dir(sys_root) / f"cpu{cpu}" / "cpufreq" / "scaling_governor")
        if value:
            found[cpu] = value
    return found


def _summarize_per_cpu(values: dict[int, str]) -> str:
    if not values:
        return UNAVAILABLE
    distinct = set(values.values())
    if len(distinct) == 1:
        return distinct.pop()
    return "; ".join(
        f"{format_cpu_list([c for c, v in values.items() if v == value])}={value}" for value in sorted(distinct)
    )


def boost_state(sys_root: Path = SYS_ROOT) -> str:
    """'on' | 'off' | 'unavailable': turbo/boost as intel_pstate or the cpufreq boost switch reports it."""
    no_turbo = _read_text(_cpu_dir(sys_root) / "intel_pstate" / "no_turbo")
    if no_turbo in ("0", "1"):
        return "on" if no_turbo == "0" else "off"
    boost = _read_text(_cpu_dir(sys_root) / "cpufreq" / "boost")
    if boost in ("0", "1"):
        return "on" if boost == "1" else "off"
    return UNAVAILABLE


def isolated_cpus(sys_root: Path = SYS_ROOT) -> list[int] | None:
    """CPUs isolated from the scheduler (isolcpus=), [] if none, None if /sys does not say."""
    return _sys_cpu_list(sys_root, "isolated")


def cgroup_cpu_quota(proc_root: Path = PROC_ROOT, cgroup_root: Path = Path("/sys/fs/cgroup")) -> float | str:
    """CPU bandwidth limit of this process's cgroup in CPUs (quota / period), "unlimited" or "unavailable".

    cgroup v2: cpu.max of the cgroup and each parent (the smallest applies). v1: cpu.cfs_quota_us /
    cpu.cfs_period_us of the cpu controller's cgroup, or of the root as seen inside a container.
    """
    text = _read_text(proc_root / "self" / "cgroup")
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
                    fields = (_read_text(cgroup_root.joinpath(*names[:depth], "cpu.max")) or "").split()
                    if len(fields) == 2:
                        readable = True
                        if fields[0] != "max":
                            limits.append(int(fields[0]) / int(fields[1]))
            elif "cpu" in controllers.split(","):
                for base in (cgroup_root.joinpath("cpu", *names), cgroup_root / "cpu"):
                    quota = _read_text(base / "cpu.cfs_quota_us")
                    period = _read_text(base / "cpu.cfs_period_us")
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


def _aslr(proc_root: Path) -> str:
    value = _read_text(proc_root / "sys" / "kernel" / "randomize_va_space")
    return {"0": "off", "1": "conservative", "2": "full"}.get(value or "", UNAVAILABLE)


def _os_name() -> str | None:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME")
    except OSError:
        return None


def runtime_versions() -> dict[str, str | None]:
    """Installed versions of the runtimes and numeric libraries, from package metadata (nothing imported)."""
    import importlib.metadata  # ~40 ms: only when metadata is collected, not for `effbench --help`

    versions: dict[str, str | None] = {}
    for name, distributions in RUNTIME_DISTRIBUTIONS.items():
        versions[name] = None
        for dist in distributions:
            try:
                versions[name] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return versions


def effbench_version_info() -> dict[str, Any]:
    """effbench's version, and the git commit of its checkout (None when not installed from a git checkout)."""
    import subprocess

    folder = Path(__file__).resolve().parent
    commit: str | None = None
    dirty: bool | None = None
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5, check=False
        )
        if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", done.stdout.strip()):
            commit = done.stdout.strip()
            status = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"version": __version__, "git_commit": commit, "git_dirty": dirty}


def _pyperf_metadata() -> dict[str, Any]:
    """pyperf's own system metadata, as a convenience copy: it is private API, so any failure gives {}."""
    try:
        from pyperf._collect_metadata import collect_metadata

        found = collect_metadata(process=False)
    except Exception:  # private API: a change in pyperf must not break a measurement
        return {}
    return {k: v for k, v in found.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}


def collect_machine_metadata(*, sys_root: Path = SYS_ROOT, proc_root: Path = PROC_ROOT) -> dict[str, Any]:
    """Everything about this machine a result should carry (takes about 1 s, for py-cpuinfo)."""
    import socket

    info = _cpuinfo()
    for key, value in _proc_cpuinfo(proc_root).items():
        if not info.get(key):
            info[key] = value
    online = online_cpus(sys_root)
    logical = os.cpu_count()
    cpu_list = online if online is not None else list(range(logical or 0))
    try:
        affinity: list[int] | None = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    hz_advertised = info.get("hz_advertised")
    hz_actual = info.get("hz_actual")
    uname = platform.uname()
    per_cpu_governors = governors(sys_root, cpu_list)
    isolated = isolated_cpus(sys_root)
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None

    cpu = {
        "brand": info.get("brand_raw") or platform.processor() or None,
        "vendor": info.get("vendor_id_raw"),
        "arch": info.get("arch_string_raw") or uname.machine,
        "family": info.get("family"),
        "model": info.get("model"),
        "stepping": info.get("stepping"),
        "flags": sorted(info.get("flags", [])),
        "hz_advertised": hz_advertised[0] if isinstance(hz_advertised, (list, tuple)) and hz_advertised else None,
        "hz_actual": hz_actual[0] if isinstance(hz_actual, (list, tuple)) and hz_actual else None,
        # py-cpuinfo's sizes; for L1/L2 some versions report the sum over cores. caches[] below is per core.
        "l1_data_cache_size": info.get("l1_data_cache_size"),
        "l1_instruction_cache_size": info.get("l1_instruction_cache_size"),
        "l2_cache_size": info.get("l2_cache_size"),
        "l3_cache_size": info.get("l3_cache_size"),
        "caches": _caches(sys_root, cpu_list[0]) if cpu_list else [],
        "cpuinfo_version": info.get("cpuinfo_version_string"),
    }
    metadata: dict[str, Any] = {
        "collected": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "hostname": socket.gethostname() or None,
        "cpu": cpu,
        "cores": {
            "logical": logical,
            "physical": _physical_cores(sys_root, cpu_list),
            "online": format_cpu_list(online) if online is not None else None,
            "affinity": affinity,
        },
        "memory": _meminfo(proc_root),
        "kernel": uname.release,
        "platform": platform.platform(),
        "os": {"system": uname.system, "release": uname.release, "version": uname.version, "name": _os_name()},
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable or None,
            "compiler": platform.python_compiler(),
        },
        "governor": _summarize_per_cpu(per_cpu_governors),
        "governors": {str(c): g for c, g in per_cpu_governors.items()},
        "scaling_driver": _read_text(_cpu_dir(sys_root) / "cpu0" / "cpufreq" / "scaling_driver") or UNAVAILABLE,
        "boost": boost_state(sys_root),
        "isolated_cpus": UNAVAILABLE if isolated is None else isolated,
        "cgroup_cpu_quota": cgroup_cpu_quota(proc_root),
        "aslr": _aslr(proc_root),
        "load_avg": load,
        "effbench": effbench_version_info(),
        "runtimes": runtime_versions(),
        "pyperf": _pyperf_metadata(),
    }
    metadata["id"] = machine_id(metadata)
    return metadata


def _slug(text: str) -> str:
    text = re.sub(r"\((?:r|tm|c)\)", " ", text.lower())
    text = re.sub(r"\b(?:cpu|processor|with|radeon graphics)\b", " ", text)
    text = re.sub(r"@.*$", " ", text)  # "@ 2.10GHz": the nominal clock is in the hash's brand already
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return slug[:40].strip("-") or "unknown-cpu"


def machine_id(metadata: dict[str, Any]) -> str:
    """Stable id for grouping results per machine: '<cpu-slug>-<8 hex>'.

    Hashes the CPU brand, logical core count, memory (rounded to GiB: MemTotal moves by a few MiB between
    kernels) and CPU flags; not the hostname, which changes between sessions on the project's machines.
    """
    import hashlib

    cpu = metadata.get("cpu") or {}
    brand = str(cpu.get("brand") or "unknown")
    cores = (metadata.get("cores") or {}).get("logical")
    total = (metadata.get("memory") or {}).get("total_bytes")
    memory_gib = round(total / (1 << 30)) if isinstance(total, (int, float)) else None
    flags = sorted(str(f) for f in cpu.get("flags") or [])
    key = json.dumps([brand, cores, memory_gib, flags], separators=(",", ":"))
    return f"{_slug(brand)}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


# ------------------------------------------------------------------------------------------------ checks


def _proc_stat_times(proc_root: Path) -> dict[int, tuple[int, int]]:
    """(busy, total) jiffies per CPU from /proc/stat."""
    times = {}
    for line in (_read_text(proc_root / "stat") or "").splitlines():
        match = re.match(r"cpu(\d+)\s+(.*)", line)
        if not match:
            continue
        try:
            fields = [int(x) for x in match.group(2).split()]
        except ValueError:
            continue
        # user nice system idle iowait irq softirq steal (guest time is already counted in user)
        head = (fields + [0] * 8)[:8]
        idle = head[3] + head[4]
        total = sum(head)
        times[int(match.group(1))] = (total - idle, total)
    return times


def cpu_busy_fractions(
    interval_s: float = 0.2,
    *,
    proc_root: Path = PROC_ROOT,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[int, float]:
    """Fraction of time each CPU was busy (not idle or iowait) over `interval_s`, from two /proc/stat reads."""
    before = _proc_stat_times(proc_root)
    sleep(interval_s)
    after = _proc_stat_times(proc_root)
    busy = {}
    for cpu, (b1, t1) in after.items():
        if cpu not in before:
            continue
        b0, t0 = before[cpu]
        if t1 > t0:
            busy[cpu] = min(max((b1 - b0) / (t1 - t0), 0.0), 1.0)
    return busy


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


def _check_governor(cpus: Sequence[int], sys_root: Path) -> Check:
    found = governors(sys_root, cpus)
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
            f"the CPU governor is {_summarize_per_cpu(slow)}, not performance",
            "set it to performance (sudo cpupower frequency-set -g performance, or python -m pyperf system tune) "
            "or expect ±10%",
        )
    return Check("governor", "ok", f"governor performance on CPU {format_cpu_list(found)}")


def _check_boost(sys_root: Path) -> Check:
    state = boost_state(sys_root)
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


def _check_cgroup(cpus: Sequence[int], proc_root: Path, cgroup_root: Path) -> Check:
    quota = cgroup_cpu_quota(proc_root, cgroup_root)
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


def _check_aslr(proc_root: Path) -> Check:
    state = _aslr(proc_root)
    if state == UNAVAILABLE:
        return Check("aslr", "unknown", "cannot read kernel.randomize_va_space", "")
    return Check(
        "aslr",
        "ok",
        f"ASLR {state}: memory layout changes between processes, which is why effbench measures in several",
    )


def _check_isolated(cpus: Sequence[int], sys_root: Path) -> Check:
    isolated = isolated_cpus(sys_root)
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


def _check_smt(cpus: Sequence[int], sys_root: Path, busy: dict[int, float]) -> Check:
    problems = []
    shared = []
    readable = False
    any_sibling = False
    for cpu in cpus:
        text = _read_text(_cpu_dir(sys_root) / f"cpu{cpu}" / "topology" / "thread_siblings_list")
        if text is None:
            continue
        readable = True
        try:
            siblings = [s for s in parse_cpu_list(text) if s != cpu]
        except ValueError:
            continue
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
    sys_root: Path = SYS_ROOT,
    proc_root: Path = PROC_ROOT,
    cgroup_root: Path = Path("/sys/fs/cgroup"),
    affinity: Collection[int] | None = None,
    load_interval_s: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Check]:
    """What on this machine may disturb a measurement pinned to `cpus` (after pyperf's `system show`).

    Reads /proc/stat twice, `load_interval_s` apart, to measure how busy the CPUs are. `affinity` defaults
    to this process's CPU affinity.
    """
    if affinity is None:
        with contextlib.suppress(AttributeError, OSError):
            affinity = os.sched_getaffinity(0)
    cpus = sorted(set(cpus))
    busy = cpu_busy_fractions(load_interval_s, proc_root=proc_root, sleep=sleep)
    return [
        _check_cpus_exist(cpus, online_cpus(sys_root), affinity),
        _check_governor(cpus, sys_root),
        _check_boost(sys_root),
        _check_load(cpus, busy),
        _check_smt(cpus, sys_root, busy),
        _check_cgroup(cpus, proc_root, cgroup_root),
        _check_isolated(cpus, sys_root),
        _check_aslr(proc_root),
    ]
