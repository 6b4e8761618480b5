"""CPU choice and --cpus/--threads validation on made-up topologies (and the real sysfs reader)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cpus import CpuTopology, default_cpus, format_cpu_list, parse_cpu_list, read_topology, resolve_cpus
from bench.errors import EffbenchError


def topo(
    cpus: int = 4, *, smt: bool = False, allowed: set[int] | None = None, isolated: set[int] | None = None
) -> CpuTopology:
    """`cpus` CPUs; with smt, CPU i and i + cpus/2 are siblings of core i (Linux's usual numbering)."""
    half = cpus // 2
    core_of = {c: (0, c % half if smt else c) for c in range(cpus)}
    return CpuTopology(
        online=frozenset(range(cpus)),
        allowed=frozenset(allowed if allowed is not None else range(cpus)),
        isolated=frozenset(isolated or ()),
        core_of=core_of,
    )


def test_parse_and_format_cpu_lists() -> None:
    assert parse_cpu_list("1,3-5") == [1, 3, 4, 5]
    assert parse_cpu_list(" 2 ") == [2]
    assert format_cpu_list([1, 3, 4, 5]) == "1,3-5"
    for bad in ("a", "3-1", "1,,2", "-1"):
        with pytest.raises(EffbenchError, match="--cpus"):
            parse_cpu_list(bad)
    with pytest.raises(EffbenchError, match="empty"):
        parse_cpu_list("")


def test_default_leaves_cpu0_to_the_system() -> None:
    assert default_cpus(1, topo(2)) == [1]
    assert default_cpus(1, topo(8)) == [7]
    assert default_cpus(3, topo(8)) == [5, 6, 7]


def test_default_uses_cpu0_only_when_needed() -> None:
    assert default_cpus(2, topo(2)) == [0, 1]


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


def test_cpus_option_is_validated() -> None:
    assert resolve_cpus(2, "1,3", topo(4)) == [1, 3]
    with pytest.raises(EffbenchError, match=r"CPU 9 does not exist \(online CPUs: 0-3\)"):
        resolve_cpus(1, "9", topo(4))
    with pytest.raises(EffbenchError, match=r"CPU 0 is outside this process's allowed CPUs \(2-3"):
        resolve_cpus(1, "0", topo(4, allowed={2, 3}))
    with pytest.raises(EffbenchError, match=r"names 2 CPU.* but --threads is 1"):
        resolve_cpus(1, "1-2", topo(4))
    with pytest.raises(EffbenchError, match="SMT siblings"):
        resolve_cpus(2, "1,5", topo(8, smt=True))


def test_read_topology_from_sysfs(tmp_path: Path) -> None:
    (tmp_path / "online").write_text("0-3\n")
    (tmp_path / "isolated").write_text("3\n")
    for cpu in range(4):
        folder = tmp_path / f"cpu{cpu}" / "topology"
        folder.mkdir(parents=True)
        (folder / "core_id").write_text(f"{cpu % 2}\n")
        (folder / "physical_package_id").write_text("0\n")
    found = read_topology(tmp_path)
    assert found.online == frozenset(range(4))
    assert found.isolated == frozenset({3})
    assert found.core_of[1] == found.core_of[3] == (0, 1)


def test_read_topology_of_this_machine() -> None:
    found = read_topology()
    assert found.allowed and found.allowed <= found.online
    chosen = resolve_cpus(1, None, found)
    assert len(chosen) == 1 and chosen[0] in found.allowed
