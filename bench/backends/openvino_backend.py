"""OpenVINO backend: CPU plugin, N inference threads, one stream, latency hint, explicit inference precision,
synchronous requests on an input tensor set once; records the precision the compiled graph really runs in."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, ClassVar

from bench.backends.base import Backend, ColdStart, LoadTarget, Session

# ENABLE_CPU_PINNING is off: the worker process is already pinned (sched_setaffinity) to exactly the CPUs of the
# measurement, as for torch and ONNX Runtime, which do not pin their threads one by one. Leaving OpenVINO's own
# per-thread pinning off keeps the three runtimes under the same placement rule; with --threads 1 it makes no
# difference. ENABLE_HYPER_THREADING is off: --threads N means N physical cores.
ENABLE_CPU_PINNING = False

# Layer types of OpenVINO's execution graph that move data rather than compute (their precision says nothing
# about the arithmetic).
_NON_COMPUTE = {"Input", "Output", "Parameter", "Result", "Const", "Constant", "Reorder", "Convert"}


def _to_plain(value: Any) -> Any:
    """Property values as JSON: ov.Type -> 'f32', enums -> their name, OVAny -> its string."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if hasattr(value, "to_string"):  # ov.Type
        return str(value.to_string())
    if hasattr(value, "astype"):  # OVAny
        return str(value.astype(str))
    if hasattr(value, "name"):  # pybind enums such as ExecutionMode
        return str(value.name)
    return str(value)


class OpenVinoSession(Session):
    def __init__(self, ov: Any, compiled: Any, cold_start: ColdStart, properties: dict[str, Any]) -> None:
        self._ov = ov
        self._compiled = compiled
        self._request = compiled.create_infer_request()
        self._properties = properties
        self.cold_start = cold_start
        self._tensor: Any = None

    def bind_input(self, array: Any) -> None:
        # The tensor shares the numpy buffer (no copy) and stays set on the request for every inference.
        self._tensor = self._ov.Tensor(array, shared_memory=True)
        self._request.set_input_tensor(self._tensor)
        self._infer = self._request.infer

    def run_once(self) -> None:
        # share_outputs: no copy of the output into a fresh numpy array on each call.
        self._infer(share_outputs=True)

    def runtime_precisions(self) -> dict[str, dict[str, int]]:
        """Count the execution graph's layers by the precision they run in: all layers and compute layers."""
        every: Counter[str] = Counter()
        compute: Counter[str] = Counter()
        for op in self._compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            precision = _to_plain(info["runtimePrecision"]) if "runtimePrecision" in info else "unknown"
            layer = _to_plain(info["layerType"]) if "layerType" in info else op.get_type_name()
            every[precision] += 1
            if layer not in _NON_COMPUTE:
                compute[precision] += 1
        return {"all": dict(every), "compute": dict(compute)}

    def effective_settings(self) -> dict[str, Any]:
        effective: dict[str, Any] = {}
        for name, key in self._properties.items():
            try:
                effective[name] = _to_plain(self._compiled.get_property(key))
            except RuntimeError as exc:
                effective[name] = f"unreadable: {exc}"
        effective["runtime_precision"] = self.runtime_precisions()
        hint = str(effective.get("INFERENCE_PRECISION_HINT", "")).lower()
        effective["precision"] = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}.get(hint, hint or "unknown")
        if any(p.lower() in ("u8", "i8") for p in effective["runtime_precision"]["compute"]):
            effective["precision"] = "int8"  # the quantized layers run u8/i8 whatever the hint (it governs the rest)
        return effective

    def int8_share(self) -> dict[str, Any] | None:
        from bench.probes.int8 import openvino_share

        return openvino_share(self._compiled).to_dict()

    def warnings(self, requested_precision: str) -> list[str]:
        found: list[str] = []
        compute = self.runtime_precisions()["compute"]
        if requested_precision == "fp32":
            low = {p: n for p, n in compute.items() if p.lower() in ("bf16", "f16")}
            if low:
                found.append(
                    f"openvino: fp32 was asked but {sum(low.values())} compute layers run in "
                    f"{'/'.join(sorted(low))}: the timing is not an fp32 timing; check INFERENCE_PRECISION_HINT "
                    "and that the IR was saved without FP16 weight compression (compress_to_fp16=False)"
                )
        elif requested_precision == "int8" and not any(p.lower() in ("u8", "i8") for p in compute):
            found.append("openvino: int8 was asked but no compute layer runs in u8/i8: the timing is an fp32 timing")
        elif requested_precision == "bf16" and not any(p.lower() == "bf16" for p in compute):
            found.append(
                "openvino: bf16 was asked but no compute layer runs in bf16 (this CPU may lack AVX-512 BF16/AMX): "
                "the timing is an fp32 timing"
            )
        return found


def compile_config(ov: Any, threads: int, precision: str) -> dict[Any, Any]:
    """The compile_model config of every effbench OpenVINO model (cells, and bench.probes.layers' profiled runs)."""
    import openvino.properties as props
    import openvino.properties.hint as hints
    import openvino.properties.intel_cpu as intel_cpu

    return {
        props.inference_num_threads: threads,
        props.num_streams: 1,
        hints.performance_mode: hints.PerformanceMode.LATENCY,
        hints.inference_precision: ov.Type.bf16 if precision == "bf16" else ov.Type.f32,
        hints.enable_cpu_pinning: ENABLE_CPU_PINNING,
        hints.enable_hyper_threading: False,
        # Denormals flushed, as on torch and ORT and as at export parity; OpenVINO's default here is off.
        intel_cpu.denormals_optimization: True,
    }


class OpenVinoBackend(Backend):
    name: ClassVar[str] = "openvino"
    module: ClassVar[str] = "openvino"
    install_extra: ClassVar[str | None] = "openvino"
    aliases: ClassVar[tuple[str, ...]] = ("ov",)
    formats: ClassVar[tuple[str, ...]] = ("openvino",)
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "bf16", "int8")
    settings: ClassVar[tuple[str, ...]] = (
        "INFERENCE_NUM_THREADS N, NUM_STREAMS 1, PERFORMANCE_HINT LATENCY, INFERENCE_PRECISION_HINT",
        "f32 (bf16 with --precision bf16; int8: the QDQ model's IR, the rest f32),",
        "ENABLE_CPU_PINNING off (the process is already pinned),",
        "ENABLE_HYPER_THREADING off, CPU_DENORMALS_OPTIMIZATION on (flush denormals), synchronous requests",
    )

    def import_runtime(self) -> None:
        import openvino  # noqa: F401

    def versions(self) -> dict[str, str]:
        import openvino

        return {"openvino": openvino.get_version()}

    def load(self, target: LoadTarget, threads: int, precision: str) -> Session:
        import openvino as ov
        import openvino.properties as props
        import openvino.properties.hint as hints
        import openvino.properties.intel_cpu as intel_cpu

        path = target.file("openvino")
        core = ov.Core()
        start = time.perf_counter()
        model = core.read_model(str(path))
        loaded = time.perf_counter()
        keys = {
            "INFERENCE_NUM_THREADS": props.inference_num_threads,
            "NUM_STREAMS": props.num_streams,
            "PERFORMANCE_HINT": hints.performance_mode,
            "INFERENCE_PRECISION_HINT": hints.inference_precision,
            "ENABLE_CPU_PINNING": hints.enable_cpu_pinning,
            "ENABLE_HYPER_THREADING": hints.enable_hyper_threading,
            "EXECUTION_MODE_HINT": hints.execution_mode,
            "CPU_DENORMALS_OPTIMIZATION": intel_cpu.denormals_optimization,
        }
        compiled = core.compile_model(model, "CPU", compile_config(ov, threads, precision))
        compiled_at = time.perf_counter()
        return OpenVinoSession(ov, compiled, ColdStart(load_s=loaded - start, compile_s=compiled_at - loaded), keys)
