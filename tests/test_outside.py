"""effbench outside its own checkout: from an empty folder, the installed console script lists the shipped suites and
says where exports and results go (the user cache folder, ./results); it runs a suite there with no bench.toml."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EFFBENCH = Path(sys.executable).parent / "effbench"


def effbench(folder: Path, cache: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The console script run in `folder` with a private user cache folder, as a user's shell would run it."""
    assert EFFBENCH.is_file(), f"no console script at {EFFBENCH}: install effbench into this venv (pip install -e .)"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "COLUMNS": "200"}
    return subprocess.run([str(EFFBENCH), *args], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_suites_and_system_from_an_empty_folder(empty: Path, tmp_path: Path) -> None:
    cache = tmp_path / "xdg"
    listed = effbench(empty, cache, "suites", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert [row["name"] for row in json.loads(listed.stdout)][:3] == ["paper", "table3", "quick"]
    system = effbench(empty, cache, "system", "--json")
    assert system.returncode == 0, system.stderr
    paths = json.loads(system.stdout)["paths"]
    assert paths["config"] is None
    assert paths["cache_dir"] == str(cache / "effbench") and paths["results_dir"] == str(empty / "results")
    table = effbench(empty, cache, "system")
    assert table.returncode == 0 and "none found here or above" in table.stdout
    assert list(empty.iterdir()) == []  # looking writes nothing


@pytest.mark.slow
def test_run_quick_from_an_empty_folder(empty: Path, tmp_path: Path) -> None:
    """The shipped quick suite, exported into the user cache folder and written to ./results (about a minute)."""
    cache = tmp_path / "xdg"
    run = effbench(empty, cache, "run", "--suite", "quick", "--no-calibrate", timeout=900)
    assert run.returncode == 0, run.stderr
    (written,) = (empty / "results").glob("*/quick-*.json")
    suite = json.loads(written.read_text())["suite"]
    assert suite["definition"]["shipped"] is True and suite["definition"]["source"] is None
    assert any(entry.name.startswith("mobilenet_v2-") for entry in (cache / "effbench").iterdir())
    shutil.rmtree(cache)
