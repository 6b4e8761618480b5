"""int8 in the views (latency notes, report section, Table 4 series, int8 peak), the planner's side-by-side
precisions and the int8 peak's kernels, on documents and fakes: no export, no runtime."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.document import ResultDocument
from bench.errors import EffbenchError
from bench.results import load_result

FIXTURE = Path(__file__).parent / "fixtures" / "format1-result.json"

SHARE = {
    "source": "openvino runtimePrecision per node",
    "macs_share": 0.4,
    "nodes_share": 0.5,
    "nodes": 10,
    "int8_nodes": 5,
    "not_int8_kinds": {"conv depthwise": 5},
    "not_int8_layers": ["dw1", "dw2"],
    "kernels": {"brgconv_avx512_1x1_I8": 5},
}
QUANTIZATION = {
    "quantization": {"format": "QDQ", "activation_type": "QUInt8", "weight_type": "QInt8", "per_channel": True,
                     "reduce_range": False, "isa": "avx512_vnni"},
    "calibration": {"images": 16, "seed": 0},
    "agreement": {"openvino": {"cosine": 0.81, "rel_error": 0.56}},
}  # fmt: skip


def _int8_doc(int8_factor: float) -> ResultDocument:
    """The fixture's first cell as fp32 and as int8 (`int8_factor` x its latency), as one run measured them."""
    doc = load_result(FIXTURE)
    cell = doc.cells[0]
    assert cell.summary is not None and cell.summary.median_ms is not None and cell.processes
    fp32 = replace(cell, precision="fp32")
    process = replace(cell.processes[0], effective={**cell.processes[0].effective, "precision": "int8", "int8": SHARE})
    summary = replace(cell.summary, median_ms=cell.summary.median_ms * int8_factor,
                      process_medians_ms=tuple(v * int8_factor for v in cell.summary.process_medians_ms))  # fmt: skip
    int8 = replace(cell, precision="int8", processes=(process,), summary=summary, quantization=QUANTIZATION)
    return replace(doc, cells=(fp32, int8))


def test_int8_rows_pair_each_int8_cell_with_its_fp32_twin() -> None:
    from bench.views.int8 import int8_rows, int8_table_rows, int8_warnings

    (row,) = int8_rows(_int8_doc(0.5).cells)
    assert row.speedup == pytest.approx(2.0) and row.macs_share == 0.4 and row.layers == "5/10"
    assert row.cosine == 0.81 and row.recipe == "QDQ U8S8 per-channel, avx512_vnni"
    assert row.not_int8 == "conv depthwise x5" and row.kernels == "brgconv_avx512_1x1_I8 x5"
    assert int8_warnings([row]) == []
    (shown,) = int8_table_rows([row])
    assert shown["speedup"] == "2.00x" and shown["macs"] == "40%" and shown["agreement"] == "0.810 / 0.56"
    (slower,) = int8_rows(_int8_doc(1.5).cells)
    (warning,) = int8_warnings([slower])
    assert "int8 was slower than fp32 in the same run" in warning and "conv depthwise x5" in warning


def test_latency_notes_give_the_share_agreement_and_latency_only_note() -> None:
    from bench.views.latency import latency_notes

    notes = [text for _kind, text in latency_notes(_int8_doc(1.5).cells)]
    assert any("40% of MACs and 5/10 layers ran in int8" in n and "cosine 0.810 with fp32" in n for n in notes)
    assert any("int8 was slower than fp32" in n for n in notes)
    assert any(n.startswith("Latency only: the weights are random") for n in notes)


def test_report_has_an_int8_section_and_series_and_rates_int8_against_its_own_peak(tmp_path: Path) -> None:
    from bench.calibration import PeakCalibration, PrecisionPeak
    from bench.views.report_data import build_report
    from bench.views.report_render import render_report

    doc = _int8_doc(0.5)
    calibration = PeakCalibration(cpus=doc.cells[0].cpus, threads=doc.cells[0].threads, peaks=(
        PrecisionPeak(precision="fp32", gflops=100.0), PrecisionPeak(precision="int8", gflops=400.0)))  # fmt: skip
    data = build_report([(FIXTURE, replace(doc, calibrations=(calibration,)))])
    assert "openvino int8" in data.series and any(r.series == "openvino int8" for r in data.table4)
    int8_cell = data.cells[1]
    assert int8_cell.peak_gflops == 400.0 and int8_cell.gflops is not None
    assert int8_cell.pct_peak == pytest.approx(100 * int8_cell.gflops / 400.0)
    markdown = render_report(data, "md").text
    assert "## int8: what ran in int8, beside fp32" in markdown and "Latency only" in markdown
    assert "measured peak int8" in markdown and "400.0 GOP/s" in markdown
    assert json.loads(render_report(data, "json").text)["int8"][0]["macs_share"] == 0.4
    plain = build_report([(FIXTURE, load_result(FIXTURE))])
    assert "int8" not in json.loads(render_report(plain, "json").text)


def test_document_keeps_the_quantization_record_and_names_int8_cells() -> None:
    from bench.document import document_from_json

    doc = _int8_doc(0.5)
    again = document_from_json(json.loads(json.dumps(doc.to_dict())))
    assert again.cells[1].quantization == QUANTIZATION and "quantization" not in doc.cells[0].to_dict()
    assert again.cells[1].label.endswith("· int8") and not again.cells[0].label.endswith("int8")


def test_latency_plans_every_precision_side_by_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.backends
    from bench.config import load_config
    from bench.engine import plan

    monkeypatch.setattr(bench.backends, "is_installed", lambda _name: True)
    monkeypatch.chdir(tmp_path)  # no bench.toml: the defaults
    config = load_config()
    settings = plan.resolve_settings(config, models=["b0:r=32"], backends="torch", precision=["int8", "fp32"],
                                     cache_dir=tmp_path / "cache")  # fmt: skip
    assert settings.precisions == ("fp32", "int8") and settings.document_settings().precision == "fp32,int8"
    cells = plan.plan_cells(settings)  # torch runs no int8: that cell is skipped with the reason, nothing exported
    assert [(c.precision, c.skip_reason) for c in cells] == [
        ("fp32", None), ("int8", "torch: precision int8 is not offered (it runs fp32, bf16)")]  # fmt: skip
    assert not (tmp_path / "cache").exists()
    with pytest.raises(EffbenchError, match="precision int4 is not one of"):
        plan.resolve_settings(config, models=["b0"], backends="torch", precision=["int4"])


def test_int8_peak_kernels_and_flags_figure() -> None:
    from bench.probes.calibrate import PRECISIONS, default_kernels, flops_per_cycle

    assert "int8" in PRECISIONS
    assert default_kernels("int8", lambda m: True) == ["openvino", "torch-int8"]
    assert default_kernels("int8", lambda m: m == "torch") == ["torch-int8"]
    assert flops_per_cycle({"avx512_vnni"}, "int8")[0] == 256  # type: ignore[index]
    assert flops_per_cycle({"amx_int8", "avx512_vnni"}, "int8")[0] == 2048  # type: ignore[index]
    assert flops_per_cycle({"avx2", "fma"}, "int8") is None


def test_layer_profiles_take_int8_on_both_runtimes_and_bf16_on_openvino() -> None:
    from bench.probes.layers import check_options

    check_options(10, 2, "openvino", "int8")
    check_options(10, 2, "onnxruntime", "int8")
    with pytest.raises(EffbenchError, match="bf16 layer profiles need --backend openvino"):
        check_options(10, 2, "onnxruntime", "bf16")


def test_the_worker_records_the_share_once_and_a_failure_is_a_warning() -> None:
    from bench.backends.base import Session
    from bench.engine.worker import record_int8_share

    class Told(Session):
        def int8_share(self) -> dict[str, Any] | None:
            return SHARE

    class Broken(Session):
        def int8_share(self) -> dict[str, Any] | None:
            raise RuntimeError("no profile\nsecond line")

    effective: dict[str, Any] = {}
    (warning,) = record_int8_share(Told(), "openvino", effective)
    assert effective["int8"] == SHARE and "only 40% of the multiply-adds ran in int8" in warning
    assert record_int8_share(Broken(), "onnxruntime", effective) == [
        "onnxruntime: the int8 share could not be read (RuntimeError: no profile)"
    ]
    assert record_int8_share(Session(), "torch", {}) == []
