"""`effbench suites`: every shipped suite and a bench.toml's own (one overriding a shipped one, said so), the cells
this machine can run, the estimate from the preset, and the note `effbench run` prints for an overriding suite."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from rich.console import Console

from bench.commands.suites import COLUMNS
from bench.suite.definition import load_suite
from bench.suite.listing import Estimate, estimate_time, format_estimate, suite_rows
from bench.views.console import emit
from bench.views.tables import render_rows

GOLDEN = Path(__file__).parent / "golden" / "suites.table.txt"
PLAIN_CPU = frozenset({"avx2", "fma"})
PROJECT_SUITES = """
[suite.quick]
description = "ours"
models = ["b0"]
backends = ["onnxruntime"]
preset = "fast"

[suite.mine]
models = ["b0", "b1"]
backends = ["onnxruntime", "torch"]
threads = [1, 2]
"""


def no_torch(backend: str) -> bool:
    return backend not in ("torch", "inductor")  # inductor's worker loads its package with torch


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder whose bench.toml overrides the shipped quick suite and adds its own; the current folder."""
    (tmp_path / "bench.toml").write_text(PROJECT_SUITES, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return Path("bench.toml")


def test_suites_table_is_unchanged(project: Path) -> None:
    """On a 2-CPU machine without torch and bf16; regenerate with EFFBENCH_UPDATE_GOLDEN=1."""
    rows = suite_rows(project, PLAIN_CPU, no_torch, cpu_count=2)
    out = io.StringIO()
    emit(render_rows(rows, COLUMNS, "table", "effbench suites"), Console(file=out, width=140, color_system=None))
    if os.environ.get("EFFBENCH_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(out.getvalue(), encoding="utf-8")
    assert out.getvalue() == GOLDEN.read_text(encoding="utf-8")


def test_rows_count_what_this_machine_can_run(project: Path) -> None:
    rows = {row["name"]: row for row in suite_rows(project, PLAIN_CPU, no_torch, cpu_count=2)}
    assert list(rows) == ["paper", "table3", "quick", "scaling", "paper-short", "scaling-wide", "mine"]
    assert rows["paper"]["source"] == "shipped"
    assert (rows["paper"]["models"], rows["paper"]["cells"], rows["paper"]["cells_in_matrix"]) == (12, 48, 96)
    assert rows["quick"]["source"] == "bench.toml (overrides the shipped one)" and rows["quick"]["models"] == 1
    assert rows["mine"]["source"] == "bench.toml" and (rows["mine"]["cells"], rows["mine"]["cells_in_matrix"]) == (
        4,
        8,
    )
    assert rows["scaling-wide"]["cells"] == 4  # 1 and 2 threads of 1, 2, 4, 8, 16 on 2 CPUs
    nothing = suite_rows(project, PLAIN_CPU, lambda backend: False, cpu_count=2)
    assert {row["estimate"] for row in nothing} == {"nothing to run here"}


def test_without_a_compiler_the_inductor_cells_are_not_counted_here(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.export import aot

    monkeypatch.setenv("CXX", "/nonexistent/c++")
    aot.local_compiler.cache_clear()
    try:
        rows = {row["name"]: row for row in suite_rows(project, PLAIN_CPU, lambda backend: True, cpu_count=2)}
    finally:
        aot.local_compiler.cache_clear()
    # 96 in the matrix; without bf16 24 cannot run, and without a compiler nor can the 12 inductor fp32 cells
    assert (rows["paper"]["cells"], rows["paper"]["cells_in_matrix"]) == (60, 96)


def test_the_estimate_follows_the_preset() -> None:
    quick = load_suite(None, "quick")
    cells = [("mobilenet_v2", "onnxruntime"), ("efficientnet_b0", "onnxruntime")]
    # fast: 2-3 processes, each 1 s start + 0.1-1 s warm-up + 1-5 s timed
    assert estimate_time(quick, cells) == Estimate(2 * 2 * (1 + 0.1 + 1.0), 2 * 3 * (1 + 1.0 + 5.0))
    torch_cell = estimate_time(quick, [("b0", "torch")])
    assert torch_cell.usual_s == 2 * (3 + 0.1 + 1.0)
    assert format_estimate(Estimate(30, 50)) == "under 1 min"
    assert format_estimate(Estimate(240, 1080)) == "4-18 min"
    assert format_estimate(Estimate(50, 70)) == "about 1 min"
    assert format_estimate(Estimate(1200, 9000)) == "20 min-2.5 h"


def test_suites_command_lists_shipped_suites_from_an_empty_folder(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("suites", "--format", "json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert [r["name"] for r in rows] == ["paper", "table3", "quick", "scaling", "paper-short", "scaling-wide"]
    assert {r["source"] for r in rows} == {"shipped"} and all(r["description"] for r in rows)


def test_suites_command_with_a_bad_config(cli, tmp_path) -> None:
    bad = tmp_path / "bench.toml"
    bad.write_text('[suite.x]\nmodels = ["nope"]\n')
    result = cli("suites", "--config", bad)
    assert result.code == 2 and result.err.count("\n") == 1 and "[suite.x] models" in result.err
