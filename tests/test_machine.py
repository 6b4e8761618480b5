"""bench.machine: CPU lists, machine id, metadata, and system checks on fake /sys and /proc trees."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import machine as m
from bench.machine import (
    Check,
    cgroup_cpu_quota,
    collect_machine_metadata,
    format_cpu_list,
    machine_id,
    parse_cpu_list,
    system_checks,
)

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


def test_metadata_imports_no_runtime():
    code = (
        "import sys, bench.machine, bench.results, bench.stats, bench.commands.system\n"
        "bench.machine.collect_machine_metadata()\n"
        "bad = [name for name in ('torch', 'onnxruntime', 'openvino', 'onnx') if name in sys.modules]\n"
        "print(bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_unreadable_sysfs_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setattr(m, "_cpuinfo", lambda: {})  # py-cpuinfo takes a second and is not under test here
    meta = collect_machine_metadata(sys_root=tmp_path / "sys", proc_root=tmp_path / "proc")
    assert meta["governor"] == "unavailable"
    assert meta["boost"] == "unavailable"
    assert meta["isolated_cpus"] == "unavailable"
    assert meta["cgroup_cpu_quota"] == "unavailable"
    assert meta["aslr"] == "unavailable"
    assert meta["cpu"]["flags"] == [] and meta["id"] == machine_id(meta)


def test_proc_cpuinfo_is_the_fallback_when_py_cpuinfo_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(m, "_cpuinfo", lambda: {})
    _write(
        tmp_path / "proc" / "cpuinfo",
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6430\n"
        "flags\t\t: fpu sse avx2 avx512f\n\nprocessor\t: 1\nmodel name\t: other\n",
    )
    meta = collect_machine_metadata(sys_root=tmp_path / "sys", proc_root=tmp_path / "proc")
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
        self.before = {c: (100, 1000) for c in range(4)}
        self.after = {c: (100, 2000) for c in range(4)}  # idle by default

    @property
    def cpu_dir(self) -> Path:
        return self.sys / "devices" / "system" / "cpu"

    def checks(self, cpus):
        _write(self.proc / "stat", _stat(self.before))

        def sleep(_seconds: float) -> None:  # the second /proc/stat read sees `after`
            _write(self.proc / "stat", _stat(self.after))

        found = system_checks(
            cpus,
            sys_root=self.sys,
            proc_root=self.proc,
            cgroup_root=self.cgroup,
            affinity={0, 1, 2, 3},
            sleep=sleep,
        )
        return {c.name: c for c in found}


@pytest.fixture
def fake(tmp_path):
    return FakeMachine(tmp_path)


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
    assert all(isinstance(c, Check) for c in checks.values())


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
    assert cgroup_cpu_quota(fake.proc, fake.cgroup) == 1.5
    check = fake.checks([0, 1])["cgroup"]
    assert check.status == "warn" and "1.5 CPUs, below the 2 CPU(s)" in check.message
    assert fake.checks([1])["cgroup"].status == "ok"


def test_cgroup_v1_quota(fake):
    _write(fake.proc / "self" / "cgroup", "4:cpu,cpuacct:/docker/abc\n")
    _write(fake.cgroup / "cpu" / "cpu.cfs_quota_us", "50000\n")
    _write(fake.cgroup / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert cgroup_cpu_quota(fake.proc, fake.cgroup) == 0.5
    assert fake.checks([1])["cgroup"].status == "warn"
    _write(fake.cgroup / "cpu" / "cpu.cfs_quota_us", "-1\n")
    assert cgroup_cpu_quota(fake.proc, fake.cgroup) == "unlimited"


def test_isolated_cpus(fake):
    _write(fake.cpu_dir / "isolated", "2-3\n")
    check = fake.checks([1])["isolated"]
    assert check.status == "warn" and "--cpus 2-3" in check.remedy
    assert fake.checks([3])["isolated"].message == "CPU 3 isolated"


def test_cpus_that_do_not_exist_or_are_not_allowed(fake):
    check = fake.checks([7])["cpus"]
    assert check.status == "warn" and check.message.startswith("CPU 7 does not exist or is offline (online: 0-3)")
    found = system_checks(
        [2], sys_root=fake.sys, proc_root=fake.proc, affinity={0, 1}, sleep=lambda _s: None, cgroup_root=fake.cgroup
    )
    assert found[0].status == "warn" and "outside this process's affinity (0-1)" in found[0].message


def test_aslr_reported(fake):
    assert fake.checks([1])["aslr"].message.startswith("ASLR full")
    _write(fake.proc / "sys" / "kernel" / "randomize_va_space", "0\n")
    assert fake.checks([1])["aslr"].message.startswith("ASLR off")


def test_unreadable_proc_stat_is_unknown(fake):
    found = system_checks(
        [1], sys_root=fake.sys, proc_root=fake.proc, affinity={1}, sleep=lambda _s: None, cgroup_root=fake.cgroup
    )
    assert {c.name: c.status for c in found}["load"] == "unknown"


def test_check_to_dict():
    assert Check("x", "warn", "msg", "fix").to_dict() == {
        "name": "x",
        "status": "warn",
        "message": "msg",
        "remedy": "fix",
    }


def test_real_system_checks_run(metadata):
    found = system_checks([0], load_interval_s=0.05)
    assert {c.status for c in found} <= {"ok", "warn", "unknown"}
    assert m.cpu_busy_fractions(0.05)  # /proc/stat is readable on Linux
