"""The result history: indexing (incremental, rebuild, concurrent, broken files), queries, the plot, change
detection on synthetic series (fake-backend documents with scaled samples) and the history command's exit codes."""

from __future__ import annotations

import atexit
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from published import published_documents

from bench.cli import main
from bench.document import SuiteRecord
from bench.errors import EffbenchError
from bench.history import (
    SCHEMA_VERSION,
    detect_change_points,
    dump_database,
    find_changes,
    group_series,
    index_documents,
    open_database,
    query_points,
    resolve_filter,
    step_size,
)
from bench.history.db import stored_path
from bench.history.rows import document_rows
from bench.history.synthetic import (
    SYNTHETIC_MACHINE_ID,
    fake_document,
    scaled_document,
    step_factors,
    write_series,
)
from bench.results import load_result

if TYPE_CHECKING:
    from conftest import Cli

ROOT = Path(__file__).resolve().parent.parent
# A fixed copy of three published documents: the indexing tests count rows, so they must not see the results
# published later (or a local scratch run).
FIXED = sorted((ROOT / "results" / "intel-xeon-bf96a8ca").glob("2026*.json"))


def _copy_fixed() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="effbench-history-test-"))
    atexit.register(shutil.rmtree, folder, True)
    (folder / "intel-xeon-bf96a8ca").mkdir()
    for path in FIXED:
        shutil.copy2(path, folder / "intel-xeon-bf96a8ca" / path.name)
    return folder


COMMITTED = _copy_fixed()
STEP_AT = 20  # runs 0..19 flat, 20..29 7% slower


def _committed_documents() -> list[Path]:
    return sorted(COMMITTED.glob("*/*.json"))


@pytest.fixture(scope="module")
def step_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 runs of efficientnet_b1 on the fake backend, 1% run-to-run noise, +7% from run 20 on (where the
    fake runtime's version also moves to 1.1), on the synthetic machine."""
    folder = tmp_path_factory.mktemp("step") / "results"
    factors = step_factors(STEP_AT, 10, 1.07, 0.01, random.Random(7))
    write_series(folder, factors, versions_from=(STEP_AT, {"fake": "1.1"}))
    return folder


@pytest.fixture(scope="module")
def step_db(step_results: Path) -> Path:
    db = step_results.parent / "history.sqlite"
    index_documents(db, [step_results])
    return db


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


# ------------------------------------------------------------------------------------------------ rows


def test_committed_document_maps_to_rows() -> None:
    path = COMMITTED / "intel-xeon-bf96a8ca" / "20261126T072750Z.json"
    rows = document_rows(load_result(path), "x.json", "0" * 64)
    assert rows.run.machine_id == "intel-xeon-bf96a8ca"
    assert rows.run.created == "2026-11-26T07:27:50+00:00"
    assert rows.run.effbench_commit == "9ab3500600bfe726adf06bf79a63db63231c4bbd"
    assert rows.run.label is None and rows.run.commit_under_test is None
    assert json.loads(rows.run.runtimes)["onnxruntime"] == "1.32.0"
    assert json.loads(rows.run.environment)["kernel"] == "6.18.44-fc-v657"
    b1 = rows.cells[0]
    assert (b1.model, b1.backend, b1.precision, b1.threads) == ("efficientnet_b1", "openvino", "bf16", 1)
    assert b1.effective_precision.startswith("bf16 (bf16 ")  # OpenVINO's per-layer mix, as the latency table says
    assert (b1.median_ms, b1.n_processes, b1.n_samples) == (14.421393, 6, 963)
    assert b1.ci_low_ms is not None and b1.ci_high_ms is not None and b1.ci_low_ms < 14.421393 < b1.ci_high_ms
    assert json.loads(b1.versions) == {"openvino": "2026.4.1-22982-e213a147257-releases/2026/4"}
    processes = [p for p in rows.processes if p.cell_index == 0]
    assert [p.process_index for p in processes] == list(range(6))
    assert processes[0].n_samples == 169 and processes[0].median_ms is not None
    samples = load_result(path).cells[0].processes[0].samples_ns
    import numpy as np

    assert processes[0].median_ms == pytest.approx(float(np.median(samples)) / 1e6, rel=1e-12)
    assert processes[0].p90_ms == pytest.approx(float(np.quantile(samples, 0.9)) / 1e6, rel=1e-12)


def test_label_and_commit_under_test_are_read_when_present() -> None:
    doc = fake_document()
    doc["effbench"].update({"label": "nightly", "commit_under_test": "a" * 40})
    rows = document_rows(doc, "x.json", "1" * 64)
    assert (rows.run.label, rows.run.commit_under_test) == ("nightly", "a" * 40)
    assert rows.run.run_id == doc["effbench"]["run_id"]


@pytest.mark.parametrize(
    "path",
    [*published_documents(), *sorted((ROOT / "tests" / "fixtures").glob("format*.json"))],
    ids=lambda p: p.name,
)
def test_typed_document_and_its_json_give_the_same_rows(path: Path) -> None:
    typed = load_result(path)
    rows = document_rows(typed, "x.json", "0" * 64)
    assert rows == document_rows(json.loads(path.read_text()), "x.json", "0" * 64)
    assert rows.run.run_id == typed.effbench.run_id and rows.run.machine_id == typed.machine.id
    assert len(rows.cells) == len(typed.cells)
    for row, cell in zip(rows.cells, typed.cells, strict=True):
        assert (row.model, row.backend, row.status, row.arm) == (cell.model, cell.backend, cell.status, cell.arm)
        assert row.median_ms == (cell.summary.median_ms if cell.summary else None)
        assert row.n_processes == (cell.summary.processes if cell.summary else 0)
    assert len(rows.processes) == sum(len(c.processes) for c in typed.cells)


def test_label_commit_and_suite_come_from_the_typed_fields() -> None:
    from dataclasses import replace

    typed = load_result(_committed_documents()[0])
    doc = replace(
        typed,
        effbench=replace(typed.effbench, label="nightly", commit_under_test="b" * 40),
        suite=SuiteRecord(name="paper", definition={"models": ["efficientnet_b*"]}),
    )
    run = document_rows(doc, "x.json", "0" * 64).run
    assert (run.label, run.commit_under_test, run.suite) == ("nightly", "b" * 40, "paper")
    assert document_rows(doc.to_dict(), "x.json", "0" * 64).run == run  # the same through the JSON dict
    with pytest.raises(
        EffbenchError, match=r"x.json is not a valid effbench result: suite.name is \[.paper.\], expected a string"
    ):
        document_rows(replace(doc, suite=SuiteRecord(name=["paper"], definition={})), "x.json", "0" * 64)  # type: ignore[arg-type]


def _ab_template() -> dict[str, Any]:
    """A fake `effbench ab` document: the one cell twice, as the base arm and as the new arm."""
    doc = fake_document()
    (cell,) = doc["cells"]
    doc["cells"] = [dict(cell, arm="base"), dict(cell, arm="new")]
    return doc


def test_ab_cells_are_indexed_with_their_arm_in_series_of_their_own(tmp_path: Path, cli: Cli) -> None:
    rows = document_rows(_ab_template(), "x.json", "0" * 64)
    assert [c.arm for c in rows.cells] == ["base", "new"]
    folder = tmp_path / "results"
    write_series(folder, [1.0] * 4)  # ordinary runs of the same cell
    write_series(folder, [1.5] * 3, template=_ab_template(), first_index=4)  # A/B runs, slower: no step
    db = tmp_path / "h.sqlite"
    index_documents(db, [folder])
    conn = open_database(db)
    series = group_series(query_points(conn, resolve_filter(conn, model="b1")))
    assert {key.arm: len(points) for key, points in series.items()} == {"": 4, "base": 3, "new": 3}
    assert find_changes(series) == []  # the arms never join the ordinary series, so nothing steps
    (base_key,) = [key for key in series if key.arm == "base"]
    assert base_key.title().endswith(" · A/B base")
    for arm, count in (("base", 3), ("none", 4)):
        assert len(query_points(conn, resolve_filter(conn, model="b1", arm=arm))) == count
    code, out, _ = cli("history", "show", "-m", "b1", "--arm", "new", "--format", "json", "--db", str(db))
    assert code == 0 and [r["arm"] for r in json.loads(out)] == ["new"] * 3
    code, _, err = cli("history", "show", "-m", "b1", "--arm", "old", "--db", str(db))
    assert code == 2 and "invalid --arm 'old': give base, new or none" in err


def test_scaled_documents_load_and_scale_the_median() -> None:
    template = fake_document()
    doc = scaled_document(template, 1.07, created=__import__("datetime").datetime(2026, 1, 1, tzinfo=None), index=3)
    rows = document_rows(doc, "x.json", "2" * 64)
    base = document_rows(template, "y.json", "3" * 64)
    base_cell, base_process = base.cells[0].median_ms, base.processes[0].median_ms
    assert base_cell is not None and base_process is not None
    assert rows.cells[0].median_ms == pytest.approx(base_cell * 1.07, rel=1e-6)
    assert rows.processes[0].median_ms == pytest.approx(base_process * 1.07, rel=1e-6)


# -------------------------------------------------------------------------------------------- indexing


def test_index_committed_results_then_incremental_adds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    first = index_documents(db, [COMMITTED])
    assert len(first.added) == len(_committed_documents()) == 3 and not first.skipped
    assert (_count(db, "runs"), _count(db, "cells")) == (3, 9)
    processes = sum(len(c.processes) for p in _committed_documents() for c in load_result(p).cells)
    assert _count(db, "processes") == processes
    second = index_documents(db, [COMMITTED])
    assert second.added == () and second.replaced == () and second.unchanged == 3
    assert _count(db, "runs") == 3


def test_rebuild_and_incremental_builds_have_equal_content(tmp_path: Path, step_results: Path) -> None:
    files = sorted(step_results.rglob("*.json"))
    half = tmp_path / "half"
    for path in files[::2]:  # every other run first, the rest later: a different arrival order
        target = half / path.relative_to(step_results)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    db = tmp_path / "h.sqlite"
    # Paths are stored relative to the database's folder: the same folder layout gives the same paths.
    shutil.copytree(step_results, tmp_path / "all")
    index_documents(db, [half])
    index_documents(db, [tmp_path / "all"])
    incremental = dump_database(sqlite3.connect(db))
    rebuilt = index_documents(db, [tmp_path / "all"], rebuild=True)
    assert len(rebuilt.added) == len(files)
    full = dump_database(sqlite3.connect(db))
    other = tmp_path / "h2.sqlite"
    index_documents(other, [tmp_path / "all"])
    assert dump_database(sqlite3.connect(other)) == full
    # The incremental build holds every run too; its rows differ only in the paths of the first half.
    assert incremental.count("\nruns ") == full.count("\nruns ") == len(files)
    assert incremental.replace("half/", "all/") == full


def test_two_indexers_at_once_insert_each_document_once(tmp_path: Path, step_results: Path) -> None:
    db = tmp_path / "h.sqlite"
    command = [sys.executable, "-m", "bench", "history", "index", str(step_results), "--db", str(db)]
    procs = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    added = [int(out.split(": ")[1].split(" added")[0]) for out, _ in outputs]
    n = len(list(step_results.rglob("*.json")))
    assert sum(added) == n  # each document inserted by exactly one of them
    assert (_count(db, "runs"), _count(db, "cells")) == (n, n)  # never a run without its cell


def test_indexer_threads_at_once_insert_each_document_once(tmp_path: Path, step_results: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    db = tmp_path / "h.sqlite"
    with ThreadPoolExecutor(4) as pool:  # sqlite3 releases the GIL: the four really interleave
        reports = list(pool.map(lambda _: index_documents(db, [step_results]), range(4)))
    n = len(list(step_results.rglob("*.json")))
    assert sum(len(r.added) for r in reports) == n and not any(r.skipped for r in reports)
    assert (_count(db, "runs"), _count(db, "cells"), _count(db, "processes")) == (n, n, 3 * n)


def test_same_run_saved_again_replaces_its_rows(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    (path,) = write_series(folder, [1.0])
    db = tmp_path / "h.sqlite"
    index_documents(db, [folder])
    doc = json.loads(path.read_text())
    doc["cells"].append(dict(doc["cells"][0], model="resnet50"))  # save_progress after a second cell finished
    path.write_text(json.dumps(doc))
    report = index_documents(db, [folder])
    assert len(report.replaced) == 1 and not report.added
    assert (_count(db, "runs"), _count(db, "cells")) == (1, 2)


def _broken_files(folder: Path) -> dict[str, str]:
    good = _committed_documents()[0]
    text = good.read_text()
    newer = json.loads(text)
    newer["format_version"] = 99
    bad_cell = json.loads(text)
    bad_cell["cells"].append(42)
    bad_median = json.loads(text)
    bad_median["cells"][0]["summary"]["median_ms"] = "fast"
    files = {
        "truncated.json": text[: len(text) // 2],
        "newer.json": json.dumps(newer),
        "foreign.json": json.dumps({"benchmarks": [], "version": "1.0"}),
        "bad-cell.json": json.dumps(bad_cell),
        "bad-median.json": json.dumps(bad_median),
        "not-utf8.json": "",
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_text(content)
    (folder / "not-utf8.json").write_bytes(b"\xff\xfe{")
    shutil.copy(good, folder / "good.json")
    return files


def test_broken_newer_and_truncated_documents_are_reported_and_skipped(tmp_path: Path, cli: Cli) -> None:
    folder = tmp_path / "results"
    broken = _broken_files(folder)
    db = tmp_path / "h.sqlite"
    code, out, err = cli("history", "index", str(folder), "--db", str(db))
    assert code == 0
    assert "1 added" in out and f"{len(broken)} skipped" in out
    lines = err.strip().splitlines()
    assert len(lines) == len(broken)  # one line each
    for name in broken:
        (line,) = [x for x in lines if name in x]
        assert line.startswith("effbench: skipped")
    assert "newer effbench (format 99 > 2)" in err and "truncated" in err and "pyperf" in err
    # load_result refuses the cell that is not an object; the history's own reader the median that is no number
    assert "document.cells[3] is not an object" in err and "median_ms is 'fast'" in err
    assert (_count(db, "runs"), _count(db, "cells")) == (1, 3)  # the good one, whole; nothing of the bad ones


# ------------------------------------------------------------------------------------- the database file


def test_newer_schema_is_refused_and_rebuild_repairs_it(tmp_path: Path, cli: Cli) -> None:
    db = tmp_path / "h.sqlite"
    index_documents(db, [COMMITTED])
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    code, _, err = cli("history", "show", "-m", "b1", "--db", str(db))
    assert (
        code == 2
        and f"newer effbench (history schema {SCHEMA_VERSION + 1} > {SCHEMA_VERSION})" in err
        and "--rebuild" in err
    )
    code, out, _ = cli("history", "index", str(COMMITTED), "--db", str(db), "--rebuild")
    assert code == 0 and "3 added" in out
    assert cli("history", "show", "-m", "b1", "--db", str(db))[0] == 0


def test_schema_1_database_is_upgraded_to_the_same_content_as_a_new_one(tmp_path: Path) -> None:
    fresh, old = tmp_path / "fresh.sqlite", tmp_path / "old.sqlite"
    index_documents(fresh, [COMMITTED])
    index_documents(old, [COMMITTED])
    with sqlite3.connect(old) as conn:  # schema 1: cells without the arm column
        conn.execute("ALTER TABLE cells DROP COLUMN arm")
        conn.execute("PRAGMA user_version = 1")
    conn = open_database(old)  # a reader upgrades it
    assert dump_database(conn) == dump_database(sqlite3.connect(fresh))
    assert conn.execute("SELECT COUNT(*) FROM cells WHERE arm IS NULL").fetchone()[0] == 9


def test_database_errors_are_one_line_exit_2(tmp_path: Path, cli: Cli) -> None:
    code, _, err = cli("history", "show", "-m", "b1", "--db", str(tmp_path / "missing.sqlite"))
    assert code == 2 and "no history database" in err and "effbench history index" in err
    text_file = tmp_path / "notes.sqlite"
    text_file.write_text("not a database, at all, and long enough to have a header" * 10)
    code, _, err = cli("history", "index", str(COMMITTED), "--db", str(text_file))
    assert code == 2 and "is not an SQLite database" in err
    assert text_file.read_text().startswith("not a database")  # never overwritten
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    code, _, err = cli("history", "index", str(COMMITTED), "--db", str(other))
    assert code == 2 and "not an effbench history" in err
    code, _, err = cli("history", "index", str(tmp_path / "nowhere"), "--db", str(tmp_path / "x.sqlite"))
    assert code == 2 and "does not exist" in err
    assert len(err.strip().splitlines()) == 1


def test_db_defaults_to_bench_toml_history_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bench.toml"
    config.write_text('[paths]\nresults_dir = "out"\nhistory_db = "trend/h.sqlite"\n')
    write_series(tmp_path / "out", [1.0, 1.0])
    assert main(["--config", str(config), "history", "index"]) == 0  # RESULTS_DIR defaults to results_dir too
    out = capsys.readouterr().out
    assert f"indexed {tmp_path / 'trend' / 'h.sqlite'}: 2 added" in out
    assert main(["--config", str(config), "history", "show", "-m", "b1", "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_stored_paths_are_relative_to_the_database(tmp_path: Path) -> None:
    assert stored_path(tmp_path / "results" / "m" / "a.json", tmp_path / "results" / "h.sqlite") == "m/a.json"
    assert stored_path(tmp_path / "a.json", tmp_path / "db" / "h.sqlite") == "../a.json"


# --------------------------------------------------------------------------------------------- queries


def test_names_resolve_through_the_zoo_and_backend_aliases(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    index_documents(db, [COMMITTED])
    conn = open_database(db)
    flt = resolve_filter(conn, model="b1", backend="ort")
    assert (flt.model, flt.backend) == ("efficientnet_b1", "onnxruntime")
    series = group_series(query_points(conn, flt))
    ((key, points),) = series.items()
    assert key.machine_id == "intel-xeon-bf96a8ca" and key.precision == "fp32"
    assert [p.median_ms for p in points] == [19.944682, 20.1174245]  # in time order
    assert [p.created for p in points] == sorted(p.created for p in points)
    with pytest.raises(EffbenchError, match="models there: efficientnet_b1, resnet152"):
        resolve_filter(conn, model="b3")
    with pytest.raises(EffbenchError, match="not in the history"):
        resolve_filter(conn, model="nonsense")
    with pytest.raises(EffbenchError, match="machine 'amd' is not in the history"):
        resolve_filter(conn, machine="amd")
    assert len(query_points(conn, resolve_filter(conn, model="b1", machine="intel-xeon"))) == 6
    late = resolve_filter(conn, model="b1", since="2026-11-26T07:00")
    assert len(query_points(conn, late)) == 3
    assert len(group_series(query_points(conn, resolve_filter(conn, model="resnet152")))) == 3


def test_show_formats_and_last(step_db: Path, cli: Cli) -> None:
    code, out, _ = cli(
        "history", "show", "-m", "b1", "-b", "fake", "--last", "5", "--format", "json", "--db", str(step_db)
    )
    assert code == 0
    rows = json.loads(out)
    assert [r["label"] for r in rows] == [f"run-{i:04d}" for i in range(25, 30)]
    assert all(r["machine"] == SYNTHETIC_MACHINE_ID and r["versions"] == "fake 1.1" for r in rows)
    code, out, _ = cli("history", "show", "-m", "efficientnet_b1", "--format", "csv", "--db", str(step_db))
    lines = out.splitlines()
    assert lines[0].startswith("model,backend,precision,threads,machine,arm,created,run_id") and len(lines) == 31
    marked = [line for line in lines[1:] if ",+" in line.split(",fake 1.")[1]]
    assert len(marked) == 1 and "run-0020" in marked[0]  # the change column marks the first slower run
    code, out, _ = cli("history", "show", "-m", "b1", "--format", "md", "--last", "2", "--db", str(step_db))
    assert code == 0 and out.count("| run-00") == 2 and "**efficientnet_b1 · fake · fp32" in out


@pytest.mark.parametrize("suffix", ["svg", "png"])
def test_plot_is_written_and_svg_is_reproducible(step_db: Path, tmp_path: Path, cli: Cli, suffix: str) -> None:
    first, second = tmp_path / f"a.{suffix}", tmp_path / f"b.{suffix}"
    for target in (first, second):
        assert cli("history", "show", "-m", "b1", "--db", str(step_db), "--plot", str(target))[0] == 0
    assert first.stat().st_size > 10_000
    if suffix == "svg":
        text = first.read_text()
        assert text.startswith("<?xml") and "<dc:date>" not in text
        assert first.read_bytes() == second.read_bytes()
    else:
        assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------ change detection


def test_change_points_known_answers() -> None:
    rng = random.Random(1)
    flat = [10 * (1 + rng.gauss(0, 0.01)) for _ in range(30)]
    assert detect_change_points(flat) == []
    stepped = flat[:15] + [v * 1.2 for v in flat[15:]]
    (change,) = detect_change_points(stepped)
    assert change.index == 15 and change.p_value <= 0.01
    two = flat[:10] + [v * 1.1 for v in flat[10:20]] + [v * 0.9 for v in flat[20:]]
    assert [c.index for c in detect_change_points(two)] == [10, 20]
    assert detect_change_points([5.0] * 12) == []  # constant: nothing to find
    assert detect_change_points([1.0, 2.0, 3.0, 4.0, 5.0]) == []  # too short for 3 runs on each side
    assert detect_change_points(stepped, seed=3) == detect_change_points(stepped, seed=3)
    with pytest.raises(ValueError):
        detect_change_points([1.0, -1.0, 2.0])


def test_step_size_known_answers() -> None:
    exact = step_size([10.0, 10.0, 10.0], [11.0, 11.0, 11.0])
    assert exact.ratio == pytest.approx(1.1) and exact.low == exact.high == pytest.approx(1.1)
    noisy = step_size([9.9, 10.0, 10.1, 10.0], [10.6, 10.7, 10.8, 10.7])
    assert noisy.low < noisy.ratio < noisy.high and noisy.low > 1.05 and noisy.high < 1.09
    assert (noisy.n_before, noisy.n_after) == (4, 4)
    assert (noisy.median_before, noisy.median_after) == (pytest.approx(10.0), pytest.approx(10.7))


def test_the_7_percent_step_is_found_at_its_run_and_nowhere_else(step_db: Path) -> None:
    conn = open_database(step_db)
    series = group_series(query_points(conn, resolve_filter(conn, model="b1")))
    (change,) = find_changes(series)
    assert change.after.label == f"run-{STEP_AT:04d}" and change.before.label == f"run-{STEP_AT - 1:04d}"
    assert change.step.low < 1.07 < change.step.high and change.step.low > 1.05
    assert (change.step.n_before, change.step.n_after) == (STEP_AT, 10)
    assert change.context == ("fake 1.0 → 1.1",)
    assert change.is_slowdown(0.05) and not change.is_slowdown(0.10)
    (flat_key,) = series
    assert find_changes({flat_key: series[flat_key][:STEP_AT]}) == []  # the flat part alone: no step


def test_what_else_changed_names_machine_and_effbench(tmp_path: Path) -> None:
    template = fake_document()
    newer = json.loads(json.dumps(template))
    newer["machine"]["kernel"] = "6.1.0-other"
    newer["effbench"]["version"] = "9.9.9"
    folder = tmp_path / "results"
    factors = step_factors(8, 8, 1.3, 0.005, random.Random(2))
    write_series(folder, factors[:8], template=template)
    write_series(folder, factors[8:], template=newer, first_index=8)
    db = tmp_path / "h.sqlite"
    index_documents(db, [folder])
    conn = open_database(db)
    (change,) = find_changes(group_series(query_points(conn, resolve_filter(conn))))
    assert f"effbench {template['effbench']['version']} → 9.9.9" in change.context
    assert "machine: kernel 6.0.0-synthetic → 6.1.0-other" in change.context


def test_changes_exit_codes(step_db: Path, cli: Cli) -> None:
    db = ["--db", str(step_db)]
    code, out, err = cli("history", "changes", *db)
    assert code == 1 and out.startswith("+ efficientnet_b1 · fake") and "fake 1.0 → 1.1" in out
    assert "1 slowdown(s) above 5.0%" in err
    assert cli("history", "changes", "--threshold", "10%", *db)[0] == 0
    assert cli("history", "changes", "--threshold", "0.05", *db)[0] == 1
    code, out, err = cli("history", "changes", "--since", "2026-01-02", *db)  # the step is on Jan 1 at 20:00
    assert code == 0 and out == "" and "0 change(s)" in err
    code, out, _ = cli("history", "changes", "--format", "json", *db)
    (row,) = json.loads(out)
    assert code == 1 and row["slowdown"] and row["after_created"] == "2026-01-01T20:00:00+00:00"
    assert 6.0 < row["ratio"] * 100 - 100 < 8.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["changes", "--threshold", "fast"], "--threshold 'fast' is not a number"),
        (["changes", "--threshold=-5%"], "--threshold '-5%' is out of range"),
        (["changes", "--threshold=1200%"], "--threshold '1200%' is out of range"),
        (["changes", "--since", "yesterday"], "invalid --since 'yesterday'"),
        (["changes", "--model", "b9x"], "not in the history"),
        (["show", "-m", "b1", "--last", "0"], "invalid --last 0"),
        (["show", "-m", "b1", "--threads", "0"], "invalid --threads 0"),
        (["show", "-m", "b1", "--precision", "bf16"], "no runs match"),
        (["show", "-m", "b1", "--plot", "trend.pdf"], "ending in .svg or .png"),
    ],
)
def test_bad_input_is_one_line_exit_2(step_db: Path, cli: Cli, args: list[str], message: str) -> None:
    code, _, err = cli("history", *args, "--db", str(step_db))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_history_without_subcommand_prints_help(cli: Cli) -> None:
    code, out, _ = cli("history")
    assert code == 2 and "index" in out and "changes" in out


def test_fake_document_is_a_valid_result(tmp_path: Path) -> None:
    (path,) = write_series(tmp_path, [1.0])
    doc = load_result(path)
    assert doc.status == "complete" and doc.cells[0].status == "ok"
    assert path.parent.name == SYNTHETIC_MACHINE_ID


# ------------------------------------------------------------------------------------------ commit order


def _git_repository(folder: Path, n_commits: int) -> list[str]:
    """A git repository with `n_commits` empty commits; their hashes, oldest first."""
    folder.mkdir()
    git = ["git", "-c", "user.name=effbench", "-c", "user.email=effbench@example.org", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=folder, check=True)
    for i in range(n_commits):
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", f"change {i}"], cwd=folder, check=True)
    done = subprocess.run(["git", "rev-list", "--reverse", "HEAD"], cwd=folder, check=True, capture_output=True)
    return done.stdout.decode().split()


def test_commit_order_positions() -> None:
    from bench.history.order import CommitOrder

    order = CommitOrder(("a" * 40, "ab" + "0" * 38, "ab" + "1" * 38, "c" * 40))
    assert [order.position(c) for c in ("c" * 40, "C" * 40, "a" * 12, "ab00000", "cccccc", "d" * 40, None)] == [
        3, 3, 0, 1, None, None, None
    ]  # fmt: skip
    assert order.position("ab" + "0" * 5) == 1 and order.position("ab000") is None  # 7 digits at least
    assert order.position("abab") is None and order.position("ab" * 4) is None  # unknown; ambiguous "ab"


def test_show_and_changes_order_by_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli) -> None:
    commits = _git_repository(tmp_path / "repo", 5)
    # Runs in time order measured commits 2, 0, 3 (abbreviated), 1, 1; then one of another repository and one
    # without a commit under test.
    measured = [commits[2], commits[0], commits[3][:10], commits[1], commits[1], "f" * 40, None]
    write_series(tmp_path / "results", [1.0] * len(measured), commits=measured)
    db = ["--db", str(tmp_path / "h.sqlite")]
    assert cli("history", "index", str(tmp_path / "results"), *db)[0] == 0
    monkeypatch.chdir(tmp_path / "repo")
    code, out, err = cli("history", "show", "-m", "b1", "--order", "commit", "--format", "json", *db)
    assert code == 0
    assert [r["label"] for r in json.loads(out)] == [f"run-{i:04d}" for i in (1, 3, 4, 0, 2, 5, 6)]
    assert err == (
        "effbench: note: 2 run(s) shown last, in time order: 1 with a commit not in the history of HEAD "
        "(ffffffffffff) and 1 without a commit under test\n"
    )
    code, out, _ = cli("history", "show", "-m", "b1", "--format", "json", *db)  # the default: time order
    assert [r["label"] for r in json.loads(out)] == [f"run-{i:04d}" for i in range(7)]
    plot = tmp_path / "by-commit.svg"
    assert cli("history", "show", "-m", "b1", "--order", "commit", "--plot", str(plot), *db)[0] == 0
    assert plot.stat().st_size > 10_000


def test_a_step_in_commit_order_is_found_when_runs_came_in_another_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    commits = _git_repository(tmp_path / "repo", 24)
    # Commits 12.. are 7% slower; they were measured in a shuffled order (a backfill), so run time says nothing.
    factors = step_factors(12, 12, 1.07, 0.005, random.Random(4))
    shuffled = list(range(24))
    random.Random(5).shuffle(shuffled)
    write_series(tmp_path / "results", [factors[i] for i in shuffled], commits=[commits[i] for i in shuffled])
    db = ["--db", str(tmp_path / "h.sqlite")]
    assert cli("history", "index", str(tmp_path / "results"), *db)[0] == 0
    monkeypatch.chdir(tmp_path / "repo")
    code, out, err = cli("history", "changes", "--order", "commit", "--format", "json", *db)
    (change,) = json.loads(out)
    assert code == 1 and "1 slowdown(s)" in err and "note" not in err
    first_slow = f"run-{shuffled.index(12):04d}"  # the run that measured commit 12
    assert change["after_run_id"] == next(
        r["run_id"] for r in json.loads(cli("history", "show", "-m", "b1", "--format", "json", *db)[1])
        if r["label"] == first_slow
    )  # fmt: skip
    assert (change["runs_before"], change["runs_after"]) == (12, 12)


def test_order_commit_outside_a_git_repository_is_one_line_exit_2(
    tmp_path: Path, step_db: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no repository above tmp_path is found
    monkeypatch.chdir(tmp_path)
    for command in (["show", "-m", "b1"], ["changes"]):
        code, out, err = cli("history", *command, "--order", "commit", "--db", str(step_db))
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
        assert f"but {tmp_path} has none" in err and "use --order time" in err


def test_command_order_choices_are_the_history_ones() -> None:
    from bench.commands.history import ORDERS
    from bench.history.order import ORDERS as HISTORY_ORDERS

    assert ORDERS == HISTORY_ORDERS
