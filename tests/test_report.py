"""effbench report: golden text for every format from the committed documents, plots present and reproducible,
Table 4 ratios, the hardware report's same-bytes rule, and every bad input."""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.calibration import PeakCalibration, PrecisionPeak
from bench.cli import main
from bench.document import ResultDocument
from bench.results import load_result
from bench.views.machines_data import build_machines_report
from bench.views.report_data import build_report, ratio_ci
from bench.views.report_render import REPORT_FORMATS, render_report

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = sorted((ROOT / "results" / "intel-xeon-bf96a8ca").glob("2026*.json"))
GOLDEN = Path(__file__).parent / "golden" / "report"
# EFFBENCH_UPDATE_GOLDEN=1 rewrites the expected files from the current code: review the diff before committing.
UPDATE = os.environ.get("EFFBENCH_UPDATE_GOLDEN") == "1"
FIGURE = re.compile(r"<figure id='[^']+'>.*?</figure>", re.S)


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path}: run with EFFBENCH_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def docs() -> list[tuple[Path, ResultDocument]]:
    return [(p, load_result(p)) for p in COMMITTED]


@pytest.mark.parametrize("fmt", [f for f in REPORT_FORMATS if f != "html"])
def test_every_text_format_matches_its_golden_file(docs: list[tuple[Path, ResultDocument]], fmt: str) -> None:
    rendered = render_report(build_report(docs), fmt, None)
    _golden(f"xeon.{'txt' if fmt == 'term' else fmt}", rendered.text)


def test_html_matches_golden_apart_from_the_plots_and_embeds_them(docs: list[tuple[Path, ResultDocument]]) -> None:
    text = render_report(build_report(docs), "html").text
    figures = FIGURE.findall(text)
    assert [re.search(r"id='([^']+)'", f).group(1) for f in figures] == [  # type: ignore[union-attr]
        "figure1",
        "latency-vs-macs",
        "table4-speedups",
    ]
    for figure in figures:  # self-contained: inline SVG and a PNG data URI, no external reference
        assert "<svg" in figure and "data:image/png;base64," in figure and len(figure) > 20_000
    assert "src='http" not in text and 'href="http' not in text
    _golden("xeon.html", FIGURE.sub("<figure/>", text))


def test_markdown_with_a_stem_writes_svg_and_png_plots_and_links_them(docs: list[tuple[Path, ResultDocument]]) -> None:
    rendered = render_report(build_report(docs), "md", "paper")
    assert sorted(rendered.files) == sorted(
        f"paper-{slug}.{ext}" for slug in ("figure1", "latency-vs-macs", "table4-speedups") for ext in ("svg", "png")
    )
    for name, data in rendered.files.items():
        assert len(data) > 5_000
        assert data.startswith(b"\x89PNG") if name.endswith(".png") else b"<svg" in data[:2_000]
        assert f"({name})" in rendered.text


def test_output_is_byte_identical_between_runs(docs: list[tuple[Path, ResultDocument]], tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run / "report.md"
        assert main(["report", *map(str, COMMITTED), "--output", str(out)]) == 0
        outputs.append({p.name: p.read_bytes() for p in sorted(out.parent.iterdir())})
    assert len(outputs[0]) == 7 and outputs[0] == outputs[1]


def test_table4_speedup_is_the_ratio_of_process_medians_of_one_document(
    docs: list[tuple[Path, ResultDocument]],
) -> None:
    data = build_report(docs)
    row = next(r for r in data.table4 if r.series == "onnxruntime fp32")
    cells = {c.model: c.summary for c in docs[1][1].cells if c.backend == "onnxruntime"}  # measured side by side
    r152, b1 = cells["resnet152"], cells["efficientnet_b1"]
    assert r152 is not None and b1 is not None
    expected = ratio_ci(r152.process_medians_ms, b1.process_medians_ms)
    assert row.speedup == expected
    assert expected is not None and expected.ci_low is not None and expected.ci_high is not None
    assert expected.ci_low < expected.value < expected.ci_high
    assert row.paper_speedup == 5.7 and row.faster_ms == b1.median_ms


def test_ratio_ci_known_answers() -> None:
    flat = ratio_ci([20.0, 20.0, 20.0], [10.0, 10.0, 10.0])
    assert flat is not None and flat.value == pytest.approx(2.0) and flat.ci_low == pytest.approx(2.0)
    spread = ratio_ci([18.0, 20.0, 22.0], [10.0, 10.0, 10.0])
    assert spread is not None and spread.ci_low is not None and spread.ci_high is not None
    assert spread.ci_low < spread.value < spread.ci_high and spread.value == pytest.approx(
        (18 * 20 * 22) ** (1 / 3) / 10
    )
    single = ratio_ci([20.0], [10.0, 11.0])
    assert single is not None and single.ci_low is None
    assert ratio_ci([], [1.0]) is None


def test_percent_of_peak_uses_the_documents_calibration(docs: list[tuple[Path, ResultDocument]]) -> None:
    path, doc = docs[1]
    peaks = (PrecisionPeak(precision="fp32", gflops=200.0), PrecisionPeak(precision="bf16", gflops=1000.0))
    calibrated = replace(doc, calibrations=(PeakCalibration(threads=1, cpus=(1,), peaks=peaks),))
    cell = next(c for c in build_report([(path, calibrated)]).cells if c.model == "resnet152")
    # The rate counts the work on the input: ResNet-152 has 4.2% of its MACs on zero padding.
    assert cell.effective_macs == pytest.approx(0.958 * cell.macs, rel=1e-3)  # type: ignore[operator]
    assert cell.gflops == pytest.approx(2 * cell.effective_macs / (cell.median_ms * 1e6))  # type: ignore[operator]
    assert cell.pct_peak == pytest.approx(100 * cell.gflops / 200.0)  # type: ignore[operator]
    assert build_report([(path, doc)]).cells[0].pct_peak is None


def _second_machine(tmp_path: Path, doc: ResultDocument, scale: float, **changes: Any) -> Path:
    other = copy.deepcopy(doc.to_dict())
    other["machine"]["id"] = "amd-epyc-00000000"
    for cell in other["cells"]:
        summary = cell["summary"]
        for key in ("median_ms", "p90_ms", "p99_ms"):
            summary[key] *= scale
        summary["median_ci95_ms"] = [v * scale for v in summary["median_ci95_ms"]]
        summary["process_medians_ms"] = [v * scale for v in summary["process_medians_ms"]]
        if cell["model"] in changes.get("other_bytes", ()):
            cell["artifact"]["sha256"] = "0" * 64
        if "version" in changes:
            for process in cell["processes"]:
                process["versions"] = {cell["backend"]: changes["version"]}
    path = tmp_path / "amd.json"
    path.write_text(json.dumps(other), encoding="utf-8")
    return path


def test_machines_report_compares_only_the_same_bytes_and_labels_version_changes(
    docs: list[tuple[Path, ResultDocument]], tmp_path: Path
) -> None:
    path, doc = docs[1]
    amd = _second_machine(tmp_path, doc, 0.5, other_bytes=("resnet152",), version="9.9.9")
    report = build_machines_report([(path, doc), (amd, load_result(amd))])
    assert report.reference == "intel-xeon-bf96a8ca"
    assert {(i.model, i.machine_id) for i in report.incomparable} == {("resnet152", "amd-epyc-00000000")}
    table = next(t for t in report.tables if t.series == "onnxruntime fp32")
    b1 = next(r for r in table.rows if r.model == "efficientnet_b1").cells["amd-epyc-00000000"]
    assert b1.speedup is not None and b1.speedup.value == pytest.approx(2.0)
    assert any("9.9.9" in label for label in b1.labels)
    r152 = next(r for r in table.rows if r.model == "resnet152").cells
    assert "amd-epyc-00000000" not in r152


def test_a_machine_with_no_comparable_cell_in_a_table_gets_no_empty_columns(
    docs: list[tuple[Path, ResultDocument]], tmp_path: Path
) -> None:
    path, doc = docs[1]  # B1 and ResNet-152 on ONNX Runtime and OpenVINO
    amd = _second_machine(tmp_path, doc, 0.5, other_bytes=("efficientnet_b1", "resnet152"))
    out = tmp_path / "hw.md"
    assert main(["report", "--machines", str(path), str(amd), "-o", str(out)]) == 0
    section = out.read_text(encoding="utf-8").split("## onnxruntime fp32, 1 thread(s)", 1)[1].split("\n## ", 1)[0]
    header = next(line for line in section.splitlines() if line.startswith("| model |"))
    assert "amd-epyc-00000000" not in header and "intel-xeon-bf96a8ca ms" in header
    assert (
        'Not in this table: amd-epyc-00000000: cells of other model bytes only, see "Listed, not compared".' in section
    )
    # Nor bars or a legend entry in the table's plot.
    from bench.views.machines_plots import _grouped_bars

    report = build_machines_report([(path, doc), (amd, load_result(amd))])
    table = next(t for t in report.tables if t.series == "onnxruntime fp32")
    fig = _grouped_bars(report, table)
    assert fig is not None and fig.axes[0].get_legend_handles_labels()[1] == ["intel-xeon-bf96a8ca"]


def test_a_different_export_recipe_is_not_compared_when_there_are_no_artifact_bytes(
    docs: list[tuple[Path, ResultDocument]], tmp_path: Path
) -> None:
    path, doc = docs[0]  # B1 on torch (built from the spec: no artifact), ONNX Runtime and OpenVINO
    raw = copy.deepcopy(doc.to_dict())
    raw["machine"]["id"] = "amd-epyc-00000000"
    torch_cell = next(c for c in raw["cells"] if c["backend"] == "torch")
    assert torch_cell["artifact"] is None
    torch_cell["fingerprint"] = "f" * 64
    other = tmp_path / "other.json"
    other.write_text(json.dumps(raw), encoding="utf-8")
    report = build_machines_report([(path, doc), (other, load_result(other))])
    assert [(i.model, i.series, i.machine_id) for i in report.incomparable] == [
        ("efficientnet_b1", "torch fp32", "amd-epyc-00000000")
    ]
    assert "export recipe (fingerprint) differs" in report.incomparable[0].reason


def test_machines_report_golden_and_reference_choice(docs: list[tuple[Path, ResultDocument]], tmp_path: Path) -> None:
    path, doc = docs[1]
    amd = _second_machine(tmp_path, doc, 0.8, other_bytes=("resnet152",))
    report = build_machines_report([(path, doc), (amd, load_result(amd))], reference="amd-epyc-00000000")
    assert [m.id for m in report.machines] == ["amd-epyc-00000000", "intel-xeon-bf96a8ca"]
    out = tmp_path / "hw.md"
    assert main(["report", "--machines", str(path), str(amd), "--reference", "amd-epyc-00000000", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8").replace(str(tmp_path), "TMP")
    text = re.sub(r"amd\.json \(sha256 [0-9a-f]+\)", "amd.json (sha256 …)", text)
    _golden("machines.md", text)
    # The cell that ran other bytes is listed with its latency, not put in the reference's column.
    listed = text.split("## Listed, not compared", 1)[1].split("## ", 1)[0]
    assert "| intel-xeon-bf96a8ca | onnxruntime fp32 | 1 | resnet152 |" in listed
    assert "here, 000000000000 on the reference" in listed
    # A warning that says the cap was hit is not repeated as a label.
    assert "stopped before the precision target" in text and "cap hit before the precision target" not in text
    assert (tmp_path / "hw-bars-onnxruntime-fp32-t1.svg").stat().st_size > 5_000


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "missing.json"], "does not exist"),
        (["report", "--reference", "x", "R"], "--reference needs --machines"),
        (["report", "--machines", "--format", "csv", "R"], "--format csv is not offered with --machines"),
        (["report", "--machines", "--reference", "nowhere", "R"], "no document of that machine"),
        (["report", "R", "AMD"], "come from 2 machines"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    amd = _second_machine(tmp_path, load_result(COMMITTED[1]), 1.0)
    argv = [str(COMMITTED[1]) if a == "R" else str(amd) if a == "AMD" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_table3_has_each_baseline_above_its_scaled_rows_in_the_papers_order() -> None:
    # The committed table3 run measured all 14 rows of the paper's Table 3 on both runtimes; ResNet-50 is a row of
    # Table 2 too, and Table 3 must still show it above its d=4, w=2, r=2 and compound rows.
    path = next((ROOT / "results" / "amd-epyc-cbe573dd").glob("table3-*.json"))
    report = build_report([(path, load_result(path))])
    models = [row.model for row in report.table3]
    assert models == [
        *("mobilenet_v1", "mobilenet_v1_w2", "mobilenet_v1_r2", "mobilenet_v1_compound"),
        *("mobilenet_v2", "mobilenet_v2_d4", "mobilenet_v2_w2", "mobilenet_v2_r2", "mobilenet_v2_compound"),
        *("resnet50", "resnet50_d4", "resnet50_w2", "resnet50_r2", "resnet50_compound"),
    ]
    assert all(ms is not None for row in report.table3 for ms in row.latency_ms.values())
    resnet50 = report.table3[models.index("resnet50")]
    assert (resnet50.paper_flops_b, resnet50.paper_top1) == (4.1, 76.0)


def test_figure1_names_each_model_once_and_each_series_once_in_the_legend() -> None:
    from bench.views.plots import figure1

    for pattern in ("table3-*.json", "paper-20261127T021740Z.json"):
        path = next((ROOT / "results" / "amd-epyc-cbe573dd").glob(pattern))
        cells = build_report([(path, load_result(path))]).cells
        fig = figure1(cells, "t")
        assert fig is not None
        ax = fig.axes[0]
        labels = ax.get_legend_handles_labels()[1]
        assert len(labels) == len(set(labels)) == len({c.series for c in cells}), labels
        names = [t.get_text() for t in ax.texts]
        assert sorted(names) == sorted({c.model.replace("efficientnet_", "") for c in cells}), names


def test_the_committed_suite_reports_regenerate_byte_for_byte(tmp_path: Path) -> None:
    # Every results/<machine>/<suite>-*.report.md was written by `effbench report DOC -o …report.md`; the same
    # document gives the same text, and the same plot bytes when drawn with the matplotlib the report names.
    import matplotlib

    reports = sorted((ROOT / "results").glob("*/*.report.md"))
    assert any(r.name.startswith("paper-") for r in reports), "no committed paper report under results/"
    for report in reports:
        document = report.with_name(report.name.replace(".report.md", ".json"))
        out = tmp_path / report.parent.name / report.stem / report.name
        assert main(["report", str(document), "--output", str(out)]) == 0
        committed = report.read_text(encoding="utf-8")
        same_matplotlib = f"Drawn with matplotlib {matplotlib.__version__}:" in committed
        line = re.compile(r"^Drawn with matplotlib .*$", re.M)
        assert line.sub("", out.read_text(encoding="utf-8")) == line.sub("", committed)
        plots = sorted(p.name for p in out.parent.iterdir() if p != out)
        assert plots and plots == sorted(p.name for p in report.parent.glob(f"{out.stem}-*.*"))
        if same_matplotlib:
            for name in plots:
                assert (out.parent / name).read_bytes() == (report.parent / name).read_bytes(), name


def _hardware_report_command() -> list[str]:
    """The `effbench report --machines …` command that results/README.md gives for results/hardware/report.md."""
    import glob
    import shlex

    text = (ROOT / "results" / "README.md").read_text(encoding="utf-8")
    block = text.split("## `hardware/`", 1)[1]
    lines: list[str] = []
    for line in block.splitlines():
        if line.startswith("    effbench report --machines") or (lines and line.startswith("        ")):
            lines.append(line.strip().removesuffix("\\").split("(and -o")[0])
        elif lines:
            break
    argv = shlex.split(" ".join(lines))
    assert argv[:3] == ["effbench", "report", "--machines"], argv
    expanded: list[str] = []
    for arg in argv[1:]:
        matches = sorted(glob.glob(str(ROOT / arg))) if "*" in arg else []
        expanded.extend(matches or [arg])
    return expanded


def test_the_committed_hardware_report_regenerates_and_shows_every_machine(tmp_path: Path) -> None:
    import matplotlib
    from published import published_documents

    argv = _hardware_report_command()
    out_index = argv.index("-o") + 1
    assert argv[out_index] == "results/hardware/report.md"
    committed_path = ROOT / argv[out_index]
    argv = [str(ROOT / a) if a.startswith("results/") else a for a in argv]
    argv[out_index] = str(tmp_path / "report.md")
    assert main(argv) == 0
    committed = committed_path.read_text(encoding="utf-8")
    line = re.compile(r"^Drawn with matplotlib .*$", re.M)
    assert line.sub("", (tmp_path / "report.md").read_text(encoding="utf-8")) == line.sub("", committed)
    plots = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".svg", ".png"))
    assert plots == sorted(p.name for p in committed_path.parent.glob("report-*.*"))
    if f"Drawn with matplotlib {matplotlib.__version__}:" in committed:
        for name in plots:
            assert (tmp_path / name).read_bytes() == (committed_path.parent / name).read_bytes(), name
    # Every machine with a published document is in the report.
    machines = {p.parent.name for p in published_documents()}
    title = committed.splitlines()[0]
    assert f"({len(machines)} machines," in title, (title, machines)
    for machine in machines:
        assert f"| {machine}" in committed, machine
