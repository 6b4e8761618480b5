"""Slow checks at full size (run with `./scripts/test -m slow`): real exports and a real measurement."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.zoo import resolve_model

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.torch
@pytest.mark.parametrize("name", ["b0", "b1", "b2", "b3", "resnet50", "mobilenet_v3_large"])
def test_full_resolution_module_matches_blueprint(name: str) -> None:
    torch = pytest.importorskip("torch")
    from bench.nets import build_torch_model, measured_macs

    spec = resolve_model(name)
    model = build_torch_model(spec)
    with torch.inference_mode():
        out = model(torch.randn(spec.input_shape))
    assert out.shape == (1, 1000) and bool(torch.isfinite(out).all())
    assert measured_macs(model, spec.input_shape) == spec.macs
    assert sum(p.numel() for p in model.parameters()) == spec.params


@pytest.mark.torch
@pytest.mark.onnxruntime
@pytest.mark.openvino
@pytest.mark.parametrize("name", ["b0", "resnet152"])
def test_full_size_export_passes_parity(tmp_path: Path, name: str) -> None:
    for module in ("torch", "onnx", "onnxruntime", "openvino"):
        pytest.importorskip(module)
    from bench.export import ensure_artifacts

    arts = ensure_artifacts(name, cache_dir=tmp_path)
    parity = arts.manifest["parity"]
    assert parity["reference"] == "pytorch"
    for runtime in ("onnxruntime", "openvino"):
        result = parity["results"][runtime]
        assert result["ok"] is True and result["max_rel_error"] <= parity["tolerance"]["max_rel_error"]
        assert result["max_rel_error_vs_fp64"] is not None


@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_real_measurement_of_b0(tmp_path: Path) -> None:
    for module in ("torch", "onnx", "onnxruntime", "openvino"):
        pytest.importorskip(module)
    config = tmp_path / "bench.toml"
    config.write_text(f'[paths]\ncache_dir = "{tmp_path / "cache"}"\nresults_dir = "{tmp_path / "results"}"\n')
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--config",
            str(config),
            "latency",
            "--model",
            "b0",
            "--backend",
            "onnxruntime,openvino",
            "--fast",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    cells = json.loads(out.stdout)
    assert [c["backend"] for c in cells] == ["onnxruntime", "openvino"]
    for cell in cells:
        assert cell["status"] == "ok" and cell["effective_precision"] == "fp32"
        assert cell["n"] >= 64 and cell["median_ms"] > 0
    (result,) = (tmp_path / "results").rglob("*.json")
    doc = json.loads(result.read_text())
    assert doc["status"] == "complete"
    assert all(p["samples_ns"] for c in doc["cells"] for p in c["processes"])
