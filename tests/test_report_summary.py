"""The reports open with what they found: the summary before the details, Figure 1 near the top, every summary link
landing on a heading, Markdown backticks as <code> in HTML, and the history site's stylesheet inlined."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.results import load_result
from bench.views.report_data import ReportData, build_report
from bench.views.report_render import render_report
from bench.views.report_summary import anchor, build_summary, inline_html, plain_text, without_links

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "results" / "amd-epyc-cbe573dd" / "paper-20261127T021740Z.json"


@pytest.fixture(scope="module")
def data() -> ReportData:
    return build_report([(PAPER, load_result(PAPER))])


def test_the_summary_states_table4_the_fastest_runtime_peak_share_and_noisy_cells(data: ReportData) -> None:
    summary = build_summary(data)
    table4, fastest, peak, counts = summary.lines
    assert "`resnet152` / `efficientnet_b1` is 9.21x [7.98–10.64] on onnxruntime fp32" in table4
    assert "against the paper's 5.7x" in table4
    assert fastest.startswith("Fastest runtime (1 thread): openvino bf16 for 12 of 12 models")
    assert "efficientnet 60%" in peak and "resnet 93%" in peak
    assert counts.startswith("48 cells measured: 39 with a warning (noisy)")
    assert [row["model"] for row in summary.fastest][:2] == ["efficientnet_b0", "efficientnet_b1"]
    assert {row["family"] for row in summary.peak_by_family} == {
        "efficientnet",
        "mobilenet_v1",
        "mobilenet_v2",
        "resnet",
    }


def test_the_peak_share_line_names_onnx_runtime_fp32_however_the_series_sort() -> None:
    """With inductor cells the series sort as 'inductor bf16' first: the one-line share stays on fp32."""
    deployed = ROOT / "results" / "amd-epyc-cbe573dd" / "paper-20261204T012133Z.json"
    summary = build_summary(build_report([(deployed, load_result(deployed))]))
    peak = next(line for line in summary.lines if line.startswith("Share of the measured peak"))
    assert peak.startswith("Share of the measured peak on onnxruntime fp32,")
    assert "inductor bf16" in [column.key for column in summary.peak_columns]


def test_a_cell_measured_by_two_documents_counts_once_and_never_ranks_against_itself() -> None:
    repeat = ROOT / "results" / "amd-epyc-cbe573dd" / "paper-20261127T044327Z.json"  # the same 48 cells again
    summary = build_summary(build_report([(PAPER, load_result(PAPER)), (repeat, load_result(repeat))]))
    assert summary.lines[-1].startswith("48 cells measured:")
    assert all(row["next"] != row["fastest"] for row in summary.fastest)
    b0 = next(row for row in summary.fastest if row["model"] == "efficientnet_b0")
    assert b0["median_ms"] == "4.433"  # the repeat's B0 on OpenVINO bf16: the later document's cell


def test_markdown_leads_with_the_summary_and_figure1_and_its_links_land(data: ReportData) -> None:
    text = render_report(data, "md", "paper").text
    headings = re.findall(r"^#{2,3} (.+)$", text, re.M)
    assert headings[:4] == ["Summary", "Fastest runtime per model", "Share of peak by model family", "Figure 1"]
    assert headings.index("Figure 1") < headings.index("Latency per cell")
    ids = {anchor(h) for h in headings}
    for target in re.findall(r"\]\(#([\w-]+)\)", text):
        assert target in ids, target


def test_html_has_code_ids_for_every_link_and_the_shared_stylesheet(data: ReportData) -> None:
    page = render_report(data, "html").text
    text = re.sub(r"<svg.*?</svg>", "", page, flags=re.S)  # the plots' own ids and links apart
    assert "<code>resnet152</code>" in text and "`" not in text
    ids = set(re.findall(r"id='([\w-]+)'", text))
    for target in re.findall(r'href="#([\w-]+)"', text):
        assert target in ids, target
    css = (ROOT / "bench" / "history" / "assets" / "effbench.css").read_text(encoding="utf-8")
    assert css in page
    assert page.index("id='summary'") < page.index("id='figure1'") < page.index("id='latency-per-cell'")


def test_inline_forms() -> None:
    line = "a `x<y>` b ([details](#latency-per-cell))"
    assert inline_html(line) == 'a <code>x&lt;y&gt;</code> b (<a href="#latency-per-cell">details</a>)'
    assert plain_text(line) == "a `x<y>` b (details)"
    assert without_links(line) == "a `x<y>` b"
    assert anchor("Paper Table 4: batch-1 latency ratios") == "paper-table-4-batch-1-latency-ratios"
