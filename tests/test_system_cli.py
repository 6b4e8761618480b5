"""`effbench system`: the machine table, the checks, --json, and --cpus validation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.cli import main
from bench.commands import system as system_cmd
from bench.machine import Check

FAKE_MACHINE = {
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
    monkeypatch.setattr(system_cmd, "online_cpus", lambda: [0, 1])
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
    try:
        default = sorted(os.sched_getaffinity(0))[-1]
    except AttributeError:  # pragma: no cover - not Linux
        default = (os.cpu_count() or 1) - 1
    assert fake_system == [[default]]  # default: the highest-numbered CPU


# The other branches of the machine rows: isolated CPUs, a numeric quota, per-CPU governors, no git checkout.
OTHER_MACHINE = {
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
    assert data["cpus"] == [0, 1]
    assert data["checks"][0] == {
        "name": "load",
        "status": "warn",
        "message": "CPU 1 50% busy before measuring",
        "remedy": "close other programs",
    }
    assert fake_system == [[0, 1]]


def test_system_json_on_this_machine(capsys):
    assert main(["system", "--json", "--cpus", "0"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["machine"]["id"] and data["machine"]["cpu"]["brand"]
    assert [c["name"] for c in data["checks"]] == [
        "cpus",
        "governor",
        "boost",
        "load",
        "smt",
        "cgroup",
        "isolated",
        "aslr",
    ]


@pytest.mark.parametrize(
    ("cpus", "message"),
    [
        ("a", "effbench: error: --cpus: invalid CPU list item 'a' in 'a': expected N or N-M, e.g. 1 or 0-3,6"),
        ("3-1", "effbench: error: --cpus: invalid CPU range '3-1' in '3-1': the end is below the start"),
        ("", "effbench: error: --cpus is empty: give CPU ids like 1 or 0-3"),
        ("1,9", "effbench: error: --cpus: CPU 9 does not exist on this machine (online CPUs: 0-1); pick among those"),
    ],
)
def test_system_bad_cpus(fake_system, capsys, cpus, message):
    assert main(["system", "--cpus", cpus]) == 2
    err = capsys.readouterr().err
    assert err.strip() == message
    assert fake_system == []  # nothing was checked


def test_system_unknown_option(capsys):
    with pytest.raises(SystemExit) as info:
        main(["system", "--frobnicate"])
    assert info.value.code == 2
    assert "unrecognized arguments: --frobnicate" in capsys.readouterr().err
