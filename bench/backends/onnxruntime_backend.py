"""ONNX Runtime backend: CPU execution provider, N intra-op threads, 1 inter-op thread, sequential, all graph
optimizations, denormals flushed; the input is bound once through an IOBinding."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from bench.backends.base import Backend, ColdStart, LoadTarget, Session

# ORT's intra-op pool spin-waits for work between parallel regions by default. effbench keeps it ("1"): a
# latency benchmark measures the runtime as a latency-sensitive service runs it, the pinned CPUs are dedicated
# to the measurement, and with the default --threads 1 there is no intra-op pool (the calling thread does all
# the work), so the choice only matters for --threads > 1, where spinning trades CPU time (the CPU/wall ratio
# shows it, close to N) for lower latency. The value is recorded in every result under `effective`.
INTRA_OP_ALLOW_SPINNING = "1"

CONFIG_ENTRIES = {
    "session.intra_op.allow_spinning": INTRA_OP_ALLOW_SPINNING,
    "session.inter_op.allow_spinning": "0",
    "session.set_denormal_as_zero": "1",
}


def session_options(ort: Any, threads: int) -> Any:
    """The SessionOptions of every effbench ONNX Runtime session (cells, and bench.probes.layers' profiled runs)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    for key, value in CONFIG_ENTRIES.items():
        options.add_session_config_entry(key, value)
    return options


class OnnxRuntimeSession(Session):
    def __init__(
        self, ort: Any, session: Any, cold_start: ColdStart, input_name: str, precision: str = "fp32", **int8: Any
    ) -> None:
        self._ort = ort
        self._session = session
        self.cold_start = cold_start
        self._input_name = input_name
        self._precision = precision
        self._int8 = int8  # path and threads: an int8 cell's share is read from a profiled session of its own
        self._binding: Any = None
        self._input_value: Any = None
        self._array: Any = None

    def bind_input(self, array: Any) -> None:
        self._array = array
        # The OrtValue wraps the numpy buffer once; each run then skips Python-side input conversion.
        self._input_value = self._ort.OrtValue.ortvalue_from_numpy(array)
        binding = self._session.io_binding()
        binding.bind_ortvalue_input(self._input_name, self._input_value)
        for output in self._session.get_outputs():
            binding.bind_output(output.name, "cpu")
        self._binding = binding
        self._run = self._session.run_with_iobinding

    def run_once(self) -> None:
        self._run(self._binding)

    def effective_settings(self) -> dict[str, Any]:
        options = self._session.get_session_options()
        return {
            "providers": list(self._session.get_providers()),
            "intra_op_num_threads": options.intra_op_num_threads,
            "inter_op_num_threads": options.inter_op_num_threads,
            "execution_mode": str(options.execution_mode).rsplit(".", 1)[-1],
            "graph_optimization_level": str(options.graph_optimization_level).rsplit(".", 1)[-1],
            "config": {key: options.get_session_config_entry(key) for key in CONFIG_ENTRIES},
            "input_type": self._session.get_inputs()[0].type,
            "precision": self._precision,
        }

    def int8_share(self) -> dict[str, Any] | None:
        if self._precision != "int8" or self._array is None:
            return None
        from bench.probes.int8 import onnxruntime_share

        options = session_options(self._ort, self._int8["threads"])
        return onnxruntime_share(self._ort, self._int8["path"], options, self._input_name, self._array).to_dict()


class OnnxRuntimeBackend(Backend):
    name: ClassVar[str] = "onnxruntime"
    module: ClassVar[str] = "onnxruntime"
    install_extra: ClassVar[str | None] = "onnx"
    aliases: ClassVar[tuple[str, ...]] = ("ort",)
    formats: ClassVar[tuple[str, ...]] = ("onnx",)
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "int8")
    settings: ClassVar[tuple[str, ...]] = (
        "CPU execution provider, intra-op N, inter-op 1, sequential, ORT_ENABLE_ALL,",
        "denormals as zero, intra-op spinning ON (ORT's default: lowest latency on dedicated CPUs,",
        "costs CPU time when N > 1), inter-op spinning off; bf16 is not offered (cell skipped);",
        "int8 runs the QDQ model of bench.export.quantize as it is (QLinear kernels after fusion)",
    )

    def supports_precision(self, precision: str) -> str | None:
        if precision in self.precisions:
            return None
        return (
            f"onnxruntime's CPU execution provider has no {precision} inference mode for fp32 models "
            "(it would need a converted model)"
        )

    def import_runtime(self) -> None:
        import onnxruntime  # noqa: F401

    def versions(self) -> dict[str, str]:
        import onnxruntime

        return {"onnxruntime": onnxruntime.__version__}

    def load(self, target: LoadTarget, threads: int, precision: str) -> Session:
        import onnxruntime as ort

        path = target.file("onnx")
        start = time.perf_counter()
        model_bytes = path.read_bytes()
        loaded = time.perf_counter()
        options = session_options(ort, threads)
        session = ort.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])
        compiled = time.perf_counter()
        inputs = session.get_inputs()
        input_name = inputs[0].name
        cold = ColdStart(load_s=loaded - start, compile_s=compiled - loaded)
        return OnnxRuntimeSession(ort, session, cold, input_name, precision, path=path, threads=threads)
