"""Real runtimes on a tiny EfficientNet (B0 at 32×32): the settings each runtime reports back, clean workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.backends import available_backends, canonical_name, get_backend, is_installed, user_backends
from bench.backends.base import LoadTarget
from bench.errors import EffbenchError
from bench.policy import MeasurePolicy, ProcessStopRule
from bench.runner import CellPlan, SubprocessLauncher, build_job

ROOT = Path(__file__).resolve().parent.parent
TINY = MeasurePolicy(
    name="tiny",
    min_processes=1,
    max_processes=1,
    warmup_window_s=0.02,
    warmup_min_s=0.05,
    warmup_max_s=0.3,
    process_min_s=0.2,
    process_max_s=2.0,
)
STOP = ProcessStopRule(min_samples=20, min_s=0.2, max_s=2.0)


@pytest.fixture(scope="module")
def tiny_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from bench.export import ensure_artifacts

    # Shared with test_latency_cli.py through the session's base temp folder: exported once per session.
    cache = tmp_path_factory.getbasetemp() / "effbench-cache"
    return ensure_artifacts("b0:r=32", formats=("onnx", "openvino"), cache_dir=cache)


def measure(arts: Any, backend: str, precision: str = "fp32") -> dict[str, Any]:
    cpus = (max(os.sched_getaffinity(0)),)
    target = LoadTarget(
        model_name=arts.model_name,
        files={fmt: str(p) for fmt, p in arts.files.items()},
        model_spec=arts.spec.to_dict(),
        input_name=arts.input_name,
        input_shape=tuple(arts.input_shape),
    )
    plan = CellPlan(arts.model_name, backend, precision, 1, cpus, target)
    result = SubprocessLauncher().launch(build_job(plan, TINY, STOP, 0), timeout_s=120)
    assert result.status == "ok", f"{result.error}\n{result.stderr_tail}"
    assert result.record is not None
    record = result.record.to_dict()
    assert record["affinity"] == list(cpus)
    assert len(record["samples_ns"]) >= 20
    assert all(s > 0 for s in record["samples_ns"])
    cold = record["cold_start"]
    assert cold["import_s"] > 0 and cold["first_inference_s"] > 0 and cold["load_s"] + cold["compile_s"] > 0
    assert record["peak_rss_bytes"] > 10_000_000
    return record


def test_registry_names_and_errors() -> None:
    assert user_backends() == ["torch", "onnxruntime", "openvino"]
    assert canonical_name("ORT") == "onnxruntime" and canonical_name("ov") == "openvino"
    assert set(available_backends()) <= set(user_backends())
    assert is_installed("fake")
    with pytest.raises(EffbenchError, match="unknown backend 'tensorflow'; known backends: torch, onnxruntime"):
        get_backend("tensorflow")
    assert get_backend("onnxruntime").supports_precision("bf16") is not None
    assert get_backend("openvino").supports_precision("bf16") is None


def test_cli_and_registry_import_no_runtime() -> None:
    code = (
        "import sys, bench.cli, bench.backends, bench.runner, bench.commands.latency;"
        "bench.cli.build_parser(); bench.backends.available_backends();"
        "print([m for m in ('torch', 'onnxruntime', 'openvino', 'onnx') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.onnxruntime
def test_onnxruntime_settings_and_clean_worker(tiny_artifacts: Any) -> None:
    pytest.importorskip("onnxruntime")
    record = measure(tiny_artifacts, "onnxruntime")
    effective = record["effective"]
    assert effective["providers"] == ["CPUExecutionProvider"]
    assert effective["intra_op_num_threads"] == 1 and effective["inter_op_num_threads"] == 1
    assert effective["execution_mode"] == "ORT_SEQUENTIAL"
    assert effective["graph_optimization_level"] == "ORT_ENABLE_ALL"
    assert effective["config"] == {
        "session.intra_op.allow_spinning": "1",
        "session.inter_op.allow_spinning": "0",
        "session.set_denormal_as_zero": "1",
    }
    assert record["torch_imported"] is False
    assert record["runtimes_loaded"] == ["onnxruntime"]
    assert "onnxruntime" in record["versions"]


@pytest.mark.openvino
def test_openvino_runs_fp32_when_asked(tiny_artifacts: Any) -> None:
    pytest.importorskip("openvino")
    record = measure(tiny_artifacts, "openvino")
    effective = record["effective"]
    assert effective["INFERENCE_PRECISION_HINT"] == "f32"
    assert effective["INFERENCE_NUM_THREADS"] == 1
    assert effective["NUM_STREAMS"] == 1
    assert effective["PERFORMANCE_HINT"] == "LATENCY"
    assert effective["ENABLE_CPU_PINNING"] is False
    assert effective["ENABLE_HYPER_THREADING"] is False
    assert effective["CPU_DENORMALS_OPTIMIZATION"] is True  # flushed, as at export parity and on the others
    compute = effective["runtime_precision"]["compute"]
    assert compute.get("f32", 0) > 0
    assert not {"bf16", "f16"} & set(compute), compute
    assert effective["precision"] == "fp32"
    assert not any("fp32 was asked" in w for w in record["warnings"])
    assert record["torch_imported"] is False
    assert record["runtimes_loaded"] == ["openvino"]


@pytest.mark.openvino
def test_openvino_bf16_is_reported(tiny_artifacts: Any) -> None:
    pytest.importorskip("openvino")
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    record = measure(tiny_artifacts, "openvino", precision="bf16")
    compute = record["effective"]["runtime_precision"]["compute"]
    if "avx512_bf16" in flags or "amx_bf16" in flags:
        assert compute.get("bf16", 0) > 0
        assert record["effective"]["precision"] == "bf16"
    else:  # the plugin falls back to f32 and the worker says so
        assert any("no compute layer runs in bf16" in w for w in record["warnings"])


@pytest.mark.torch
def test_torch_settings(tiny_artifacts: Any) -> None:
    pytest.importorskip("torch")
    record = measure(tiny_artifacts, "torch")
    effective = record["effective"]
    assert effective["num_threads"] == 1 and effective["num_interop_threads"] == 1
    assert effective["flush_denormal"] is True
    assert effective["training"] is False and effective["inference_mode"] is True
    assert effective["float32_matmul_precision"] == "highest"
    assert effective["precision"] == "fp32" and effective["autocast"] is None
    assert record["runtimes_loaded"] == ["torch"]


def test_worker_reports_a_bad_artifact(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not an onnx file")
    target = LoadTarget(model_name="bad", files={"onnx": str(bad)}, input_shape=(1, 3, 8, 8))
    plan = CellPlan("bad", "onnxruntime", "fp32", 1, (max(os.sched_getaffinity(0)),), target)
    result = SubprocessLauncher().launch(build_job(plan, TINY, STOP, 0), timeout_s=60)
    assert result.status == "failed"
    assert result.error and "\n" not in result.error
    assert json.dumps(result.error)  # one plain line, fit for the result document
