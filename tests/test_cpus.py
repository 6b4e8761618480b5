"""CPU choice and --cpus/--threads validation on made-up topologies, fake sysfs trees and the real machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import EffbenchError
from bench.machine import (
    CpuTopology,
    Kernel,
    cpus_to_check,
    default_cpus,
    format_cpu_list,
    parse_cpus_option,
    read_topology,
    resolve_cpus,
)


def topo(
    cpus: int = 4,
    *,
    smt: bool = False,
    allowed: set[int] | None = None,
    isolated: set[int] | None = None,
    offline: set[int] | None = None,
) -> CpuTopology:
    """`cpus` CPUs; with smt, CPU i and i + cpus/2 are siblings of core i (Linux's usual numbering)."""
    half = cpus // 2
    core_of = {c: (0, c % half if smt else c) for c in range(cpus)}
    online = frozenset(range(cpus)) - frozenset(offline or ())
    return CpuTopology(
        online=online,
        allowed=frozenset(allowed if allowed is not None else online),
        isolated=frozenset(isolated or ()),
        core_of=core_of,
        present=frozenset(range(cpus)),
    )


def test_parse_and_format_cpu_lists() -> None:
    assert parse_cpus_option("1,3-5") == [1, 3, 4, 5]
    assert parse_cpus_option(" 2 ") == [2]
    assert format_cpu_list([1, 3, 4, 5]) == "1,3-5"
    for bad in ("a", "3-1", "1,,2", "-1"):
        with pytest.raises(EffbenchError, match=f"--cpus '{bad}': invalid CPU"):
            parse_cpus_option(bad)
    with pytest.raises(EffbenchError, match="empty"):
        parse_cpus_option("")


def test_default_leaves_cpu0_to_the_system() -> None:
    assert default_cpus(1, topo(2)) == [1]
    assert default_cpus(1, topo(8)) == [7]
    assert default_cpus(3, topo(8)) == [5, 6, 7]


def test_default_uses_cpu0_only_when_needed() -> None:
    assert default_cpus(2, topo(2)) == [0, 1]
    assert default_cpus(1, topo(4, allowed={0})) == [0]


def test_default_picks_distinct_physical_cores() -> None:
    # 8 CPUs, 4 cores: 7 and 3 share core 3, so two threads go to 7 and 6.
    assert default_cpus(2, topo(8, smt=True)) == [6, 7]
    assert default_cpus(4, topo(8, smt=True)) == [4, 5, 6, 7]


def test_default_prefers_isolated_cpus() -> None:
    assert default_cpus(1, topo(8, isolated={2, 3})) == [2]
    assert default_cpus(2, topo(8, isolated={2, 3})) == [2, 3]
    # Too few isolated CPUs for the threads: fall back to the general rule.
    assert default_cpus(3, topo(8, isolated={2, 3})) == [5, 6, 7]
    # Isolated but outside this process's allowed set: not used.
    assert default_cpus(1, topo(8, isolated={2}, allowed={4, 5, 6})) == [6]


def test_default_respects_allowed_set() -> None:
    assert default_cpus(1, topo(8, allowed={2, 3})) == [3]


def test_threads_larger_than_physical_cores() -> None:
    with pytest.raises(EffbenchError, match=r"--threads 3: .* 2 physical core\(s\) .*use --threads 2 or fewer"):
        resolve_cpus(3, None, topo(2))
    with pytest.raises(EffbenchError, match="--threads 5: this process may use 8 CPU"):
        resolve_cpus(5, None, topo(8, smt=True))
    with pytest.raises(EffbenchError, match="at least 1"):
        resolve_cpus(0, None, topo(2))
    # --cpus does not get around the limit
    with pytest.raises(EffbenchError, match="--threads 3: "):
        resolve_cpus(3, "0-2", topo(2))


@pytest.mark.parametrize(
    ("text", "machine", "message"),
    [
        ("9", topo(4), r"^--cpus: CPU 9 does not exist \(online CPUs: 0-3\); pick CPUs from that list$"),
        ("7-9", topo(4), r"^--cpus: CPU 7-9 does not exist \(online CPUs: 0-3\)"),
        (
            "3",
            topo(4, offline={3}),
            r"^--cpus: CPU 3 is offline \(online CPUs: 0-2\); pick CPUs from that list, or bring it online "
            r"\(echo 1 \| sudo tee /sys/devices/system/cpu/cpu3/online\)$",
        ),
        (
            "0",
            topo(4, allowed={2, 3}),
            r"^--cpus: CPU 0 is outside this process's allowed CPUs \(2-3, set by taskset or a cgroup\); pick",
        ),
        ("x", topo(4), r"^--cpus 'x': invalid CPU list item 'x': expected N or N-M"),
        ("", topo(4), r"^--cpus is empty: give CPU ids like 1 or 0-3$"),
    ],
)
def test_bad_cpus_are_refused_alike_by_latency_and_system(text: str, machine: CpuTopology, message: str) -> None:
    for choose in (lambda: resolve_cpus(1, text, machine), lambda: cpus_to_check(text, machine)):
        with pytest.raises(EffbenchError, match=message):
            choose()


def test_cpus_option_for_latency_matches_the_threads() -> None:
    assert resolve_cpus(2, "1,3", topo(4)) == [1, 3]
    with pytest.raises(EffbenchError, match=r"names 2 CPU.* but --threads is 1"):
        resolve_cpus(1, "1-2", topo(4))
    with pytest.raises(EffbenchError, match="SMT siblings"):
        resolve_cpus(2, "1,5", topo(8, smt=True))


def test_system_checks_any_number_of_valid_cpus() -> None:
    assert cpus_to_check("1,5", topo(8, smt=True)) == [1, 5]  # siblings are allowed: the smt check reports them
    assert cpus_to_check("0-3", topo(4)) == [0, 1, 2, 3]


def _sysfs(root: Path, *, isolated: str = "", cpus: int = 4) -> Kernel:
    cpu_dir = root / "devices" / "system" / "cpu"
    cpu_dir.mkdir(parents=True)
    (cpu_dir / "online").write_text(f"0-{cpus - 1}\n")
    (cpu_dir / "present").write_text(f"0-{cpus - 1}\n")
    (cpu_dir / "isolated").write_text(isolated + "\n")
    for cpu in range(cpus):
        folder = cpu_dir / f"cpu{cpu}" / "topology"
        folder.mkdir(parents=True)
        (folder / "core_id").write_text(f"{cpu % 2}\n")
        (folder / "physical_package_id").write_text("0\n")
    return Kernel(sys_root=root, allowed=frozenset(range(cpus)))


def test_read_topology_from_sysfs(tmp_path: Path) -> None:
    found = read_topology(_sysfs(tmp_path, isolated="3"))
    assert found.online == found.present == found.allowed == frozenset(range(4))
    assert found.isolated == frozenset({3})
    assert found.core_of[1] == found.core_of[3] == (0, 1)


@pytest.mark.parametrize(("isolated", "expected"), [("2-3", [2]), ("", [3])])
def test_system_and_latency_choose_the_same_cpu(tmp_path: Path, isolated: str, expected: list[int]) -> None:
    # Four CPUs on four cores, with or without isolcpus=2-3: an isolated CPU first, else the highest-numbered.
    kernel = _sysfs(tmp_path, isolated=isolated)
    for cpu in range(4):
        (tmp_path / "devices/system/cpu" / f"cpu{cpu}/topology/core_id").write_text(f"{cpu}\n")
    machine = read_topology(kernel)
    assert cpus_to_check(None, machine) == resolve_cpus(1, None, machine) == expected


def test_read_topology_of_this_machine() -> None:
    found = read_topology()
    assert found.allowed and found.allowed <= found.online <= found.present
    chosen = resolve_cpus(1, None, found)
    assert len(chosen) == 1 and chosen[0] in found.allowed
    assert cpus_to_check(None, found) == chosen
