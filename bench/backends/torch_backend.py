"""PyTorch backend: eager module built from the model spec, N intra-op threads, one inter-op thread, inference
mode, denormals flushed; bf16 through CPU autocast."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, ClassVar

from bench.backends.base import Backend, ColdStart, LoadTarget, Session


class TorchSession(Session):
    def __init__(self, torch: Any, model: Any, cold_start: ColdStart, precision: str, flush_denormal: bool) -> None:
        self._torch = torch
        self._model = model
        self.cold_start = cold_start
        self._precision = precision
        self._flush_denormal = flush_denormal
        self._input: Any = None

    def bind_input(self, array: Any) -> None:
        # from_numpy shares the seeded array's memory: the same input bytes as the other backends, no copy.
        self._input = self._torch.from_numpy(array)

    def run_once(self) -> None:
        self._model(self._input)

    def running(self) -> contextlib.AbstractContextManager[Any]:
        stack = contextlib.ExitStack()
        stack.enter_context(self._torch.inference_mode())
        if self._precision == "bf16":
            stack.enter_context(self._torch.autocast("cpu", dtype=self._torch.bfloat16))
        return stack

    def common_settings(self) -> dict[str, Any]:
        """What torch reports of the process's threads, denormals, vector ISA and precision (eager and compiled)."""
        torch = self._torch
        return {
            "num_threads": torch.get_num_threads(),
            "num_interop_threads": torch.get_num_interop_threads(),
            "flush_denormal": self._flush_denormal,
            "inference_mode": True,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "precision": self._precision,
        }

    def effective_settings(self) -> dict[str, Any]:
        torch = self._torch
        return {
            **self.common_settings(),
            "training": bool(self._model.training),
            "autocast": "bf16" if self._precision == "bf16" else None,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
        }


class TorchBackend(Backend):
    name: ClassVar[str] = "torch"
    module: ClassVar[str] = "torch"
    install_extra: ClassVar[str | None] = "torch"
    aliases: ClassVar[tuple[str, ...]] = ("pytorch",)
    formats: ClassVar[tuple[str, ...]] = ()  # builds the module from the model spec; no exported file
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "bf16")
    settings: ClassVar[tuple[str, ...]] = (
        "set_num_threads(N), set_num_interop_threads(1), inference_mode, eval, flush denormals,",
        'fp32 matmul precision "highest"; bf16 = torch.autocast("cpu", bfloat16)',
    )

    def import_runtime(self) -> None:
        import torch  # noqa: F401

    def versions(self) -> dict[str, str]:
        import torch

        return {"torch": torch.__version__}

    def load(self, target: LoadTarget, threads: int, precision: str) -> Session:
        from bench.errors import EffbenchError
        from bench.zoo import ModelSpec, check_buildable

        if target.model_spec is None:
            raise EffbenchError(
                f"torch cannot run {target.model_name}: it is a user ONNX/IR file, not a model from the zoo"
            )
        spec = ModelSpec.from_dict(target.model_spec)
        check_buildable(spec)  # refuse before minutes of building end in running out of memory

        import torch

        # Thread settings first: the inter-op pool size can only be set before any parallel work starts.
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        flush = bool(torch.set_flush_denormal(True))
        # fp32 means fp32: no TF32/bf16 shortcuts in matmul.
        torch.set_float32_matmul_precision("highest")
        from bench.nets import build_torch_model

        start = time.perf_counter()
        weights = Path(target.weights) if target.weights else None
        model = build_torch_model(spec, seed=target.seed, weights=weights)
        model.eval()
        built = time.perf_counter()
        return TorchSession(torch, model, ColdStart(load_s=built - start, compile_s=0.0), precision, flush)
