"""`effbench system`: the machine table, the checks, --json, and --cpus validation."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bench.cli import main
from bench.commands import system as system_cmd
from bench.config import Config
from bench.machine import Check, CpuTopology, Kernel, read_topology, resolve_cpus, system_checks

# Present 0-3; CPU 3 offline; this process allowed on 0-1 only.
FAKE_TOPOLOGY = CpuTopology(
    online=frozenset({0, 1, 2}),
    allowed=frozenset({0, 1}),
    isolated=frozenset(),
    core_of={0: (0, 0), 1: (0, 1), 2: (0, 2)},
    present=frozenset(range(4)),
)

FAKE_MACHINE: dict[str, Any] = {
    "id": "intel-xeon-0123abcd",
    "hostname": "vm",
    "cpu": {
        "brand": "Intel(R) Xeon(R) Processor",
        "vendor": "GenuineIntel",
        "family": 6,
        "model": 207,
        "stepping": 2,
        "flags": ["avx2", "avx512f", "avx512_bf16"],
        "hz_advertised": 2_100_000_000,
        "hz_actual": 2_100_000_000,
        "caches": [
            {"level": 1, "type": "Data", "size_bytes": 49152, "shared_cpu_list": "0"},
            {"level": 3, "type": "Unified", "size_bytes": 300 << 20, "shared_cpu_list": "0-1"},
        ],
    },
    "cores": {"logical": 2, "physical": 2, "online": "0-1", "affinity": [0, 1]},
    "memory": {"total_bytes": 24 << 30, "available_bytes": 20 << 30},
    "kernel": "6.1.0",
    "os": {"name": "Debian GNU/Linux 12 (bookworm)"},
    "python": {"version": "3.11.7", "implementation": "CPython", "executable": "/usr/bin/python3"},
    "governor": "unavailable",
    "boost": "unavailable",
    "isolated_cpus": [],
    "cgroup_cpu_quota": "unlimited",
    "aslr": "full",
    "load_avg": [0.1, 0.2, 0.3],
    "effbench": {"version": "0.1.0", "git_commit": "b" * 40, "git_dirty": True},
    "runtimes": {"onnxruntime": "1.32.0", "torch": None},
}


# A project outside effbench's checkout with no bench.toml: the defaults (bench.config.load_config).
FAKE_CONFIG = Config(
    root=Path("/srv/project"),
    cache_dir=Path("/home/me/.cache/effbench"),
    results_dir=Path("/srv/project/results"),
    history_db=Path("/srv/project/results/history.sqlite"),
    cache_origin="the user cache folder ($XDG_CACHE_HOME/effbench, else ~/.cache/effbench)",
)


@pytest.fixture
def fake_system(monkeypatch):
    """Replace the slow, machine-dependent parts; returns the CPUs the checks were asked about."""
    asked: list[list[int]] = []

    def checks(cpus):
        asked.append(list(cpus))
        return [
            Check("load", "warn", "CPU 1 50% busy before measuring", "close other programs"),
            Check("governor", "unknown", "CPU frequency scaling is not visible", "compare on the same machine"),
            Check("aslr", "ok", "ASLR full [randomized]"),
        ]

    monkeypatch.setattr(system_cmd, "collect_machine_metadata", lambda: FAKE_MACHINE)
    monkeypatch.setattr(system_cmd, "system_checks", checks)
    monkeypatch.setattr(system_cmd, "read_topology", lambda: FAKE_TOPOLOGY)
    monkeypatch.setattr(system_cmd, "command_config", lambda args: FAKE_CONFIG)
    return asked


def test_system_table(fake_system, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["system"]) == 0
    out = capsys.readouterr().out
    for text in (
        "intel-xeon-0123abcd",
        "Intel(R) Xeon(R) Processor",
        "GenuineIntel / 6 / 207 / 2",
        "avx2 yes",
        "avx512_bf16 yes",
        "amx_bf16 no",
        "L1d 48 KiB",
        "L3 300 MiB (shared by 0-1)",
        "24 GiB total",
        "onnxruntime 1.32.0, torch not installed",
        "git bbbbbbbbbbbb, modified",
        "WARN",
        "CPU 1 50% busy before measuring",
        "close other programs",
        "ASLR full [randomized]",  # printed as text, not taken as rich markup
        "1 warning(s)",
    ):
        assert text in out, text
    assert fake_system == [[1]]  # default: the highest-numbered allowed CPU, as for `effbench latency`


# The other branches of the machine rows: isolated CPUs, a numeric quota, per-CPU governors, no git checkout.
OTHER_MACHINE: dict[str, Any] = {
    **FAKE_MACHINE,
    "cpu": {**FAKE_MACHINE["cpu"], "hz_actual": None, "caches": []},
    "cores": {"logical": 4, "physical": None, "online": "0-3", "affinity": None},
    "governor": "0-1=performance; 2-3=powersave",
    "boost": "on",
    "isolated_cpus": [2, 3],
    "cgroup_cpu_quota": 1.5,
    "load_avg": None,
    "effbench": {"version": "0.1.0", "git_commit": None, "git_dirty": None},
}
GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize(("machine", "golden"), [(FAKE_MACHINE, "system.txt"), (OTHER_MACHINE, "system-other.txt")])
def test_system_output_is_unchanged(fake_system, capsys, monkeypatch, machine, golden):
    """The whole `effbench system` text for a fixed machine at 120 columns; regenerate with EFFBENCH_REGOLD=1."""
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setattr(system_cmd, "collect_machine_metadata", lambda: machine)
    assert main(["system", "--cpus", "1"]) == 0
    out = capsys.readouterr().out
    if os.environ.get("EFFBENCH_REGOLD"):
        GOLDEN.mkdir(exist_ok=True)
        (GOLDEN / golden).write_text(out)
    assert out == (GOLDEN / golden).read_text()


def test_system_json(fake_system, capsys):
    assert main(["system", "--json", "--cpus", "0-1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["machine"] == FAKE_MACHINE
    assert data["paths"] == {
        "config": None,
        "cache_dir": "/home/me/.cache/effbench",
        "cache_origin": FAKE_CONFIG.cache_origin,
        "results_dir": "/srv/project/results",
        "history_db": "/srv/project/results/history.sqlite",
    }
    assert data["cpus"] == [0, 1]
    assert data["checks"][0] == {
        "name": "load",
        "status": "warn",
        "message": "CPU 1 50% busy before measuring",
        "remedy": "close other programs",
    }
    assert fake_system == [[0, 1]]


def test_system_json_on_this_machine(capsys):
    assert main(["system", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["machine"]["id"] and data["machine"]["cpu"]["brand"]
    assert data["cpus"] == resolve_cpus(1)  # the CPU `effbench latency --threads 1` measures on
    assert [c["name"] for c in data["checks"]] == [c.name for c in system_checks(data["cpus"], load_interval_s=0)]


@pytest.mark.parametrize(
    ("cpus", "message"),
    [
        ("a", "effbench: error: --cpus 'a': invalid CPU list item 'a': expected N or N-M, e.g. 1 or 0-3,6"),
        ("3-1", "effbench: error: --cpus '3-1': invalid CPU range '3-1': the end is below the start"),
        ("", "effbench: error: --cpus is empty: give CPU ids like 1 or 0-3"),
        ("1,9", "effbench: error: --cpus: CPU 9 does not exist (online CPUs: 0-2); pick CPUs from that list"),
        (
            "3",
            "effbench: error: --cpus: CPU 3 is offline (online CPUs: 0-2); pick CPUs from that list, "
            "or bring it online (echo 1 | sudo tee /sys/devices/system/cpu/cpu3/online)",
        ),
        (
            "1-2",
            "effbench: error: --cpus: CPU 2 is outside this process's allowed CPUs (0-1, set by taskset or a "
            "cgroup); pick CPUs from that list",
        ),
    ],
)
def test_system_bad_cpus(fake_system, capsys, cpus, message):
    assert main(["system", "--cpus", cpus]) == 2
    err = capsys.readouterr().err
    assert err.strip() == message
    assert fake_system == []  # nothing was checked


@pytest.mark.parametrize(("isolated", "checked"), [("2-3\n", [2]), ("\n", [3])])
def test_system_checks_the_cpu_latency_measures_on(fake_system, capsys, monkeypatch, tmp_path, isolated, checked):
    # A fake sysfs tree of 4 CPUs on 4 cores, with or without isolcpus=2-3.
    cpu_dir = tmp_path / "devices" / "system" / "cpu"
    cpu_dir.mkdir(parents=True)
    (cpu_dir / "online").write_text("0-3\n")
    (cpu_dir / "isolated").write_text(isolated)
    kernel = Kernel(sys_root=tmp_path, allowed=frozenset(range(4)))
    monkeypatch.setattr(system_cmd, "read_topology", lambda: read_topology(kernel))
    assert main(["system", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cpus"] == checked == resolve_cpus(1, None, read_topology(kernel))
    assert fake_system == [checked]


def test_system_unknown_option(capsys):
    with pytest.raises(SystemExit) as info:
        main(["system", "--frobnicate"])
    assert info.value.code == 2
    assert "unrecognized arguments: --frobnicate" in capsys.readouterr().err
