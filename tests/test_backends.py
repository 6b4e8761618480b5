"""Real runtimes on a tiny EfficientNet (B0 at 32×32): the settings each runtime reports back, clean workers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bench.backends import (
    available_backends,
    backend_class,
    canonical_name,
    get_backend,
    install_hint,
    is_installed,
    settings_help,
    user_backends,
)
from bench.backends.base import Backend, LoadTarget
from bench.engine.launchers import SubprocessLauncher
from bench.engine.policy import MeasurePolicy, ProcessStopRule
from bench.engine.runner import CellPlan, build_job
from bench.errors import EffbenchError

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
    assert user_backends() == ["torch", "onnxruntime", "openvino", "inductor"]  # table order; the fake one is hidden
    assert canonical_name("ORT") == "onnxruntime" and canonical_name("ov") == "openvino"
    assert canonical_name(" PyTorch ") == "torch"
    assert is_installed("fake")
    with pytest.raises(EffbenchError, match="unknown backend 'tensorflow'; known backends: torch, onnxruntime"):
        get_backend("tensorflow")
    with pytest.raises(EffbenchError, match=r"unknown backend 'onnxrutime' \(did you mean 'onnxruntime'\?\)"):
        canonical_name("onnxrutime")
    assert get_backend("onnxruntime").supports_precision("bf16") is not None
    assert get_backend("openvino").supports_precision("bf16") is None
    assert get_backend("fake").supports_precision("bf16") == "fake: precision bf16 is not offered (it runs fp32)"


def test_available_backends_leaves_out_missing_runtimes_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "onnxruntime" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert not is_installed("ort")
    runtimes = {"torch": "torch", "openvino": "openvino", "inductor": "torch"}
    expected = [name for name, module in runtimes.items() if real_find_spec(module) is not None]
    assert available_backends() == expected


def test_backend_facts_agree_with_the_vocabulary_and_the_package() -> None:
    import tomllib

    from bench.vocab import FORMATS, PRECISIONS

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for name in user_backends():
        cls = backend_class(name)
        assert set(cls.formats) <= set(FORMATS), name
        assert cls.precisions and set(cls.precisions) <= set(PRECISIONS), name
        assert cls.install_extra in extras, f"{name}: pip extra '{cls.install_extra}' is not in pyproject.toml"
        assert any(cls.module in requirement for requirement in extras[cls.install_extra]), name
        assert cls.settings, f"{name} documents no runtime settings for --help"
        for precision in PRECISIONS:
            assert (get_backend(name).supports_precision(precision) is None) == (precision in cls.precisions)
    documented = [line.split()[0] for line in settings_help().splitlines()[1:] if not line.startswith(" " * 3)]
    assert documented == user_backends()  # every user-facing backend, none hidden, in table order


class ToyBackend(Backend):
    """A runtime added the documented way: this class plus one registry line."""

    name: ClassVar[str] = "toy"
    module: ClassVar[str] = "json"
    install_extra: ClassVar[str | None] = "toy"
    aliases: ClassVar[tuple[str, ...]] = ("tb",)
    formats: ClassVar[tuple[str, ...]] = ("onnx",)
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "bf16")
    settings: ClassVar[tuple[str, ...]] = ("first toy setting,", "second toy setting")


def test_a_new_backend_is_one_class_and_one_registry_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bench.backends
    from bench.cli import main

    monkeypatch.setattr(bench.backends, "REGISTRY", (*bench.backends.REGISTRY, f"{__name__}:ToyBackend"))
    bench.backends._classes.cache_clear()
    bench.backends._aliases.cache_clear()
    try:
        assert user_backends()[-1] == "toy" and canonical_name("TB") == "toy"
        assert is_installed("toy") and "toy" in available_backends()
        assert install_hint("tb") == "pip install 'effbench[toy]'"
        assert get_backend("toy").supports_precision("bf16") is None
        with pytest.raises(SystemExit):
            main(["latency", "--help"])
        assert "  toy          first toy setting,\n               second toy setting\n" in capsys.readouterr().out
    finally:
        monkeypatch.undo()
        bench.backends._classes.cache_clear()
        bench.backends._aliases.cache_clear()
    assert "toy" not in user_backends()


def test_torch_backend_refuses_an_absurd_spec_before_building() -> None:
    from bench.zoo import resolve_model

    spec = resolve_model("efficientnet:phi=99")
    target = LoadTarget(model_name=spec.name, model_spec=spec.to_dict(), input_shape=spec.input_shape)
    with pytest.raises(EffbenchError, match=r"^efficientnet:phi=99 is too large to build here: about .* parameters"):
        get_backend("torch").load(target, 1, "fp32")


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
    # One printable line that keeps the runtime's reason, fit for the result document and the table.
    assert result.error and result.error.isprintable()
    assert "protobuf" in result.error.lower()
