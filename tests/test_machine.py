"""bench.machine: CPU lists, the /sys and /proc reader, machine id, metadata, and system checks on fake trees."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bench.machine import (
    CpuTimes,
    Kernel,
    collect_machine_metadata,
    format_cpu_list,
    machine_id,
    parse_cpu_list,
    system_checks,
)
from bench.machine import metadata as md

REPO = Path(__file__).resolve().parents[1]


# -------------------------------------------------------------------------------------------- CPU lists


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("0", [0]), ("0-3", [0, 1, 2, 3]), ("0-1,4,6-7", [0, 1, 4, 6, 7]), (" 2 , 1 ", [1, 2]), ("", []), ("3,3", [3])],
)
def test_parse_cpu_list(text, cpus):
    assert parse_cpu_list(text) == cpus


@pytest.mark.parametrize(
    ("text", "message"), [("a", "invalid CPU list item 'a'"), ("3-1", "end is below"), ("1-", "N-M")]
)
def test_parse_cpu_list_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        parse_cpu_list(text)


def test_format_cpu_list_round_trips():
    assert format_cpu_list([5, 0, 1, 2]) == "0-2,5"
    assert format_cpu_list([]) == ""
    assert parse_cpu_list(format_cpu_list([1, 3, 4, 5, 9])) == [1, 3, 4, 5, 9]


# ------------------------------------------------------------------------------------------- machine id


def _meta(**over):
    meta = {
        "hostname": "vm-1234",
        "cpu": {"brand": "Intel(R) Xeon(R) Platinum 8592+ CPU @ 1.90GHz", "flags": ["avx2", "avx512f", "sse4_2"]},
        "cores": {"logical": 16},
        "memory": {"total_bytes": 64 * (1 << 30) - 5 * (1 << 20)},
    }
    meta.update(over)
    return meta


def test_machine_id_is_a_slug_plus_hash_and_ignores_hostname():
    mid = machine_id(_meta())
    assert re.fullmatch(r"intel-xeon-platinum-8592-[0-9a-f]{8}", mid), mid
    assert machine_id(_meta(hostname="another-session")) == mid
    # MemTotal moves by a few MiB between kernels: rounded to GiB, it is the same machine
    assert machine_id(_meta(memory={"total_bytes": 64 * (1 << 30) - 9 * (1 << 20)})) == mid


def test_machine_id_changes_with_the_hardware():
    mid = machine_id(_meta())
    cpu = dict(_meta()["cpu"])
    cpu["flags"] = ["avx2", "sse4_2"]
    assert machine_id(_meta(cpu=cpu)) != mid
    assert machine_id(_meta(cores={"logical": 8})) != mid
    assert machine_id(_meta(memory={"total_bytes": 32 * (1 << 30)})) != mid


def test_machine_id_of_empty_metadata():
    assert re.fullmatch(r"unknown-[0-9a-f]{8}", machine_id({}))


# ------------------------------------------------------------------------------------- real metadata


@pytest.fixture(scope="module")
def metadata():
    return collect_machine_metadata()


def test_collect_machine_metadata_fields(metadata):
    for key in (
        "hostname",
        "cpu",
        "cores",
        "memory",
        "kernel",
        "os",
        "python",
        "governor",
        "boost",
        "isolated_cpus",
        "cgroup_cpu_quota",
        "load_avg",
        "effbench",
        "runtimes",
        "id",
    ):
        assert key in metadata, key
    assert metadata["id"] == machine_id(metadata)
    assert metadata["cpu"]["brand"] and isinstance(metadata["cpu"]["flags"], list)
    assert metadata["cores"]["logical"] >= 1
    assert metadata["memory"]["total_bytes"] > 0
    assert metadata["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert set(metadata["runtimes"]) >= {"torch", "onnxruntime", "openvino", "onnx", "numpy"}
    assert metadata["runtimes"]["numpy"]  # the test environment has numpy
    json.dumps(metadata, allow_nan=False)  # the document must be plain JSON


def test_git_commit_is_recorded_in_a_checkout(metadata):
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    assert re.fullmatch(r"[0-9a-f]{40}", metadata["effbench"]["git_commit"] or "")
    assert metadata["effbench"]["version"]


def test_worker_module_imports_only_the_standard_library():
    # A worker pins itself and sets thread variables after importing its module (and so bench.machine and its job
    # types): numpy or a runtime loaded by then would have started its thread pools unpinned.
    code = (
        "import sys, bench.engine.worker, bench.probes.calibrate_worker, bench.probes.layers_worker\n"
        "print([m for m in ('numpy', 'torch', 'onnxruntime', 'openvino', 'onnx', 'rich') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_unreadable_sysfs_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setattr(md, "_cpuinfo", lambda: {})  # py-cpuinfo takes a second and is not under test here
    meta = collect_machine_metadata(kernel=Kernel(sys_root=tmp_path / "sys", proc_root=tmp_path / "proc"))
    assert meta["governor"] == "unavailable"
    assert meta["boost"] == "unavailable"
    assert meta["isolated_cpus"] == "unavailable"
    assert meta["cgroup_cpu_quota"] == "unavailable"
    assert meta["aslr"] == "unavailable"
    assert meta["load_avg"] is None and meta["memory"] == {"total_bytes": None, "available_bytes": None}
    assert meta["cpu"]["flags"] == [] and meta["id"] == machine_id(meta)


def test_proc_cpuinfo_is_the_fallback_when_py_cpuinfo_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(md, "_cpuinfo", lambda: {})
    _write(
        tmp_path / "proc" / "cpuinfo",
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6430\n"
        "flags\t\t: fpu sse avx2 avx512f\n\nprocessor\t: 1\nmodel name\t: other\n",
    )
    meta = collect_machine_metadata(kernel=Kernel(sys_root=tmp_path / "sys", proc_root=tmp_path / "proc"))
    assert meta["cpu"]["brand"] == "Intel(R) Xeon(R) Gold 6430" and meta["cpu"]["vendor"] == "GenuineIntel"
    assert meta["cpu"]["flags"] == ["avx2", "avx512f", "fpu", "sse"]
    assert meta["id"].startswith("intel-xeon-gold-6430-")


# ----------------------------------------------------------------------------------- fake /sys, /proc


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _stat(busy: dict[int, tuple[int, int]]) -> str:
    """A /proc/stat with (busy, idle) jiffies per CPU."""
    lines = ["cpu  1 0 0 1 0 0 0 0 0 0"]
    lines += [f"cpu{c} {b} 0 0 {i} 0 0 0 0 0 0" for c, (b, i) in sorted(busy.items())]
    return "\n".join(lines) + "\n"


class FakeMachine:
    """A /sys and /proc tree of a 4-CPU machine (2 cores x 2 SMT threads: siblings 0,2 and 1,3)."""

    def __init__(self, root: Path) -> None:
        self.sys = root / "sys"
        self.proc = root / "proc"
        self.cgroup = root / "cgroup"
        cpu = self.sys / "devices" / "system" / "cpu"
        _write(cpu / "online", "0-3\n")
        _write(cpu / "isolated", "\n")
        for c in range(4):
            _write(cpu / f"cpu{c}" / "topology" / "thread_siblings_list", "0,2\n" if c in (0, 2) else "1,3\n")
            _write(cpu / f"cpu{c}" / "cpufreq" / "scaling_governor", "performance\n")
        _write(cpu / "intel_pstate" / "no_turbo", "1\n")
        _write(self.proc / "sys" / "kernel" / "randomize_va_space", "2\n")
        _write(self.proc / "self" / "cgroup", "0::/user.slice/session\n")
        _write(self.cgroup / "user.slice" / "session" / "cpu.max", "max 100000\n")
        self.kernel = Kernel(self.sys, self.proc, self.cgroup, allowed=frozenset(range(4)))
        self.before = {c: (100, 1000) for c in range(4)}
        self.after = {c: (100, 2000) for c in range(4)}  # idle by default

    @property
    def cpu_dir(self) -> Path:
        return self.sys / "devices" / "system" / "cpu"

    def checks(self, cpus):
        _write(self.proc / "stat", _stat(self.before))

        def sleep(_seconds: float) -> None:  # the second /proc/stat read sees `after`
            _write(self.proc / "stat", _stat(self.after))

        return {c.name: c for c in system_checks(cpus, kernel=self.kernel, sleep=sleep)}


@pytest.fixture
def fake(tmp_path):
    return FakeMachine(tmp_path)


def test_reader_on_a_fake_tree(fake):
    _write(fake.proc / "loadavg", "0.52 1.10 2.00 1/123 4567\n")
    _write(fake.proc / "meminfo", "MemTotal:  16384 kB\nMemFree:  1 kB\nMemAvailable:  8192 kB\n")
    _write(fake.proc / "stat", "cpu  9 9 9 9\ncpu0 10 0 5 80 5 0 0 3 0 0\ncpu1 x\nintr 1\n")
    _write(fake.cpu_dir / "present", "0-7\n")
    kernel = fake.kernel
    assert kernel.load_average() == [0.52, 1.1, 2.0]
    assert kernel.meminfo() == {"total_bytes": 16 << 20, "available_bytes": 8 << 20}
    # busy = all - idle - iowait; the all-CPU line and a garbled line are skipped
    assert kernel.cpu_times() == {0: CpuTimes(busy=18, steal=3, total=103)}
    assert kernel.online_cpus() == [0, 1, 2, 3] and kernel.present_cpus() == list(range(8))
    assert kernel.isolated_cpus() == [] and kernel.thread_siblings(1) == [1, 3]
    assert kernel.governors([0, 9]) == {0: "performance"} and kernel.boost_state() == "off"
    _write(fake.cpu_dir / "online", "0-3,x\n")  # an unparsable list is as good as none
    assert kernel.online_cpus() is None


def test_quiet_machine_passes_every_check(fake):
    checks = fake.checks([1])
    assert [c.name for c in checks.values()] == [
        "cpus",
        "governor",
        "boost",
        "load",
        "smt",
        "cgroup",
        "isolated",
        "aslr",
    ]
    assert {c.status for c in checks.values()} == {"ok"}, checks


def test_powersave_governor_warns(fake):
    _write(fake.cpu_dir / "cpu1" / "cpufreq" / "scaling_governor", "powersave\n")
    check = fake.checks([1])["governor"]
    assert check.status == "warn"
    assert check.message == "the CPU governor is powersave, not performance"
    assert "performance" in check.remedy and "±10%" in check.remedy


def test_missing_cpufreq_is_unknown(fake):
    for c in range(4):
        (fake.cpu_dir / f"cpu{c}" / "cpufreq" / "scaling_governor").unlink()
    (fake.cpu_dir / "intel_pstate" / "no_turbo").unlink()
    checks = fake.checks([1])
    assert checks["governor"].status == "unknown" and "VM" in checks["governor"].message
    assert checks["boost"].status == "unknown"


def test_turbo_on_warns(fake):
    _write(fake.cpu_dir / "intel_pstate" / "no_turbo", "0\n")
    check = fake.checks([1])["boost"]
    assert check.status == "warn" and "turbo boost is on" in check.message and "no_turbo" in check.remedy


def test_cpufreq_boost_switch(fake):
    (fake.cpu_dir / "intel_pstate" / "no_turbo").unlink()
    _write(fake.cpu_dir / "cpufreq" / "boost", "1\n")
    assert fake.checks([1])["boost"].status == "warn"
    _write(fake.cpu_dir / "cpufreq" / "boost", "0\n")
    assert fake.checks([1])["boost"].status == "ok"


def test_busy_cpu_warns(fake):
    fake.after[1] = (600, 1500)  # 500 busy of 1000 jiffies
    check = fake.checks([1])["load"]
    assert check.status == "warn"
    assert check.message == "CPU 1 50% busy before measuring"
    assert "idle CPU" in check.remedy


def test_busy_smt_sibling_warns(fake):
    fake.after[3] = (900, 1200)  # CPU 3 (sibling of 1) 80% busy
    checks = fake.checks([1])
    assert checks["load"].status == "ok"
    assert checks["smt"].status == "warn"
    assert checks["smt"].message.startswith("CPU 1's SMT sibling CPU 3 is 80% busy")


def test_pinning_both_siblings_warns(fake):
    check = fake.checks([1, 3])["smt"]
    assert check.status == "warn" and "CPU 1 and 3 are SMT siblings" in check.message


def test_cgroup_v2_quota_below_cpus_warns(fake):
    _write(fake.cgroup / "user.slice" / "cpu.max", "150000 100000\n")  # a parent's limit applies too
    assert fake.kernel.cgroup_cpu_quota() == 1.5
    check = fake.checks([0, 1])["cgroup"]
    assert check.status == "warn" and "1.5 CPUs, below the 2 CPU(s)" in check.message
    assert fake.checks([1])["cgroup"].status == "ok"


def test_cgroup_v1_quota(fake):
    _write(fake.proc / "self" / "cgroup", "4:cpu,cpuacct:/docker/abc\n")
    _write(fake.cgroup / "cpu" / "cpu.cfs_quota_us", "50000\n")
    _write(fake.cgroup / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert fake.kernel.cgroup_cpu_quota() == 0.5
    assert fake.checks([1])["cgroup"].status == "warn"
    _write(fake.cgroup / "cpu" / "cpu.cfs_quota_us", "-1\n")
    assert fake.kernel.cgroup_cpu_quota() == "unlimited"


def test_isolated_cpus(fake):
    _write(fake.cpu_dir / "isolated", "2-3\n")
    check = fake.checks([1])["isolated"]
    assert check.status == "warn" and "--cpus 2-3" in check.remedy
    assert fake.checks([3])["isolated"].message == "CPU 3 isolated"


def test_cpus_that_do_not_exist_or_are_not_allowed(fake):
    check = fake.checks([7])["cpus"]
    assert check.status == "warn" and check.message.startswith("CPU 7 does not exist or is offline (online: 0-3)")
    found = system_checks([2], kernel=replace(fake.kernel, allowed=frozenset({0, 1})), sleep=lambda _s: None)
    assert found[0].status == "warn" and "outside this process's affinity (0-1)" in found[0].message


def test_aslr_reported(fake):
    assert fake.checks([1])["aslr"].message.startswith("ASLR full")
    _write(fake.proc / "sys" / "kernel" / "randomize_va_space", "0\n")
    assert fake.checks([1])["aslr"].message.startswith("ASLR off")


def test_unreadable_proc_stat_is_unknown(fake):
    found = system_checks([1], kernel=fake.kernel, sleep=lambda _s: None)
    assert {c.name: c.status for c in found}["load"] == "unknown"


def test_real_system_checks_read_this_machine():
    online = Kernel().online_cpus()
    assert online, "/sys/devices/system/cpu/online is readable on Linux"
    assert set(Kernel().cpu_times()) == set(online)  # /proc/stat has a line per online CPU
    allowed = sorted(os.sched_getaffinity(0))  # the test may itself run pinned (taskset)
    found = {c.name: c for c in system_checks([allowed[-1]], load_interval_s=0.05)}
    assert found["cpus"].status == "ok" and found["load"].status != "unknown"
