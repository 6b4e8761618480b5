"""bench.results: the result document, atomic never-overwriting writes, loading/upgrading, pyperf export."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyperf
import pytest

from bench import document
from bench.cli import main
from bench.document import FORMAT_VERSION, CellRecord, ResultDocument, Settings, Summary
from bench.errors import EffbenchError
from bench.machine import machine_id
from bench.results import load_result, new_document, save_progress, write_result
from bench.views.pyperf import to_pyperf

MS = 1_000_000

MACHINE = {
    "hostname": "vm",
    "cpu": {"brand": "Intel(R) Xeon(R) Processor", "flags": ["avx2", "avx512f"]},
    "cores": {"logical": 2, "physical": 2},
    "memory": {"total_bytes": 24 * (1 << 30)},
    "kernel": "6.1.0",
    "platform": "Linux-6.1.0-x86_64-with-glibc2.36",
    "python": {"version": "3.11.7", "implementation": "CPython", "executable": "/usr/bin/python3"},
    "governor": "unavailable",
    "boost": "unavailable",
    "aslr": "full",
    "load_avg": [0.25, 0.1, 0.05],
    "effbench": {"version": "0.1.0", "git_commit": "a" * 40, "git_dirty": False},
    "runtimes": {"onnxruntime": "1.32.0", "openvino": "2026.4.1", "torch": None},
}
SETTINGS = Settings(threads=1, cpus=(1,), precision="fp32", preset="fast", policy={"min_time_s": 1.0})


def _process(pid: int, n: int, start_ms: float = 10.0, warmups: int = 3) -> dict[str, Any]:
    return {
        "pid": pid,
        "affinity": [1],
        "os_threads": 3,
        "versions": {"onnxruntime": "1.32.0"},
        "effective": {"intra_op_num_threads": 1, "allow_spinning": False},
        "cold_start": {"import_s": 0.1, "load_s": 0.2, "compile_s": 0.0, "first_inference_s": 0.05},
        "peak_rss_bytes": 123_456_789,
        "warmup_ns": [int((start_ms + 5) * MS)] * warmups,
        "samples_ns": [int((start_ms + 0.01 * (i % 7)) * MS) for i in range(n)],
        "cpu_time_s": 1.0,
        "wall_time_s": 1.01,
        "cpu_wall_ratio": 0.99,
        "stop_reason": "min_time",
        "cap_hit": False,
        "warnings": [],
    }


def _cell(model: str, backend: str, processes: list[dict[str, Any]], status: str = "ok") -> CellRecord:
    """A cell read from JSON that lacks some keys (stop_reason, elapsed_s…), as hand-made files may."""
    return CellRecord.from_dict(
        {
            "model": model,
            "model_spec": None,
            "fingerprint": "f" * 16,
            "artifact": {"format": "onnx", "path": "models/x.onnx", "sha256": "0" * 64},
            "backend": backend,
            "precision": "fp32",
            "threads": 1,
            "cpus": [1],
            "status": status,
            "error": None if status == "ok" else "worker crashed",
            "processes": processes,
            "summary": None,
            "warnings": [],
        }
    )


@pytest.fixture
def doc() -> ResultDocument:
    d = new_document(MACHINE, SETTINGS, ["effbench", "latency", "b0"])
    cells = (
        # unequal sample counts per process, and a crashed process with no samples
        _cell("efficientnet_b0", "onnxruntime", [_process(11, 80), _process(12, 95), _process(13, 0, warmups=0)]),
        _cell("efficientnet_b0", "openvino", [_process(21, 60, start_ms=12.0, warmups=0)]),
        _cell("resnet50", "onnxruntime", [], status="failed"),
    )
    return replace(d, cells=cells, status="complete")


def _with_cell(doc: ResultDocument, index: int, **changes: Any) -> ResultDocument:
    cells = list(doc.cells)
    cells[index] = replace(cells[index], **changes)
    return replace(doc, cells=tuple(cells))


# ------------------------------------------------------------------------------------------ new_document


def test_new_document_shape():
    d = new_document(MACHINE, SETTINGS, ["effbench", "latency"]).to_dict()
    assert list(d) == ["format", "format_version", "created", "effbench", "machine", "settings", "status",
                       "warnings", "cells"]  # fmt: skip
    assert d["format"] == "effbench-result" and d["format_version"] == FORMAT_VERSION == 2
    assert d["machine"]["id"] == machine_id(MACHINE) and "id" not in MACHINE  # the caller's dict is not changed
    assert d["effbench"]["git_commit"] == "a" * 40 and d["effbench"]["command"] == ["effbench", "latency"]
    assert len(d["effbench"]["run_id"]) == 32
    assert d["status"] == "interrupted"  # until the harness says "complete"
    assert d["cells"] == [] and d["warnings"] == [] and d["settings"] == SETTINGS.to_dict()
    assert d["settings"]["cpus"] == [1] and d["settings"]["weights"] is None
    assert d["created"].endswith("+00:00")
    assert new_document(MACHINE, SETTINGS, []).effbench.run_id != d["effbench"]["run_id"]


# ------------------------------------------------------------------------------------------------ writing


def test_write_result_default_path_and_round_trip(doc, tmp_path):
    path = write_result(doc, None, tmp_path / "results")
    stamp = doc.created[:19].replace("-", "").replace(":", "") + "Z"
    assert path == tmp_path / "results" / str(doc.machine.id) / f"{stamp}.json"
    assert load_result(path) == doc
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_write_result_never_overwrites(doc, tmp_path):
    first = write_result(doc, None, tmp_path)
    second = write_result(doc, None, tmp_path)
    third = write_result(doc, None, tmp_path)
    assert second == first.with_name(first.stem + "-1.json")
    assert third == first.with_name(first.stem + "-2.json")
    assert load_result(first) == doc


def test_explicit_output_that_exists_gets_a_new_name_and_a_note(doc, tmp_path, capsys):
    target = tmp_path / "mine.json"
    target.write_text("precious")
    written = write_result(doc, target, tmp_path / "unused")
    assert written == tmp_path / "mine-1.json"
    assert target.read_text() == "precious"
    err = capsys.readouterr().err
    assert f"{target} already exists; the result was written to {written}" in err
    assert write_result(doc, tmp_path / "new.json", tmp_path) == tmp_path / "new.json"


def test_result_file_mode_follows_the_umask(doc, tmp_path):
    old = os.umask(0o022)
    try:
        path = write_result(doc, tmp_path / "r.json", tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_sample_lists_are_one_line_each(doc, tmp_path):
    text = write_result(doc, tmp_path / "r.json", tmp_path).read_text()
    assert json.loads(text) == doc.to_dict()
    line = next(line for line in text.splitlines() if '"samples_ns"' in line)
    assert line.strip().startswith('"samples_ns": [') and line.rstrip().endswith("],")
    assert len(text.splitlines()) < 400


def test_write_into_an_unwritable_place_is_a_user_error(doc, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(EffbenchError, match=r"cannot write .*choose a writable folder"):
        write_result(doc, blocker / "sub" / "r.json", tmp_path)


def test_values_json_cannot_hold_are_made_plain(doc, tmp_path):
    import numpy as np

    artifact = doc.cells[0].artifact
    assert artifact is not None
    summary = Summary(median_ms=float("nan"), cv=float("inf"), n=np.int64(3))  # type: ignore[arg-type]
    doc = _with_cell(doc, 0, summary=summary, artifact=replace(artifact, path=tmp_path / "x.onnx"))
    path = write_result(doc, tmp_path / "r.json", tmp_path)
    raw = json.loads(path.read_text())["cells"][0]
    assert raw["summary"]["median_ms"] is None and raw["summary"]["cv"] is None and raw["summary"]["n"] == 3
    assert raw["artifact"]["path"] == str(tmp_path / "x.onnx")
    loaded = load_result(path).cells[0]
    assert loaded.summary is not None and loaded.summary.median_ms is None and loaded.summary.n == 3


def test_unstorable_value_is_a_bug_and_leaves_no_file(doc, tmp_path):
    doc = _with_cell(doc, 0, summary=Summary(extra={"oops": object()}))
    with pytest.raises(TypeError, match="cannot store a object in a result document"):
        write_result(doc, tmp_path / "r.json", tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------- save_progress


def test_save_progress_replaces_its_own_file(doc, tmp_path):
    path = write_result(doc, None, tmp_path)
    doc = replace(doc, cells=(*doc.cells, _cell("mobilenet_v2", "onnxruntime", [_process(31, 70)])))
    save_progress(doc, path)
    assert len(load_result(path).cells) == 4
    assert len(list(path.parent.iterdir())) == 1


def test_save_progress_refuses_another_runs_file(doc, tmp_path):
    other = new_document(MACHINE, SETTINGS, ["effbench", "latency"])
    path = write_result(other, tmp_path / "r.json", tmp_path)
    before = path.read_text()
    with pytest.raises(EffbenchError, match="belongs to another effbench run; refusing to overwrite"):
        save_progress(doc, path)
    assert path.read_text() == before
    (tmp_path / "notes.json").write_text("not a result")
    with pytest.raises(EffbenchError, match="belongs to another"):
        save_progress(doc, tmp_path / "notes.json")


def test_save_progress_recreates_a_deleted_file(doc, tmp_path):
    path = write_result(doc, tmp_path / "r.json", tmp_path)
    path.unlink()
    save_progress(doc, path)
    assert load_result(path) == doc


# ---------------------------------------------------------------------------------------------- loading


def _bad(tmp_path, text: str) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(text)
    return path


def test_load_missing_file(tmp_path):
    with pytest.raises(EffbenchError, match=r"result file .*nope.json does not exist: check the path"):
        load_result(tmp_path / "nope.json")


def test_load_folder(tmp_path):
    with pytest.raises(EffbenchError, match="is a folder, not a result file"):
        load_result(tmp_path)


def test_load_truncated(doc, tmp_path):
    text = write_result(doc, tmp_path / "r.json", tmp_path).read_text()
    path = _bad(tmp_path, text[: len(text) // 2])
    with pytest.raises(EffbenchError) as info:
        load_result(path)
    message = str(info.value)
    assert message.startswith(f"{path} is not a valid effbench result (JSON error at line ")
    assert message.endswith("): it may be truncated; re-run the measurement")


def test_load_binary(tmp_path):
    path = tmp_path / "bin.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(EffbenchError, match="not UTF-8"):
        load_result(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([1, 2], "format is 'list', expected 'effbench-result'"),
        ({"format": "other"}, "format is 'other', expected 'effbench-result'"),
        ({"version": "1.0", "benchmarks": []}, "looks like a pyperf file"),
        ({"format": "effbench-result", "format_version": "1"}, "invalid format_version '1'"),
        ({"format": "effbench-result", "format_version": 0}, "invalid format_version 0"),
        (
            {"format": "effbench-result", "format_version": 99},
            r"written by a newer effbench \(format 99 > 2\): upgrade",
        ),
        ({"format": "effbench-result", "format_version": 1, "machine": {}, "settings": {}}, "'cells' is missing"),
    ],
)
def test_load_rejects(tmp_path, content, message):
    with pytest.raises(EffbenchError, match=message):
        load_result(_bad(tmp_path, json.dumps(content)))


def test_upgrade_chain(doc, tmp_path, monkeypatch):
    path = write_result(doc, tmp_path / "v2.json", tmp_path)

    def v2_to_v3(d):
        d = dict(d)
        d["renamed_cells"] = d["cells"]
        return d

    three = replace(document.RESULT_FORMAT, version=3, upgrades={**document._UPGRADES, 2: v2_to_v3})
    monkeypatch.setattr(document, "RESULT_FORMAT", three)
    loaded = load_result(path)
    assert loaded.format_version == 3 and loaded.extra["renamed_cells"] == doc.to_dict()["cells"]
    monkeypatch.setattr(document, "RESULT_FORMAT", replace(three, upgrades=document._UPGRADES))
    with pytest.raises(
        EffbenchError, match=r"has format 2, which this effbench cannot upgrade \(no step from 2 to 3\)"
    ):
        load_result(path)


# ------------------------------------------------------------------------------------------ pyperf export


def test_to_pyperf_structure(doc):
    suite = to_pyperf(doc)
    assert suite.get_benchmark_names() == ["efficientnet_b0/onnxruntime/fp32/t1", "efficientnet_b0/openvino/fp32/t1"]
    ort = suite.get_benchmark("efficientnet_b0/onnxruntime/fp32/t1")
    runs = ort.get_runs()
    assert [len(r.values) for r in runs] == [80, 95]  # the crashed process is left out; counts may differ
    assert runs[0].values[0] == pytest.approx(0.010)  # seconds
    assert runs[0].warmups == ((1, pytest.approx(0.015)),) * 3
    assert ort.get_unit() == "second" and ort.get_nvalue() == 175
    meta = runs[0].get_metadata()
    assert meta["cpu_model_name"] == "Intel(R) Xeon(R) Processor"
    assert meta["cpu_count"] == 2 and meta["hostname"] == "vm" and meta["aslr"] == "Full randomization"
    assert meta["python_version"] == "3.11.7" and meta["platform"].startswith("Linux")
    assert meta["effbench_threads"] == 1 and meta["effbench_precision"] == "fp32"
    assert meta["effbench_cpus"] == "1" and meta["effbench_preset"] == "fast"
    assert json.loads(meta["effbench_policy"]) == {"min_time_s": 1.0}
    assert meta["onnxruntime_version"] == "1.32.0" and "torch_version" not in meta  # what the worker loaded
    assert meta["installed_openvino"] == "2026.4.1" and "installed_torch" not in meta
    assert meta["effbench_pid"] == 11 and meta["mem_max_rss"] == 123_456_789
    assert meta["effbench_git_commit"] == "a" * 40
    ov = suite.get_benchmark("efficientnet_b0/openvino/fp32/t1").get_runs()[0]
    assert ov.warmups == ()


def test_to_pyperf_repeated_cells_get_distinct_names(doc):
    doc = replace(doc, cells=(*doc.cells, _cell("efficientnet_b0", "openvino", [_process(41, 70)])))
    assert to_pyperf(doc).get_benchmark_names()[-1] == "efficientnet_b0/openvino/fp32/t1#2"


def test_to_pyperf_zero_ns_sample_is_kept_positive(doc):
    process = doc.cells[1].processes[0]
    doc = _with_cell(doc, 1, processes=(replace(process, samples_ns=(0, *process.samples_ns[1:])),))
    run = to_pyperf(doc).get_benchmark("efficientnet_b0/openvino/fp32/t1").get_runs()[0]
    assert run.values[0] == 1e-9


def test_to_pyperf_without_samples_is_a_user_error(doc):
    doc = replace(doc, cells=doc.cells[2:])
    with pytest.raises(EffbenchError, match="no measured samples"):
        to_pyperf(doc)


def _pyperf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pyperf", *args], capture_output=True, text=True, timeout=60)


def test_export_pyperf_cli_and_pyperf_reads_it(doc, tmp_path, capsys):
    source = write_result(doc, tmp_path / "r.json", tmp_path)
    out = tmp_path / "out.json"
    assert main(["export-pyperf", str(source), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    suite = pyperf.BenchmarkSuite.load(str(out))
    assert len(suite) == 2
    stats = _pyperf("stats", str(out))
    assert stats.returncode == 0, stats.stderr
    assert "efficientnet_b0/onnxruntime/fp32/t1" in stats.stdout
    assert "Total number of values: 175" in stats.stdout and "Number of value per run: 87.5 (average)" in stats.stdout
    hist = _pyperf("hist", str(out))
    assert hist.returncode == 0, hist.stderr
    assert "efficientnet_b0/openvino/fp32/t1" in hist.stdout
    show = _pyperf("show", "--metadata", str(out))
    assert show.returncode == 0 and "cpu_model_name: Intel(R) Xeon(R) Processor" in show.stdout


def test_export_pyperf_default_name_never_overwrites(doc, tmp_path, capsys):
    source = write_result(doc, tmp_path / "r.json", tmp_path)
    assert main(["export-pyperf", str(source)]) == 0
    assert (tmp_path / "r.pyperf.json").is_file()
    capsys.readouterr()
    assert main(["export-pyperf", str(source)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == f"wrote {tmp_path / 'r.pyperf-1.json'}"
    assert "already exists; wrote" in captured.err


def test_export_pyperf_missing_file(tmp_path, capsys):
    assert main(["export-pyperf", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("effbench: error: result file ") and "missing.json does not exist" in err


def test_export_pyperf_not_a_result(tmp_path, capsys):
    path = _bad(tmp_path, "{")
    assert main(["export-pyperf", str(path)]) == 2
    assert "is not a valid effbench result (JSON error at line 1)" in capsys.readouterr().err


def test_export_pyperf_result_without_samples(doc, tmp_path, capsys):
    doc = replace(doc, cells=doc.cells[2:])
    source = write_result(doc, tmp_path / "r.json", tmp_path)
    assert main(["export-pyperf", str(source)]) == 2
    assert "no measured samples" in capsys.readouterr().err
    assert not (tmp_path / "r.pyperf.json").exists()


def test_export_pyperf_needs_a_file(capsys):
    with pytest.raises(SystemExit) as info:
        main(["export-pyperf"])
    assert info.value.code == 2
    assert "the following arguments are required: FILE" in capsys.readouterr().err


def test_export_pyperf_unwritable_output(doc, tmp_path, capsys):
    source = write_result(doc, tmp_path / "r.json", tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["export-pyperf", str(source), "-o", str(blocker / "out.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"effbench: error: cannot write {blocker / 'out.json'}: ")
    assert err.rstrip().endswith("choose a writable folder")
