"""`effbench layers`: layer kinds and their multiply-adds, the profile's runs split from the warm-up, the per-kind
table against the graph, a real profile of a small model, and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.cli import main
from bench.errors import EffbenchError
from bench.probes.layer_kinds import KINDS, classify
from bench.probes.layers import LAYERS_VERSION, LayersResult, summarize
from bench.probes.layers_worker import node_timings


@pytest.mark.parametrize(
    ("op", "inputs", "outputs", "kind", "macs", "effective"),
    [
        # stride 2, 224 -> 112: one tap of the 3 x 112 per axis lands on padding (335 inside)
        ("Conv", [[1, 3, 224, 224], [32, 3, 3, 3]], [[1, 32, 112, 112]], "conv kxk", 112 * 112 * 32 * 27,
         32 * 3 * 335 * 335),
        ("Conv", [[1, 32, 56, 56], [144, 32, 1, 1]], [[1, 144, 56, 56]], "conv 1x1", 56 * 56 * 144 * 32,
         56 * 56 * 144 * 32),
        ("Conv", [[1, 96, 112, 112], [96, 1, 3, 3]], [[1, 96, 56, 56]], "conv depthwise", 56 * 56 * 96 * 9,
         96 * 167 * 167),
        # stride 1, 5x5 on a 7x7 map: 29 of 35 taps per axis inside
        ("Conv", [[1, 96, 7, 7], [96, 1, 5, 5]], [[1, 96, 7, 7]], "conv depthwise", 7 * 7 * 96 * 25, 96 * 29 * 29),
        ("Conv", [[1, 96, 1, 1], [4, 96, 1, 1]], [[1, 4, 1, 1]], "conv on 1x1 maps (SE)", 4 * 96, 4 * 96),
        ("Gemm", [[1, 1280], [1280, 1000]], [[1, 1000]], "fully connected", 1280 * 1000, 1280 * 1000),
        ("QuickGelu", [[1, 32, 112, 112]], [[1, 32, 112, 112]], "other", 0, 0),
        ("GlobalAveragePool", [[1, 96, 7, 7]], [[1, 96, 1, 1]], "other", 0, 0),
    ],
)  # fmt: skip
def test_layer_kinds_and_their_multiply_adds(
    op: str, inputs: list[list[int]], outputs: list[list[int]], kind: str, macs: int, effective: int
) -> None:
    assert classify(op, inputs, outputs) == (kind, macs, effective)


def test_explicit_geometry_is_used_and_uneven_padding_counts_alike() -> None:
    from bench.probes.layer_kinds import Geometry

    x, w, y = [1, 8, 14, 14], [8, 8, 3, 3], [1, 8, 7, 7]
    # stride 2, pads begin 1 / end 1: the end pad is never reached; the same count as begin 0 / end 1 (mirrored)
    one = classify("Conv", [x, w], [y], Geometry((2, 2), (1, 1, 1, 1)))
    assert one == classify("Conv", [x, w], [y]) == ("conv kxk", 7 * 7 * 8 * 8 * 9, 8 * 8 * 20 * 20)
    # no padding at all: every tap is inside
    assert classify("Conv", [[1, 8, 15, 15], w], [y], Geometry((2, 2), (0, 0, 0, 0)))[2] == 7 * 7 * 8 * 8 * 9


def _event(name: str, ts: int, dur: int, op: str = "Conv", cat: str = "Node") -> dict[str, Any]:
    shapes = {"input_type_shape": [{"float": [1, 8, 4, 4]}, {"float": [8, 8, 1, 1]}],
              "output_type_shape": [{"float": [1, 8, 4, 4]}]}  # fmt: skip
    return {"cat": cat, "name": name, "ts": ts, "dur": dur, "args": {"op_name": op, **shapes}}


def test_node_timings_drop_the_warmup_and_what_ran_outside_a_run() -> None:
    events = [
        _event("conv_kernel_time", 5, 100),  # session set-up, outside every run
        {"name": "model_run", "ts": 10, "dur": 100},  # warm-up
        _event("conv_kernel_time", 20, 50),
        {"name": "model_run", "ts": 200, "dur": 100},
        _event("conv_kernel_time", 210, 40),
        _event("conv_kernel_time", 260, 10),  # the same node twice in one run: summed
        _event("relu_kernel_time", 280, 5, op="Relu"),
        {"name": "model_run", "ts": 400, "dur": 90},
        _event("conv_kernel_time", 410, 30),
    ]
    nodes, run_ms = node_timings(events, warmup=1)
    assert run_ms == [0.1, 0.09]
    conv, relu = nodes
    assert conv["op"] == "Conv" and conv["ms"] == [0.05, 0.03] and conv["inputs"][1] == [8, 8, 1, 1]
    assert relu["ms"] == [0.005, 0.0]


def _record(*nodes: tuple[str, list[list[int]], list[list[int]], list[float]]) -> LayersResult:
    return LayersResult.from_dict(
        {"runtime": "test", "nodes": [{"op": op, "inputs": i, "outputs": o, "ms": ms} for op, i, o, ms in nodes],
         "run_ms": [2.0]}
    )  # fmt: skip


def test_summary_puts_the_graphs_multiply_adds_against_the_profiled_time() -> None:
    record = _record(
        # The profile's shapes may be padded (NCHWc): 32 channels where the graph has 24; its MACs are not used.
        ("Conv", [[1, 32, 56, 56], [144, 32, 1, 1]], [[1, 144, 56, 56]], [1.0, 3.0, 2.0]),
        ("Conv", [[1, 144, 56, 56], [144, 1, 3, 3]], [[1, 144, 56, 56]], [0.5]),
        ("Relu", [[1, 144, 56, 56]], [[1, 144, 56, 56]], [0.5]),
    )
    graph = {"conv 1x1": (1, 10_000_000, 10_000_000), "conv depthwise": (1, 2_000_000, 1_500_000)}
    profile = summarize("m", record, graph, onnx_sha256="s", runs=3, warmup=1, threads=1, cpus=[1],
                        model_macs=12_000_000, peak_gflops=100.0)  # fmt: skip
    assert profile.macs == 12_000_000 and profile.node_ms == pytest.approx(3.0)
    assert profile.effective_macs == 11_500_000
    rows = {r.kind: r for r in profile.kinds}
    assert list(rows) == ["conv 1x1", "conv depthwise", "other"]
    assert rows["conv 1x1"].ms == 2.0 and rows["conv 1x1"].gflops == pytest.approx(10.0)  # 2 x 1e7 / 2 ms
    assert rows["conv 1x1"].pct_peak == pytest.approx(10.0) and rows["conv 1x1"].share_time == pytest.approx(2 / 3)
    assert rows["conv depthwise"].share_macs == pytest.approx(1 / 6)
    assert rows["conv depthwise"].gflops == pytest.approx(6.0)  # the effective 1.5e6, not 2e6, over 0.5 ms
    assert rows["other"].macs == 0 and rows["other"].gflops is None
    with pytest.raises(EffbenchError, match="conv 1x1: 2 in the graph, 1 profiled"):
        summarize("m", record, {"conv 1x1": (2, 1, 1)}, onnx_sha256="s", runs=3, warmup=1, threads=1, cpus=[1],
                  model_macs=None, peak_gflops=None)  # fmt: skip


def _tiny_onnx(path: Path) -> Path:
    """A 1x1 convolution (8 -> 16 channels on a 4x4 map) and a ReLU, written with onnx's helpers (no torch)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((16, 8, 1, 1), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 4, 4])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.onnxruntime
@pytest.mark.parametrize("where", ["in-process", "subprocess"])
def test_a_layers_job_through_either_launcher_gives_a_typed_result(tmp_path: Path, where: str) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import os

    from bench.engine.launchers import InProcessLauncher, SubprocessLauncher
    from bench.probes.layer_kinds import graph_kinds
    from bench.probes.layers import LayersJob, profile_layers

    onnx_path = _tiny_onnx(tmp_path / "tiny.onnx")
    cpu = min(os.sched_getaffinity(0))
    job = LayersJob(cpus=(cpu,), threads=1, artifact=str(onnx_path), runs=3, warmup=1)
    launcher = InProcessLauncher() if where == "in-process" else SubprocessLauncher()
    outcome = launcher.launch(job, 120)
    assert outcome.status == "ok" and outcome.record is not None, outcome.reason()
    result = outcome.record
    assert isinstance(result, LayersResult) and result.runtime.startswith("onnxruntime ")
    assert len(result.run_ms) == 3 and all(len(node.ms) == 3 for node in result.nodes)
    assert (result.pid != os.getpid()) == (where == "subprocess")
    if where == "subprocess":
        assert result.affinity == (cpu,)
    profile = profile_layers("tiny", onnx_path, "s", [cpu], 1, runs=3, warmup=1, launcher=launcher)
    assert profile.macs == 16 * 8 * 4 * 4 == sum(macs for _n, macs, _e in graph_kinds(onnx_path).values())
    assert profile.kinds[0].kind == "conv 1x1"


@pytest.mark.onnxruntime
def test_a_failed_layers_worker_is_one_line_naming_the_model(tmp_path: Path) -> None:
    from bench.engine.launchers import InProcessLauncher
    from bench.probes.layers import profile_layers

    pytest.importorskip("onnxruntime")
    with pytest.raises(EffbenchError, match=r"^tiny: the layer profile failed: \w+: .*missing\.onnx") as raised:
        profile_layers("tiny", tmp_path / "missing.onnx", "s", [0], 1, runs=1, warmup=0, launcher=InProcessLauncher())
    assert "onnxruntime.capi" not in str(raised.value)  # the worker's message, not its traceback's last line too


@pytest.mark.torch
@pytest.mark.onnxruntime
def test_a_real_profile_accounts_for_every_multiply_add(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    import os

    from bench.export import ensure_artifacts
    from bench.probes.layer_kinds import graph_kinds
    from bench.probes.layers import profile_layers
    from bench.zoo import resolve_model
    from bench.zoo.effective import effective_macs

    spec = resolve_model("b0:r=64")
    artifacts = ensure_artifacts(spec.name, formats=("onnx",), cache_dir=tmp_path)
    onnx = artifacts.files["onnx"]
    graph = graph_kinds(onnx)
    assert sum(macs for _n, macs, _e in graph.values()) == spec.macs  # the graph's count is the zoo's, exactly
    assert sum(effective for _n, _m, effective in graph.values()) == effective_macs(spec)  # from the nodes' pads
    assert graph["conv depthwise"][0] == 16 and graph["conv on 1x1 maps (SE)"][0] == 32
    cpu = min(os.sched_getaffinity(0))  # the real worker: a pinned process of its own
    profile = profile_layers(spec.name, onnx, artifacts.sha256["onnx"], [cpu], 1, runs=3, warmup=1,
                             model_macs=spec.macs, peak_gflops=100.0)  # fmt: skip
    assert profile.cpus == (cpu,) and profile.runtime.startswith("onnxruntime ")
    assert profile.macs == spec.macs
    kinds = [r.kind for r in profile.kinds]
    assert kinds == [k for k in KINDS if k in kinds] and {"conv 1x1", "conv depthwise", "other"} <= set(kinds)
    assert all(r.ms > 0 for r in profile.kinds) and profile.node_ms > 0
    assert sum(r.share_time for r in profile.kinds) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["layers", "--model", "nope"], "unknown model 'nope'"),
        (["layers", "--model", "b0", "--runs", "0"], "--runs must be >= 1"),
        (["layers", "--model", "b0", "--cpus", "999"], "999"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def _layers_doc(tmp_path: Path, version: int = 1, machine: str = "amd-epyc-cbe573dd") -> Path:
    import json

    from bench.probes.layers import LAYERS_FORMAT, layers_document

    record = _record(
        ("Conv", [[1, 32, 56, 56], [144, 32, 1, 1]], [[1, 144, 56, 56]], [2.0]),
        ("Conv", [[1, 144, 56, 56], [144, 1, 3, 3]], [[1, 144, 56, 56]], [1.0]),
    )
    graph = {"conv 1x1": (1, 10_000_000, 10_000_000), "conv depthwise": (1, 1_000_000, 900_000)}
    profile = summarize("efficientnet_b0", record, graph, onnx_sha256="s", runs=5, warmup=1, threads=1, cpus=[1],
                        model_macs=None, peak_gflops=20.0)  # fmt: skip
    doc = layers_document([profile], {"id": machine, "cpu": {"brand": "AMD EPYC"}}, ["effbench", "layers"])
    assert doc["format"] == LAYERS_FORMAT
    doc["format_version"] = version
    path = tmp_path / f"layers-v{version}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_the_hardware_report_shows_layer_kinds_with_a_plot(tmp_path: Path) -> None:
    from published import published_documents

    from bench.probes.layers import load_layers

    layers = _layers_doc(tmp_path)
    machine, profiles = load_layers(layers)
    assert machine == "amd-epyc-cbe573dd" and profiles[0].kinds[0].pct_peak == pytest.approx(50.0)  # 10 GFLOP/s
    paper = next(p for p in published_documents() if p.parent.name == machine and p.name.startswith("paper-"))
    out = tmp_path / "hw.md"
    assert main(["report", "--machines", str(paper), "--layers", str(layers), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    section = text.split("## Layer kinds", 1)[1].split("## ", 1)[0]
    row = "| amd-epyc-cbe573dd (1 thread(s)) | efficientnet_b0 · onnxruntime fp32 | conv 1x1 | 66.7 | 90.9 | 10.0 |"
    assert row in section
    assert (tmp_path / "hw-peak-by-layer-kind.svg").stat().st_size > 5_000
    provenance = text.split("## Provenance", 1)[1]
    assert f"- {layers.name} (sha256 " in provenance and "`effbench layers`" in provenance


def test_bad_layers_files_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from published import published_documents

    paper = str(next(p for p in published_documents() if p.name.startswith("paper-")))
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    newer = str(_layers_doc(tmp_path, LAYERS_VERSION + 1))
    cases = [
        (["report", paper, "--layers", str(_layers_doc(tmp_path))], "--layers needs --machines"),
        (["report", "--machines", paper, "--layers", str(tmp_path / "none.json")], "does not exist"),
        (["report", "--machines", paper, "--layers", str(broken)], "layers document (JSON error at line 1)"),
        (["report", "--machines", paper, "--layers", paper], "is not an effbench layers document"),
        (["report", "--machines", paper, "--layers", newer], "written by a newer effbench (layers format 3 > 2)"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (argv, err)


def test_without_onnxruntime_the_command_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert main(["layers", "--model", "b0"]) == 2
    err = capsys.readouterr().err
    assert "needs onnxruntime, which is not installed: pip install 'effbench[onnx]'" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("inputs", "outputs", "kind", "macs"),
    [
        # OpenVINO's runtime model: grouped weights are 5-D [groups, Cout/groups, Cin/groups, kh, kw].
        ([[1, 32, 112, 112], [32, 1, 1, 3, 3], [32]], [[1, 32, 112, 112]], "conv depthwise", 112 * 112 * 32 * 9),
        ([[1, 64, 56, 56], [2, 32, 32, 3, 3]], [[1, 64, 56, 56]], "conv kxk", 56 * 56 * 64 * 32 * 9),
    ],
)
def test_openvino_grouped_weights(inputs: list[list[int]], outputs: list[list[int]], kind: str, macs: int) -> None:
    assert classify("Convolution", inputs, outputs)[:2] == (kind, macs)
    assert classify("FullyConnected", [[1, 1280], [1000, 1280]], [[1, 1000]]) == ("fully connected",) + (1_280_000,) * 2


@pytest.mark.torch
@pytest.mark.openvino
def test_an_openvino_profile_accounts_for_every_multiply_add(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("openvino")
    import os

    from bench.export import ensure_artifacts
    from bench.probes.layers import profile_layers
    from bench.zoo import resolve_model
    from bench.zoo.effective import effective_macs

    spec = resolve_model("b0:r=64")
    artifacts = ensure_artifacts(spec.name, formats=("openvino",), cache_dir=tmp_path)
    cpu = min(os.sched_getaffinity(0))
    ir, sha = artifacts.files["openvino"], artifacts.sha256["openvino"]
    profile = profile_layers(spec.name, ir, sha, [cpu], 1, backend="openvino", runs=3, warmup=1, model_macs=spec.macs)
    assert profile.macs == spec.macs and profile.series == "openvino fp32"
    # The runtime model keeps no pads: inferred from the shapes, the effective count is still the zoo's.
    assert profile.effective_macs == effective_macs(spec) < spec.macs
    assert profile.runtime.startswith("openvino ") and {"conv 1x1", "conv depthwise"} <= {r.kind for r in profile.kinds}
    with pytest.raises(EffbenchError, match="bf16 layer profiles need --backend openvino"):
        profile_layers(spec.name, artifacts.files["openvino"], "s", [cpu], 1, precision="bf16")


def test_bf16_on_a_cpu_without_it_is_refused_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("openvino")
    import bench.probes.calibrate as calibrate

    haswell = calibrate.CpuDescription("test CPU", frozenset({"avx", "avx2", "fma"}), 3.0e9)
    monkeypatch.setattr(calibrate, "read_cpu_description", lambda: haswell)
    assert main(["layers", "--model", "b0", "--backend", "openvino", "--precision", "bf16"]) == 2
    err = capsys.readouterr().err
    assert "--precision bf16:" in err and "avx512_bf16" in err and err.count("\n") == 1
    assert main(["layers", "--model", "b0", "--precision", "bf16"]) == 2  # ONNX Runtime: fp32 only
    assert "bf16 layer profiles need --backend openvino" in capsys.readouterr().err


def test_an_int8_profile_rates_its_layers_in_gop_per_second() -> None:
    from dataclasses import replace

    from bench.views.layers import render_layers

    record = _record(("Conv", [[1, 32, 56, 56], [144, 32, 1, 1]], [[1, 144, 56, 56]], [1.0]))
    profile = summarize("m", record, {"conv 1x1": (1, 10_000_000, 10_000_000)}, onnx_sha256="s", runs=3, warmup=1,
                        threads=1, cpus=[1], model_macs=None, peak_gflops=100.0)  # fmt: skip
    fp32 = render_layers([profile], "md")
    int8 = render_layers([replace(profile, precision="int8")], "md")
    assert "GFLOP/s" in fp32 and "GOP/s" not in fp32
    assert "GOP/s" in int8 and "GFLOP/s" not in int8 and "int8 peak 100.0 GOP/s" in int8
