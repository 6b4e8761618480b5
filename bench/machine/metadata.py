"""What a result document records about the machine (CPU, cores, memory, OS, frequency settings, versions), and
the machine id results are grouped by.

Read from /sys and /proc (through bench.machine.linux), py-cpuinfo and importlib.metadata: no runtime (torch,
onnxruntime, openvino, onnx) is imported here, since importing one changes the process that measures. Values
that cannot be read (cpufreq in most VMs) are recorded as "unavailable" rather than guessed.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

from bench import __version__
from bench.machine.linux import THIS_MACHINE, UNAVAILABLE, Kernel, format_cpu_list

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


def _cpuinfo() -> dict[str, Any]:
    """py-cpuinfo's view of the CPU (about 1 s the first time: it probes the CPU in a subprocess). {} if it fails.

    Probed once per process: the CPU does not change under a running effbench, and `ab`, `run` and the tests
    collect metadata more than once.
    """
    return dict(_probe_cpuinfo())


@functools.lru_cache(maxsize=1)
def _probe_cpuinfo() -> dict[str, Any]:
    try:
        import cpuinfo

        info = cpuinfo.get_cpu_info()
    except Exception:  # a probe failure must not stop a measurement; the fields become unavailable
        return {}
    return dict(info) if isinstance(info, dict) else {}


def _physical_cores(kernel: Kernel, cpus: list[int]) -> int | None:
    cores = set()
    for cpu in cpus:
        core = kernel.core_of(cpu)
        if core is None:
            return None
        cores.add(core)
    return len(cores) or None


def summarize_per_cpu(values: dict[int, str]) -> str:
    """One value per CPU as one string: "performance", or "0-1=performance; 2-3=powersave" when they differ."""
    if not values:
        return UNAVAILABLE
    distinct = set(values.values())
    if len(distinct) == 1:
        return distinct.pop()
    return "; ".join(
        f"{format_cpu_list([c for c, v in values.items() if v == value])}={value}" for value in sorted(distinct)
    )


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

    folder = Path(__file__).resolve().parents[1]  # bench/: "modified" means a change to effbench's code
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


def collect_machine_metadata(*, kernel: Kernel = THIS_MACHINE) -> dict[str, Any]:
    """Everything about this machine a result should carry (takes about 1 s, for py-cpuinfo)."""
    import socket

    info = _cpuinfo()
    for key, value in kernel.first_cpuinfo().items():
        if not info.get(key):
            info[key] = value
    online = kernel.online_cpus()
    logical = os.cpu_count()
    cpu_list = online if online is not None else list(range(logical or 0))
    hz_advertised = info.get("hz_advertised")
    hz_actual = info.get("hz_actual")
    uname = platform.uname()
    per_cpu_governors = kernel.governors(cpu_list)
    isolated = kernel.isolated_cpus()

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
        "caches": kernel.caches(cpu_list[0]) if cpu_list else [],
        "cpuinfo_version": info.get("cpuinfo_version_string"),
    }
    metadata: dict[str, Any] = {
        "collected": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "hostname": socket.gethostname() or None,
        "cpu": cpu,
        "cores": {
            "logical": logical,
            "physical": _physical_cores(kernel, cpu_list),
            "online": format_cpu_list(online) if online is not None else None,
            "affinity": kernel.allowed_cpus(),
        },
        "memory": kernel.meminfo(),
        "kernel": uname.release,
        "platform": platform.platform(),
        "os": {"system": uname.system, "release": uname.release, "version": uname.version, "name": _os_name()},
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable or None,
            "compiler": platform.python_compiler(),
        },
        "governor": summarize_per_cpu(per_cpu_governors),
        "governors": {str(c): g for c, g in per_cpu_governors.items()},
        "scaling_driver": kernel.scaling_driver(),
        "boost": kernel.boost_state(),
        "isolated_cpus": UNAVAILABLE if isolated is None else isolated,
        "cgroup_cpu_quota": kernel.cgroup_cpu_quota(),
        "aslr": kernel.aslr(),
        "load_avg": kernel.load_average(),
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
