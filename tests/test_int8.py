"""int8: the quantization recipe (same bytes twice, ISA choice), the bounds that fail a broken graph, the int8 entry
in the cache and in bundles, a user's quantized file, the missing package, and the int8 share."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bench.errors import EffbenchError, ExportError
from bench.export.quantize import fallback_note, quantization_settings, quantize_onnx

TINY = "b0:r=32"  # the shared `exported` fixture's model (tests/conftest.py)

pytest.importorskip("onnxruntime")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def int8_cache(exported: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny export's cache with its int8 entry (ONNX only, the VNNI recipe)."""
    from bench.export.quantize import int8_artifacts

    cache = tmp_path_factory.mktemp("int8") / "cache"
    shutil.copytree(exported, cache)
    base = _base(cache)
    int8_artifacts(base, ("onnx",), cache, say=lambda _m: None, flags=("avx512_vnni",))
    return cache


def _base(cache: Path) -> Any:
    from bench.export import ensure_artifacts

    return ensure_artifacts(TINY, formats=("onnx",), cache_dir=cache)


def _int8_entry(cache: Path) -> Path:
    return next(cache.glob("*-int8-*"))


def test_the_recipe_follows_the_isa_and_the_fallback_says_so() -> None:
    vnni = quantization_settings(["avx2", "avx512f", "avx512_vnni"])
    assert (vnni["format"], vnni["activation_type"], vnni["weight_type"]) == ("QDQ", "QUInt8", "QInt8")
    assert vnni["per_channel"] is True and vnni["reduce_range"] is False and vnni["isa"] == "avx512_vnni"
    assert quantization_settings(["amx_int8", "avx512_vnni"])["isa"] == "amx_int8"
    assert fallback_note(vnni) is None
    plain = quantization_settings(["avx2", "fma"])  # a CPU without VNNI: ORT's documented 7-bit weights
    assert plain["reduce_range"] is True and plain["isa"] == "no VNNI"
    note = fallback_note(plain)
    assert note is not None and "reduce_range" in note and "VNNI" in note


def test_int8_entry_is_cached_fingerprinted_and_records_recipe_and_agreement(int8_cache: Path) -> None:
    from bench.export.quantize import int8_artifacts, quantized_fingerprint_inputs

    base = _base(int8_cache)
    entry = _int8_entry(int8_cache)
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["precision"] == "int8" and manifest["model_name"] == base.model_name
    assert manifest["source"]["base_fingerprint"] == base.fingerprint
    inputs = manifest["fingerprint_inputs"]
    assert inputs["source"] == "quantized" and inputs["base_fingerprint"] == base.fingerprint
    assert inputs["calibration"] == {**manifest["calibration"]} and inputs["calibration"]["images"] == 16
    assert inputs["quantization"]["isa"] == "avx512_vnni" and "onnxruntime" in inputs["versions"]
    agreement = manifest["agreement"]
    assert agreement["onnxruntime"]["cosine"] > agreement["min_cosine"]
    assert agreement["weights"]["worst_sqnr_db"] >= agreement["weights"]["min_sqnr_db"]
    # The fallback recipe is another entry: another fingerprint, so the fp32 entry and the VNNI one stay valid.
    other = quantized_fingerprint_inputs(base, quantization_settings(["avx2"]))
    assert other != inputs and other["quantization"]["reduce_range"] is True
    said: list[str] = []
    again, status, folder = int8_artifacts(base, ("onnx",), int8_cache, say=said.append, flags=("avx512_vnni",))
    assert status == "cached" and folder == entry and again.sha256["onnx"] == manifest["artifacts"]["onnx"]["sha256"]


def test_quantization_gives_the_same_bytes_twice(int8_cache: Path, tmp_path: Path) -> None:
    base = _base(int8_cache)
    entry = _int8_entry(int8_cache)
    settings = json.loads((entry / "manifest.json").read_text())["fingerprint_inputs"]["quantization"]
    again = tmp_path / "again.onnx"
    quantize_onnx(base.files["onnx"], again, base.input_name, base.input_shape, settings)
    assert _sha(again) == _sha(entry / "model.onnx")


def _break_scale(source: Path, dest: Path, factor: float) -> None:
    """The int8 file with one weight's scales multiplied by `factor` (0: zeroed)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    consts = {t.name: t for t in model.graph.initializer}
    weights = {name for name, t in consts.items() if t.data_type == onnx.TensorProto.INT8}
    node = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in weights)
    scale = consts[node.input[1]]
    scale.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(scale) * factor, scale.name))
    onnx.save(model, str(dest))


@pytest.mark.parametrize("factor", [0.0, 50.0])
def test_a_broken_scale_fails_the_export_and_nothing_is_cached(
    int8_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, factor: float
) -> None:
    from bench.export import quantize
    from bench.export.int8_checks import MIN_WEIGHT_SQNR_DB, weight_sqnr_db

    base = _base(int8_cache)
    good = _int8_entry(int8_cache) / "model.onnx"
    broken = tmp_path / "broken.onnx"
    _break_scale(good, broken, factor)
    assert weight_sqnr_db(base.files["onnx"], good)[0] >= MIN_WEIGHT_SQNR_DB  # the shipped recipe passes
    assert weight_sqnr_db(base.files["onnx"], broken)[0] < MIN_WEIGHT_SQNR_DB
    monkeypatch.setattr(quantize, "quantize_onnx", lambda _src, dest, *_a: shutil.copyfile(broken, dest))
    cache = tmp_path / "cache"
    shutil.copytree(int8_cache, cache)
    shutil.rmtree(_int8_entry(cache))
    with pytest.raises(ExportError, match="quantization broke the graph"):
        quantize.int8_artifacts(_base(cache), ("onnx",), cache, say=lambda _m: None, flags=("avx512_vnni",))
    assert not list(cache.glob("*-int8-*")) and not list(cache.glob(".tmp-*"))


def test_outputs_that_are_not_the_network_fail_the_agreement() -> None:
    from bench.export.int8_checks import Agreement

    assert Agreement("onnxruntime", 0.6, 0.81).failure("b0") is None  # B0 at 224 as shipped
    assert "cosine" in (Agreement("onnxruntime", 1.9, -0.4).failure("b0") or "")
    assert Agreement("openvino", float("nan"), float("nan")).failure("b0") is not None


def test_a_quantized_user_file_is_measured_as_it_is(
    int8_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.export import export_model, quantize

    user = tmp_path / "mine_int8.onnx"
    shutil.copyfile(_int8_entry(int8_cache) / "model.onnx", user)
    monkeypatch.setattr(quantize, "quantize_onnx", lambda *_a: pytest.fail("a quantized file was quantized again"))
    said: list[str] = []
    outcome = export_model(str(user), formats=("onnx",), cache_dir=tmp_path / "c", progress=said.append,
                           precision="int8")  # fmt: skip
    assert outcome.artifacts.sha256["onnx"] == _sha(user)
    assert any("already quantized: measured as it is" in line for line in said)


def test_int8_without_onnxruntime_names_the_extra(int8_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.export.quantize import int8_artifacts

    base = _base(int8_cache)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name))
    with pytest.raises(EffbenchError, match=r"needs onnxruntime .*pip install 'effbench\[onnx\]'"):
        int8_artifacts(base, ("onnx",), int8_cache, say=lambda _m: None, flags=("avx512_vnni",), force=True)


def test_precisions_are_split_checked_and_ordered() -> None:
    from bench.vocab import split_precisions

    assert split_precisions(["int8,fp32"]) == "fp32,int8"
    assert split_precisions(["int8", "bf16"]) == "bf16,int8"
    with pytest.raises(EffbenchError, match="precision fp16 is not one of fp32, bf16, int8"):
        split_precisions("fp16")


def test_int8_share_names_the_layers_that_did_not_run_int8() -> None:
    from bench.probes.int8 import ComputeNode, graph_name_of, int8_warnings, ort_kernel_is_int8, share_of

    nodes = [
        ComputeNode("stem", "conv kxk", 100, True, "QLinearConv"),
        ComputeNode("dw", "conv depthwise", 300, False, "FusedConv"),
        ComputeNode("se", "conv on 1x1 maps (SE)", 10, False, "Conv"),
    ]
    share = share_of(nodes, "test").to_dict()
    assert share["macs_share"] == pytest.approx(100 / 410) and share["nodes_share"] == pytest.approx(1 / 3)
    assert share["not_int8_layers"] == ["dw", "se"] and share["kernels"] == {"QLinearConv": 1}
    (warning,) = int8_warnings(share, "onnxruntime")
    assert "24% of the multiply-adds ran in int8" in warning and "conv depthwise x1" in warning and "dw, se" in warning
    assert int8_warnings({**share, "macs_share": 0.9}, "openvino") == []
    assert ort_kernel_is_int8("QLinearConv") and ort_kernel_is_int8("QGemm") and not ort_kernel_is_int8("FusedConv")
    graph = {"/b/Conv": 1, "/b/Conv_1": 2}
    assert graph_name_of("/b/Conv_1_token_3", graph) == "/b/Conv_1" and graph_name_of("/b/Conv_token_9", graph) == (
        "/b/Conv"
    )
    assert graph_name_of("Transpose", graph) is None


def test_the_int8_entry_travels_in_a_bundle_and_is_found_there(int8_cache: Path, tmp_path: Path) -> None:
    from bench.export import load_artifacts, write_bundle
    from bench.export.bundle import bundle_entry_folder, read_bundle_index
    from bench.export.quantize import int8_artifacts

    base = _base(int8_cache)
    int8, _, _ = int8_artifacts(base, ("onnx",), int8_cache, say=lambda _m: None, flags=("avx512_vnni",))
    bundle = write_bundle([base, int8], tmp_path / "bundle")
    entries = read_bundle_index(bundle)["entries"]
    assert sorted(e.get("precision", "fp32") for e in entries) == ["fp32", "int8"]
    fp32_folder = bundle_entry_folder(bundle, base.model_name)  # the int8 entry is never taken for the model
    assert fp32_folder.name == "efficientnet_b0_r_32"
    empty_cache = tmp_path / "elsewhere"
    found, status, folder = int8_artifacts(load_artifacts(fp32_folder), ("onnx",), empty_cache, say=lambda _m: None,
                                           flags=("avx512_vnni",))  # fmt: skip
    assert status == "cached" and folder.parent == bundle and found.sha256 == int8.sha256
    assert not empty_cache.exists()  # read from the bundle: nothing quantized, nothing written


def test_cache_list_keeps_the_int8_entry_and_names_an_old_recipe_stale(int8_cache: Path, tmp_path: Path) -> None:
    from bench.export.inventory import entry_status

    entry = _int8_entry(int8_cache)
    assert entry_status(entry).status == entry_status(next(p for p in int8_cache.iterdir() if p.name.startswith(
        "efficientnet") and "-int8-" not in p.name)).status  # fmt: skip
    from bench.export.cache import compute_fingerprint, entry_folder_name

    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["fingerprint_inputs"]["quantization"]["per_channel"] = False  # as an older recipe would have made it
    manifest["fingerprint"] = compute_fingerprint(manifest["fingerprint_inputs"])
    old = tmp_path / entry_folder_name(f"{manifest['model_name']}-int8", manifest["fingerprint"])
    shutil.copytree(entry, old)
    (old / "manifest.json").write_text(json.dumps(manifest))
    found = entry_status(old)
    assert found.status != entry_status(entry).status and "quantization" in found.why


def test_a_cpu_without_vnni_gets_the_documented_fallback_and_a_note(
    int8_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.export import quantize

    used: list[dict[str, Any]] = []

    def fake_quantize(_src: Path, dest: Path, _name: str, _shape: Any, settings: dict[str, Any]) -> None:
        used.append(settings)  # the recipe asked for; the bytes are the VNNI entry's (no second quantization)
        shutil.copyfile(_int8_entry(int8_cache) / "model.onnx", dest)

    monkeypatch.setattr(quantize, "quantize_onnx", fake_quantize)
    said: list[str] = []
    arts, status, folder = quantize.int8_artifacts(_base(int8_cache), ("onnx",), tmp_path / "cache", say=said.append,
                                                   flags=("avx2", "fma", "avx512f"))  # fmt: skip
    assert status == "exported" and used[0]["reduce_range"] is True and used[0]["isa"] == "no VNNI"
    assert arts.manifest["quantization"]["note"] == quantize.fallback_note(used[0])
    assert any(line.startswith("note: this CPU has no VNNI") for line in said)
    assert quantize.quantization_record(arts.manifest)["quantization"]["reduce_range"] is True  # type: ignore[index]
    assert folder != _int8_entry(int8_cache).parent / _int8_entry(int8_cache).name


def test_int8_without_onnxruntime_is_one_line_and_exit_2(
    int8_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(int8_cache, cache)
    shutil.rmtree(_int8_entry(cache))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name))
    code, _out, err = cli("export", "--model", TINY, "--precision", "int8", "--cache-dir", cache, "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "needs onnxruntime" in err and "pip install 'effbench[onnx]'" in err


def test_an_onnx_runtime_int8_profile_counts_every_multiply_add_by_kind(int8_cache: Path) -> None:
    """ONNX Runtime's fused int8 kernels (QLinearConv, QGemm) hide their prepacked weights from the profiler: each
    takes its kind from the QDQ graph's node it was fused from, so every kind's count and MACs still add up."""
    import os

    from bench.engine.launchers import InProcessLauncher
    from bench.probes.layer_kinds import graph_kinds
    from bench.probes.layers import profile_layers
    from bench.zoo import resolve_model

    onnx = _int8_entry(int8_cache) / "model.onnx"
    spec = resolve_model(TINY)
    cpu = min(os.sched_getaffinity(0))
    profile = profile_layers(spec.name, onnx, "s", [cpu], 1, precision="int8", runs=2, warmup=1,
                             launcher=InProcessLauncher(), model_macs=spec.macs)  # fmt: skip
    assert profile.precision == "int8" and profile.macs == spec.macs  # every multiply-add of the zoo's count
    kinds = {row.kind: row for row in profile.kinds}
    graph = graph_kinds(onnx)
    assert {"conv 1x1", "conv depthwise", "conv on 1x1 maps (SE)", "fully connected"} <= set(kinds)
    assert all(kinds[kind].nodes == graph[kind][0] for kind in graph)


def test_a_suite_without_the_quantizer_skips_its_int8_cells_and_runs_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.backends
    from bench.suite.definition import Suite
    from bench.suite.run import suite_requests

    monkeypatch.setattr(bench.backends, "is_installed", lambda name: name == "openvino")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    suite = Suite("t", "", (TINY,), ("openvino",), (("openvino", ("fp32", "int8")),), (1,), "fast", None, None,
                  "if-supported")  # fmt: skip
    reasons = {cell.precision: cell.skip_reason for cell in suite_requests(suite, ("avx512f",), {1: (1,)}, None)}
    assert reasons["fp32"] is None
    assert "needs onnxruntime" in str(reasons["int8"]) and "effbench[onnx]" in str(reasons["int8"])
