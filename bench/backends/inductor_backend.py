"""Compiled PyTorch backend: the AOTInductor package compiled at export (bench.export.aot) for the cell's thread count
and precision, loaded with torch; N intra-op threads, one inter-op thread, inference mode, denormals flushed."""

from __future__ import annotations

import contextlib
import time
from typing import Any, ClassVar

from bench.backends.base import Backend, ColdStart, LoadTarget, Session
from bench.backends.torch_backend import TorchSession

# LoadTarget.options key under which the planner hands over the package's manifest "compile" block.
COMPILE_OPTION = "compile"


class InductorSession(TorchSession):
    """The torch session with the loaded package's runner as its model (its input bound and run the same way)."""

    def __init__(
        self, torch: Any, runner: Any, cold_start: ColdStart, precision: str, flush: bool, compiled: dict[str, Any]
    ) -> None:
        super().__init__(torch, runner, cold_start, precision, flush)
        self._compiled = compiled

    def running(self) -> contextlib.AbstractContextManager[Any]:
        # No autocast here: a bf16 package carries its casts inside the compiled program (bench.export.aot).
        return self._torch.inference_mode()

    def effective_settings(self) -> dict[str, Any]:
        return {
            **self.common_settings(),
            "compiled_threads": self._compiled.get("threads"),
            "aot_inductor": self._compiled,
        }

    def warnings(self, requested_precision: str) -> list[str]:
        compiled = self._compiled.get("threads")
        running = self._torch.get_num_threads()
        if compiled is not None and compiled != running:
            return [
                f"the package was compiled for {compiled} thread(s) and runs with {running}: its kernels keep "
                f"{compiled}; compile it for this thread count"
            ]
        return []


class InductorBackend(Backend):
    name: ClassVar[str] = "inductor"
    module: ClassVar[str] = "torch"
    install_extra: ClassVar[str | None] = "torch"
    aliases: ClassVar[tuple[str, ...]] = ("aoti", "compiled")
    formats: ClassVar[tuple[str, ...]] = ()  # compiled from the model spec per cell (bench.export.aot), not exported
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "bf16")
    by_default: ClassVar[bool] = False  # a compile takes minutes per model, thread count and precision
    settings: ClassVar[tuple[str, ...]] = (
        "torch.export + AOTInductor package (freezing, C++ wrapper, cpp.threads=N), compiled once per thread count",
        "and precision and cached; set_num_threads(N), set_num_interop_threads(1), inference_mode, flush denormals;",
        'bf16 = forward under torch.autocast("cpu", bfloat16) inside the compiled program',
    )

    @classmethod
    def install_hint(cls) -> str:
        return "pip install 'effbench[torch]': the inductor worker loads its AOTInductor package with torch"

    def import_runtime(self) -> None:
        import torch  # noqa: F401

    def versions(self) -> dict[str, str]:
        import torch

        return {"inductor": torch.__version__, "torch": torch.__version__}

    def load(self, target: LoadTarget, threads: int, precision: str) -> Session:
        path = target.file("inductor")
        import torch

        # Thread settings first, as for the torch backend: the inter-op pool size is fixed by the first parallel work.
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        flush = bool(torch.set_flush_denormal(True))
        start = time.perf_counter()
        runner = torch._inductor.aoti_load_package(str(path))
        loaded = time.perf_counter()
        compiled = dict(target.options.get(COMPILE_OPTION) or {})
        return InductorSession(torch, runner, ColdStart(load_s=loaded - start), precision, flush, compiled)
