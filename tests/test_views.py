"""Golden tests: every committed result document rendered to every view format, compared with checked-in text.

The expected files under tests/golden/ were captured from the rendering code before it moved into bench/views,
so they prove that results/ loads and renders exactly as before. After an intended change of the output,
regenerate them with

    EFFBENCH_UPDATE_GOLDEN=1 python -m pytest tests/test_views.py

and review the diff of tests/golden/ before committing it.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from rich.console import Console

from bench.commands.latency import LATENCY_COLUMNS, json_summary, print_table, table_rows
from bench.results import load_result
from bench.tables import format_csv, format_markdown_table

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
FIXTURES = ROOT / "tests" / "fixtures"
DOCUMENTS = sorted((ROOT / "results").glob("*/*.json")) + sorted(FIXTURES.glob("format1-*.json"))
FORMATS = ("term", "md", "csv", "json")
# The width a piped `effbench latency` renders at (bench.commands.latency._console): wide enough for no wrapping.
TERM_WIDTH = 180
UPDATE = os.environ.get("EFFBENCH_UPDATE_GOLDEN") == "1"


def render(path: Path, fmt: str) -> str:
    doc = load_result(path)
    cells = doc.cells
    if fmt == "term":
        console = Console(file=io.StringIO(), width=TERM_WIDTH, color_system=None, highlight=False)
        print_table(cells, doc.warnings, console)
        return console.file.getvalue()  # type: ignore[attr-defined]
    if fmt == "md":
        return format_markdown_table(table_rows(cells), LATENCY_COLUMNS)
    if fmt == "csv":
        return format_csv(table_rows(cells), LATENCY_COLUMNS)
    return json.dumps(json_summary(cells), indent=2) + "\n"


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
