"""The small interface every runtime backend implements, and the job description a worker hands it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class LoadTarget:
    """What a backend loads: exported files (by format) and, for torch, the model spec to build the module from."""

    model_name: str
    files: dict[str, str] = field(default_factory=dict)  # {"onnx": path, "openvino": path to .xml}
    model_spec: dict[str, Any] | None = None
    input_name: str = "input"
    input_shape: tuple[int, ...] = (1, 3, 224, 224)
    seed: int = 0
    weights: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # backend-specific (the fake backend's script)

    def file(self, fmt: str) -> Path:
        from bench.errors import EffbenchError

        if fmt not in self.files:
            raise EffbenchError(f"model {self.model_name} has no {fmt} file; export it with 'effbench export'")
        return Path(self.files[fmt])


@dataclass
class ColdStart:
    """Seconds spent before the first timed inference; `load_s` reads the file, `compile_s` builds the session."""

    load_s: float = 0.0
    compile_s: float = 0.0


class Session:
    """A loaded model bound to one input; `run_once` is the only call inside the timed region."""

    cold_start: ColdStart

    def clocks(self) -> tuple[Callable[[], int], Callable[[], int]]:
        """(wall, process CPU time) clocks in ns the worker reads. Real backends use the real ones; the fake
        backend returns a fake clock so tests run without sleeping."""
        return time.perf_counter_ns, time.process_time_ns

    def bind_input(self, array: Any) -> None:
        """Hand the input to the runtime once (shared memory where the runtime allows), outside the timed loop."""
        raise NotImplementedError

    def run_once(self) -> None:
        raise NotImplementedError

    def running(self) -> contextlib.AbstractContextManager[Any]:
        """A context held around warm-up and the timed loop (torch: inference mode, autocast)."""
        return contextlib.nullcontext()

    def effective_settings(self) -> dict[str, Any]:
        """The settings the runtime reports back (threads, precision, options), not the ones we asked for."""
        return {}

    def int8_share(self) -> dict[str, Any] | None:
        """How much of an int8 model ran in int8, as the runtime tells it (bench.probes.int8.Int8Share as a dict);
        None where the runtime cannot say."""
        return None

    def warnings(self, requested_precision: str) -> list[str]:
        """Backend-specific warnings after loading (e.g. OpenVINO running bf16 when fp32 was asked)."""
        return []


class Backend:
    """One runtime. Subclasses import their runtime only inside methods.

    The class attributes are the runtime's facts, read by the registry (bench.backends), `effbench latency --help`,
    the planner and the error messages, so that nothing else spells them out again.
    """

    name: ClassVar[str]  # the name users type and results record ("onnxruntime")
    module: ClassVar[str]  # the importable module that tells whether the runtime is installed
    install_extra: ClassVar[str | None] = None  # the pip extra that installs it: pip install 'effbench[<extra>]'
    aliases: ClassVar[tuple[str, ...]] = ()  # other names accepted by --backend ("ort")
    formats: ClassVar[tuple[str, ...]] = ()  # artifact formats it loads ("onnx", "openvino"); () for a torch spec
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)  # drawn from bench.vocab.PRECISIONS
    # The runtime settings it applies, one help line each, for `effbench latency --help`; the worker records what
    # the runtime reports back (Session.effective_settings), which is the authority.
    settings: ClassVar[tuple[str, ...]] = ()
    hidden: ClassVar[bool] = False  # not offered to users (the fake backend of the tests)
    # Run when no --backend is given (and installed); False for one whose cells cost minutes to prepare (inductor
    # compiles each model for minutes): it runs when named.
    by_default: ClassVar[bool] = True

    @classmethod
    def install_hint(cls) -> str:
        """How to install the runtime, for 'not installed' messages."""
        return f"pip install 'effbench[{cls.install_extra}]'" if cls.install_extra else f"install {cls.module}"

    def supports_precision(self, precision: str) -> str | None:
        """None when `precision` can run here, else a one-line reason why not (the cell is skipped with it)."""
        if precision in self.precisions:
            return None
        return f"{self.name}: precision {precision} is not offered (it runs {', '.join(self.precisions)})"

    def import_runtime(self) -> None:
        """Import the runtime (timed separately as cold start `import_s`)."""

    def versions(self) -> dict[str, str]:
        raise NotImplementedError

    def load(self, target: LoadTarget, threads: int, precision: str) -> Session:
        raise NotImplementedError
