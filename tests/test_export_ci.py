"""`effbench export-ci`: both formats valid against the schemas their projects publish, golden output of a
committed document, the median of process medians with its CI, cells left out, and every bad input as exit 2.

The golden files under tests/golden/ci/ are regenerated with EFFBENCH_UPDATE_GOLDEN=1 (review their diff).
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from published import published_documents

from bench.cli import main
from bench.results import load_result
from bench.views.ci_formats import CI_FORMATS, ci_entries, render_ci

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "results" / "amd-epyc-cbe573dd" / "paper-20261127T021740Z.json"
AB = ROOT / "results" / "amd-epyc-cbe573dd" / "ab-ort-1.20-vs-1.32.json"
EDGE = ROOT / "tests" / "fixtures" / "format1-edge-cells.json"
GOLDEN = ROOT / "tests" / "golden" / "ci"
UPDATE = os.environ.get("EFFBENCH_UPDATE_GOLDEN") == "1"

# github-action-benchmark's custom tools (customSmallerIsBetter / customBiggerIsBetter), from its README ("an array
# of objects, each with name, unit and value; range and extra optional") and its BenchmarkResult interface
# (src/extract.ts: name: string, value: number, range?: string, unit: string, extra?: string). The action reads
# only these five keys: anything else would be dropped silently, so the schema refuses it.
GITHUB_ACTION_BENCHMARK_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema",
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "value": {"type": "number"},
            "unit": {"type": "string"},
            "range": {"type": "string"},
            "extra": {"type": "string"},
        },
        "required": ["name", "value", "unit"],
        "additionalProperties": False,
    },
}

# Bencher Metric Format, as its reference page publishes it ("Bencher Metric Format (BMF) JSON Schema",
# $id https://bencher.dev/bmf.json).
BMF_SCHEMA: dict[str, Any] = {
    "$id": "https://bencher.dev/bmf.json",
    "$schema": "http://json-schema.org/draft-07/schema",
    "type": "object",
    "patternProperties": {
        ".+": {
            "type": "object",
            "patternProperties": {
                ".+": {
                    "type": "object",
                    "properties": {
                        "value": {"type": "number"},
                        "lower_value": {"type": "number"},
                        "upper_value": {"type": "number"},
                    },
                    "required": ["value"],
                }
            },
        }
    },
}
SCHEMAS = {"github-action-benchmark": GITHUB_ACTION_BENCHMARK_SCHEMA, "bmf": BMF_SCHEMA}
BMF_NAME_MAX = 1024  # Bencher's limit on a Benchmark name


def _validate(fmt: str, data: Any) -> None:
    jsonschema.Draft7Validator(SCHEMAS[fmt]).validate(data)
    if fmt == "bmf":
        for name, measures in data.items():
            assert len(name) <= BMF_NAME_MAX
            assert set(measures) == {"latency"}  # Bencher's built-in latency Measure (nanoseconds)
            metric = measures["latency"]
            assert metric["lower_value"] <= metric["value"] <= metric["upper_value"]


def test_the_schemas_refuse_what_the_dashboards_would_refuse() -> None:
    # The schemas are what the tests below rely on: show that each can fail.
    with pytest.raises(jsonschema.ValidationError):
        _validate("github-action-benchmark", [{"name": "x", "value": "1.0", "unit": "ms"}])
    with pytest.raises(jsonschema.ValidationError):
        _validate("github-action-benchmark", {"x": {"value": 1.0}})
    with pytest.raises(jsonschema.ValidationError):
        _validate("bmf", {"x": {"latency": {"lower_value": 1.0}}})
    with pytest.raises(jsonschema.ValidationError):
        _validate("bmf", [{"name": "x", "value": 1.0}])


@pytest.mark.parametrize("fmt", CI_FORMATS)
def test_golden_output_of_a_committed_document(fmt: str) -> None:
    text, left_out = render_ci(load_result(PAPER), fmt)
    assert left_out == []
    _validate(fmt, json.loads(text))
    expected = GOLDEN / f"{PAPER.stem}.{fmt}.json"
    if UPDATE:
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(text, encoding="utf-8")
    assert expected.is_file(), f"no golden file {expected}: run with EFFBENCH_UPDATE_GOLDEN=1"
    assert text == expected.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", published_documents(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_published_document_exports_valid_json(path: Path) -> None:
    doc = load_result(path)
    for fmt in CI_FORMATS:
        data = json.loads(render_ci(doc, fmt)[0])
        _validate(fmt, data)
        assert len(data) == len(doc.cells)  # one entry per cell, names unique


def test_value_is_the_median_of_process_medians_with_the_cells_ci() -> None:
    doc = load_result(PAPER)
    cell = doc.cells[0]
    assert cell.summary is not None and cell.summary.median_ci95_ms is not None
    entries, _ = ci_entries(doc)
    entry = entries[0]
    # Not the pooled median (6.945 ms): one slow process of three moves a pooled median, not a median of medians.
    assert entry.median_ms == pytest.approx(statistics.median(cell.summary.process_medians_ms)) == 6.825489
    assert entry.median_ms != pytest.approx(cell.summary.median_ms)
    gab = json.loads(render_ci(doc, "github-action-benchmark")[0])[0]
    low, high = cell.summary.median_ci95_ms
    assert gab["name"] == "efficientnet_b0/onnxruntime/fp32/t1" and gab["unit"] == "ms"
    assert gab["value"] == pytest.approx(6.825489)
    assert gab["range"] == f"± {max(entry.median_ms - low, high - entry.median_ms):.3g}" == "± 1.68"
    assert "3 processes, medians 8.510, 6.818, 6.825 ms" in gab["extra"]
    assert "runtime onnxruntime 1.32.0" in gab["extra"] and "warning: processes disagree" in gab["extra"]
    bmf = json.loads(render_ci(doc, "bmf")[0])["efficientnet_b0/onnxruntime/fp32/t1"]["latency"]
    assert bmf == {"value": 6825489.0, "lower_value": pytest.approx(low * 1e6), "upper_value": high * 1e6}


def test_ab_document_names_each_arm_and_keeps_its_runtime() -> None:
    data = json.loads(render_ci(load_result(AB), "github-action-benchmark")[0])
    assert [d["name"] for d in data] == [
        "efficientnet_b0/onnxruntime/fp32/t1/base",
        "efficientnet_b0/onnxruntime/fp32/t1/new",
    ]
    assert "onnxruntime 1.20.1" in data[0]["extra"] and "onnxruntime 1.32.0" in data[1]["extra"]


def test_failed_and_skipped_cells_are_left_out_and_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-ci", str(EDGE), "--format", "bmf"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    _validate("bmf", data)
    assert list(data) == ["efficientnet_b1/openvino/bf16/t1"]
    assert "left out efficientnet_b1/onnxruntime/bf16/t1 (skipped: onnxruntime does not support bf16 here)" in err
    assert "left out resnet152/torch/bf16/t1 (failed: process 2 failed" in err
    assert "left out efficientnet_b1/openvino/bf16/t1#2 (interrupted:" in err


def test_output_file_is_written_and_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    out.write_text("old")
    assert main(["export-ci", str(AB), "--format", "github-action-benchmark", "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert json.loads(out.read_text())[1]["name"].endswith("/new")


def test_pyperf_format_is_export_pyperf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    via_ci, via_old = tmp_path / "a.pyperf.json", tmp_path / "b.pyperf.json"
    assert main(["export-ci", str(AB), "--format", "pyperf", "-o", str(via_ci)]) == 0
    assert main(["export-pyperf", str(AB), "-o", str(via_old)]) == 0
    assert via_ci.read_bytes() == via_old.read_bytes()


def _newer(tmp_path: Path) -> Path:
    raw = json.loads(AB.read_text())
    raw["format_version"] = 99
    path = tmp_path / "newer.json"
    path.write_text(json.dumps(raw))
    return path


def _truncated(tmp_path: Path) -> Path:
    path = tmp_path / "cut.json"
    path.write_text(AB.read_text()[:500])
    return path


def _nothing_measured(tmp_path: Path) -> Path:
    raw = json.loads(EDGE.read_text())
    raw["cells"] = [c for c in raw["cells"] if c["status"] != "ok"]
    path = tmp_path / "failed.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda t: t / "missing.json", ["--format", "bmf"], "does not exist"),
        (_truncated, ["--format", "bmf"], "it may be truncated"),
        (_newer, ["--format", "github-action-benchmark"], "written by a newer effbench (format 99"),
        (_nothing_measured, ["--format", "bmf"], "no measured cell (3 failed or skipped)"),
        (lambda t: AB, ["--format", "junit"], "invalid choice: 'junit'"),
        (lambda t: AB, [], "the following arguments are required: --format"),
        (lambda t: AB, ["--format", "bmf", "-o", "/proc/effbench-ci.json"], "cannot write /proc/effbench-ci.json"),
    ],
    ids=["missing", "truncated", "newer-format", "nothing-measured", "unknown-format", "no-format", "unwritable"],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, args: list[str], message: str
) -> None:
    path = make(tmp_path)
    code: object = None
    try:
        code = main(["export-ci", str(path), *args])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("effbench: error: ") and message in err, err
