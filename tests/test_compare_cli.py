"""`effbench compare` end to end on synthetic result documents: every exit code, every error path, the formats."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bench.document import ResultDocument
from bench.machine.info import MachineInfo
from bench.results import document_text, load_result

if TYPE_CHECKING:
    from conftest import Cli

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "format1-result.json"
QUIET = [10.0, 10.2, 9.9, 10.1, 9.8, 10.05, 10.15, 9.95, 10.0]  # ≈ 1.3% between-process spread
CELL = "efficientnet_b1 · openvino · bf16 · 1t/1cpu"  # the fixture ran bf16 where fp32 was asked


def document(medians: list[float], *, model: str | None = None, machine: str | None = None) -> ResultDocument:
    """The committed result's first cell with one process per median (its samples all at that median)."""
    doc = load_result(FIXTURE)
    cell = doc.cells[0]
    template = cell.processes[0]
    processes = tuple(
        replace(template, process_index=i, samples_ns=(round(m * 1e6),) * 100) for i, m in enumerate(medians)
    )
    assert cell.summary is not None
    summary = replace(cell.summary, process_medians_ms=tuple(medians))
    # "target met": the fixture's cell stopped at a cap, which would make an inconclusive cell noisy
    stop = "target met: synthetic"
    cell = replace(cell, processes=processes, summary=summary, model=model or cell.model, stop_reason=stop)
    if machine is not None:
        doc = replace(doc, machine=MachineInfo({**doc.machine.data, "id": machine}))
    return replace(doc, cells=(cell,))


def write(tmp_path: Path, name: str, doc: ResultDocument) -> str:
    path = tmp_path / name
    path.write_text(document_text(doc))
    return str(path)


@pytest.fixture
def base(tmp_path: Path) -> str:
    return write(tmp_path, "base.json", document(QUIET))


def test_no_change_exits_0(cli: Cli, tmp_path: Path, base: str) -> None:
    new = write(tmp_path, "new.json", document([m * 1.005 for m in reversed(QUIET)]))
    code, out, _ = cli("compare", base, new)
    assert code == 0
    assert f"~ {CELL}: " in out and out.strip().splitlines()[-1].startswith("1 no change (threshold ±5%")


def test_regression_exits_1(cli: Cli, tmp_path: Path, base: str) -> None:
    new = write(tmp_path, "new.json", document([m * 1.10 for m in reversed(QUIET)]))
    code, out, _ = cli("compare", base, new)
    assert code == 1 and f"+ {CELL}: +10." in out and "1 regression" in out
    # an improvement the other way round is not a failure
    code, out, _ = cli("compare", new, base)
    assert code == 0 and "1 improvement" in out


def test_inconclusive_exits_3_only_when_strict(cli: Cli, tmp_path: Path) -> None:
    base = write(tmp_path, "base.json", document([10.0, 10.3, 9.7]))
    new = write(tmp_path, "new.json", document([10.6, 10.9, 10.3]))
    code, out, _ = cli("compare", base, new)
    assert code == 0 and "1 inconclusive" in out and "more processes per arm" in out
    code, out, _ = cli("compare", base, new, "--strict")
    assert code == 3


def test_newly_failing_cell_exits_1(cli: Cli, tmp_path: Path, base: str) -> None:
    doc = document(QUIET)
    failed = replace(doc, cells=(replace(doc.cells[0], status="failed", error="worker killed by signal SIGSEGV"),))
    code, out, _ = cli("compare", base, write(tmp_path, "new.json", failed))
    assert code == 1 and "F " in out and "1 newly failing" in out


def assert_one_line_exit_2(code: int, err: str, message: str) -> None:
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("effbench: error: "), err
    assert message in err, err


def test_missing_file(cli: Cli, tmp_path: Path, base: str) -> None:
    code, _, err = cli("compare", base, str(tmp_path / "nope.json"))
    assert_one_line_exit_2(code, err, "nope.json does not exist")


def test_truncated_file(cli: Cli, tmp_path: Path, base: str) -> None:
    text = Path(base).read_text()
    truncated = tmp_path / "cut.json"
    truncated.write_text(text[: len(text) // 2])
    code, _, err = cli("compare", base, str(truncated))
    assert_one_line_exit_2(code, err, "it may be truncated")


def test_newer_format_file(cli: Cli, tmp_path: Path, base: str) -> None:
    raw = json.loads(Path(base).read_text())
    raw["format_version"] = 99
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(raw))
    code, _, err = cli("compare", str(newer), base)
    assert_one_line_exit_2(code, err, "written by a newer effbench (format 99")


def test_pyperf_file(cli: Cli, tmp_path: Path, base: str) -> None:
    pyperf = tmp_path / "pyperf.json"
    pyperf.write_text(json.dumps({"version": "1.0", "metadata": {}, "benchmarks": []}))
    code, _, err = cli("compare", base, str(pyperf))
    assert_one_line_exit_2(code, err, "looks like a pyperf file")


def test_no_common_cells(cli: Cli, tmp_path: Path, base: str) -> None:
    other = write(tmp_path, "other.json", document(QUIET, model="resnet50"))
    code, _, err = cli("compare", base, other)
    assert_one_line_exit_2(code, err, "BASE and NEW have no cell in common")


def test_another_machine_needs_across_machines(cli: Cli, tmp_path: Path, base: str) -> None:
    elsewhere = write(tmp_path, "elsewhere.json", document(QUIET, machine="amd-epyc-00000000"))
    code, _, err = cli("compare", base, elsewhere)
    assert_one_line_exit_2(code, err, "pass --across-machines")
    code, out, _ = cli("compare", base, elsewhere, "--across-machines")
    assert code == 0 and "compared across machines on request" in out and "1 no change" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold", "abc"], "--threshold 'abc' is not a number"),
        (["--threshold", "150%"], "threshold 1.5 is out of range"),
        (["--threshold", "0"], "threshold 0 is out of range"),
        (["--alpha", "0.7"], "alpha 0.7 is out of range"),
        (["--alpha", "x"], "--alpha 'x' is not a number"),
        (["--floor-ms", "-1"], "floor -1 ms is out of range"),
    ],
)
def test_bad_option_values(cli: Cli, tmp_path: Path, base: str, args: list[str], message: str) -> None:
    code, _, err = cli("compare", base, base, *args)
    assert_one_line_exit_2(code, err, message)


def test_bad_options_fail_before_reading_files(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("compare", str(tmp_path / "none.json"), "--alpha", "0.9")
    assert_one_line_exit_2(code, err, "alpha 0.9 is out of range")


def test_one_file_that_is_not_an_ab_run(cli: Cli, base: str) -> None:
    code, _, err = cli("compare", base)
    assert_one_line_exit_2(code, err, "no complete A/B arms")


def test_one_ab_file_is_judged_as_paired_blocks(cli: Cli, tmp_path: Path) -> None:
    # A shared drift of 2% per round that Welch would see as spread; NEW is 10% slower in every block.
    drift = [10.0 * 1.02**i for i in range(9)]
    base_cell = replace(document(drift).cells[0], arm="base")
    new_cell = replace(document([m * 1.1 for m in drift]).cells[0], arm="new")
    ab = write(tmp_path, "ab.json", replace(document(drift), cells=(base_cell, new_cell)))
    code, out, err = cli("compare", ab, "--format", "json")
    assert code == 1
    (cell,) = json.loads(out)["cells"]
    assert cell["verdict"] == "regression" and cell["ci_low"] == pytest.approx(1.1) == cell["ci_high"]
    assert "1 regression" in err


def test_markdown_and_json_formats(cli: Cli, tmp_path: Path, base: str) -> None:
    slow = write(tmp_path, "slow.json", document([m * 1.10 for m in reversed(QUIET)]))
    code, out, err = cli("compare", base, slow, "--format", "md")
    assert code == 1
    assert out.startswith("### effbench compare: machine ")
    assert f"| + | {CELL} | regression |" in out
    assert "Marks: `+` slower" in out
    closing = out.strip().splitlines()[-1]
    assert closing.startswith("**1 regression (threshold ±5%") and closing.endswith(")**")
    assert err.strip() == closing.strip("*")  # the closing line on stderr too, for the CI log

    code, out, err = cli("compare", base, slow, "--format", "json", "--correction", "bh")
    assert code == 1
    data = json.loads(out)
    assert data["summary"]["counts"]["regression"] == 1 and data["summary"]["correction"] == "bh"
    assert data["summary"]["line"] == err.strip()
    (cell,) = data["cells"]
    assert cell["mark"] == "+" and cell["ci_low"] > 1.0 and cell["p_adjusted"] < 0.05
