"""Golden tests: every committed result document rendered to every view format, compared with checked-in text.

The expected files under tests/golden/ were captured from the rendering code before it moved into bench/views,
so they prove that results/ loads and renders exactly as before. After an intended change of the output,
regenerate them with

    EFFBENCH_UPDATE_GOLDEN=1 python -m pytest tests/test_views.py

and review the diff of tests/golden/ before committing it.
"""

from __future__ import annotations

import io
import os
from dataclasses import replace
from pathlib import Path

import pytest
from published import published_documents
from rich.console import Console

from bench.document import CellRecord
from bench.results import load_result
from bench.views.console import emit
from bench.views.format import format_ms, format_seconds
from bench.views.latency import json_summary, latency_rows, render_latency_table
from bench.views.tables import FORMATS

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
FIXTURES = ROOT / "tests" / "fixtures"
DOCUMENTS = published_documents() + sorted(FIXTURES.glob("format1-*.json"))
# The width a piped `effbench latency` renders at (bench.views.console.PIPED_MIN_WIDTH): no folding.
TERM_WIDTH = 180
UPDATE = os.environ.get("EFFBENCH_UPDATE_GOLDEN") == "1"


def render(path: Path, fmt: str) -> str:
    doc = load_result(path)
    view = render_latency_table(doc.cells, fmt, doc.warnings)
    if fmt != "table":
        assert isinstance(view, str)
        return view
    out = io.StringIO()
    emit(view, Console(file=out, width=TERM_WIDTH, color_system=None, highlight=False))
    return out.getvalue()


def golden_path(path: Path, fmt: str) -> Path:
    return GOLDEN / f"{path.parent.name}-{path.stem}.{fmt}.txt"


def test_there_are_documents_to_render() -> None:
    # Without this, a moved results/ folder would leave the parametrized tests below with nothing to check.
    assert len([p for p in DOCUMENTS if p.parent.name != "fixtures"]) >= 3
    assert (FIXTURES / "format1-result.json") in DOCUMENTS


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_view_matches_golden(path: Path, fmt: str) -> None:
    text = render(path, fmt)
    expected = golden_path(path, fmt)
    if UPDATE:
        expected.write_text(text, encoding="utf-8")
    assert expected.is_file(), f"no golden file {expected}: run with EFFBENCH_UPDATE_GOLDEN=1"
    assert text == expected.read_text(encoding="utf-8")


CELL = CellRecord.from_dict(
    {
        "model": "efficientnet_b1",
        "backend": "openvino",
        "precision": "fp32",
        "threads": 1,
        "cpus": [1],
        "status": "ok",
        "error": None,
        "warnings": ["all processes: something to say"],
        "summary": {
            "median_ms": 19.912,
            "p90_ms": 20.5,
            "p99_ms": 23.25,
            "median_ci95_ms": [19.85, 19.98],
            "n": 480,
            "processes": 3,
        },
        "processes": [
            {
                "effective": {"precision": "fp32", "runtime_precision": {"compute": {"f32": 200, "i32": 4}}},
                "cold_start": {"import_s": 0.2, "load_s": 0.05, "compile_s": 0.3, "first_inference_s": 0.031},
                "samples_ns": [],
            }
        ],
    }
)


def test_latency_rows_and_json_summary_of_a_fixed_cell() -> None:
    (row,) = latency_rows([CELL])
    assert row == {
        "model": "efficientnet_b1",
        "backend": "openvino",
        "precision": "fp32",
        "threads": 1,
        "cpus": "1",
        "median": "19.91",
        "p90": "20.50",
        "p99": "23.25",
        "ci": "19.85–19.98",
        "samples": "480/3",
        "cold": "350 ms + 31 ms",
        "status": "ok",
    }
    capped = replace(CELL, stop_reason="cap hit: cell time cap 20 s reached with median CI ±1.13% > ±1.00%")
    assert latency_rows([capped])[0]["status"] == "cap hit"
    met = replace(CELL, stop_reason="target met: 3 processes, 480 samples, median CI ±0.33% ≤ ±1.00%")
    assert latency_rows([met])[0]["status"] == "ok"
    (summary,) = json_summary([CELL])
    assert summary == {
        "model": "efficientnet_b1",
        "backend": "openvino",
        "precision": "fp32",
        "effective_precision": "fp32",
        "threads": 1,
        "cpus": [1],
        "median_ms": 19.912,
        "p90_ms": 20.5,
        "p99_ms": 23.25,
        "median_ci95_ms": [19.85, 19.98],
        "n": 480,
        "processes": 3,
        "status": "ok",
        "error": None,
        "warnings": ["all processes: something to say"],
    }
    effective = {"precision": "fp32", "runtime_precision": {"compute": {"f32": 150, "bf16": 50, "i32": 4}}}
    mixed = replace(CELL, processes=(replace(CELL.processes[0], effective=effective),))
    assert latency_rows([mixed])[0]["precision"] == "fp32 (f32 75%, bf16 25%)"
    assert json_summary([mixed])[0]["effective_precision"] == "fp32 (f32 75%, bf16 25%)"


def test_number_formats() -> None:
    assert [format_ms(v) for v in (0.12345, 9.9994, 10.0, 99.994, 100.0, 1234.56)] == [
        "0.123",
        "9.999",
        "10.00",
        "99.99",
        "100.0",
        "1234.6",
    ]
    assert format_ms(None) is None
    assert [format_seconds(v) for v in (None, 0.0004, 0.35, 0.9994, 1.0, 12.345)] == [
        "–",
        "0 ms",
        "350 ms",
        "999 ms",
        "1.00 s",
        "12.35 s",
    ]


def test_notes_are_plain_text_not_markup() -> None:
    cell = replace(CELL, warnings=("a [bold]literal[/bold] bracket and CPU [1]",))
    out = io.StringIO()
    emit(render_latency_table([cell], "table"), Console(file=out, width=60, color_system=None))
    assert "warning: efficientnet_b1 · openvino: a [bold]literal[/bold] bracket and CPU [1]\n" in out.getvalue()


def test_unknown_view_format_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown view format 'html'"):
        render_latency_table([CELL], "html")
