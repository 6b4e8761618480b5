"""Parity: run each exported artifact on one seeded input and compare with PyTorch fp32 (or ONNX Runtime).

The runtimes run as the latency workers will run them: ONNX Runtime on CPU with denormals as zero, OpenVINO at
f32 (its default is bf16 on CPUs with AVX-512 BF16/AMX) with denormals flushed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import EffbenchError, first_line

if TYPE_CHECKING:
    import numpy as np

# Parity tolerance for fp32. Relative error is max|a - ref| / max|ref| over the whole output: scale-free (random
# weights give logits of any magnitude) and not blown up by logits near zero the way an elementwise ratio is.
# Runtimes that reorder fp32 sums land around 1e-6 on these CNNs; 1e-4 leaves room for that and still catches a
# wrong op, a lost layer or silent fp16/bf16.
PARITY_RTOL = 1e-4
PARITY_DEFINITION = "max|out - ref| / max|ref| over all outputs, float64 arithmetic"
# Deep networks amplify fp32 rounding: ResNet-152's PyTorch fp32 output is itself 3e-4 away from the same model
# run in float64, and ONNX Runtime lands 2e-4 from float64 (closer than PyTorch fp32) yet 3.6e-4 from PyTorch
# fp32. So the tolerance is max(PARITY_RTOL, PARITY_CONDITIONING_FACTOR x PyTorch fp32's own error against
# float64): a runtime passes when it is about as accurate as PyTorch fp32 on this model. bf16/fp16 or a wrong op
# are off by 1e-2 or more and still fail.
PARITY_CONDITIONING_FACTOR = 4.0


@dataclass(frozen=True)
class ParityCheck:
    """What the parity check found: each runtime's errors against the reference (or why there are none), the
    tolerance they were held to, the denormal settings each runtime ran with, and the shapes of the outputs."""

    reference: str | None  # "pytorch", "onnxruntime" or None (a single runtime: nothing to compare with)
    tolerance: float  # max relative error allowed (see PARITY_DEFINITION)
    seed: int  # of the input, see parity_input
    results: dict[str, dict[str, Any]]  # per runtime, as the manifest records it
    denormals: dict[str, dict[str, Any]]  # per runtime (and PyTorch), the flush-to-zero settings in effect
    output_shapes: tuple[tuple[int, ...], ...]
    reference_fp32_error: float | None = None  # PyTorch fp32's own error against float64, when it is the reference

    def failure(self, name: str) -> str | None:
        """The one-line reason this check fails the export of `name`, or None when every runtime passed."""
        for runtime, entry in self.results.items():
            if entry.get("ok") is False:
                if "problem" in entry:
                    detail = entry["problem"]
                else:
                    detail = (
                        f"max relative error {entry['max_rel_error']:.3g} > "
                        f"{entry.get('tolerance', PARITY_RTOL):.3g} "
                        f"(max abs {entry['max_abs_error']:.3g}; relative = {PARITY_DEFINITION})"
                    )
                return (
                    f"{name}: {runtime} output differs from {entry.get('reference') or 'what is expected'}: "
                    f"{detail}; nothing was cached"
                )
        return None

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's "parity" block (manifest format 1)."""
        block: dict[str, Any] = {
            "reference": self.reference,
            "input": {"distribution": "standard normal", "generator": "numpy.random.default_rng", "seed": self.seed},
            "tolerance": {
                "max_rel_error": self.tolerance,
                "floor": PARITY_RTOL,
                "conditioning_factor": PARITY_CONDITIONING_FACTOR,
                "definition": PARITY_DEFINITION,
            },
            "results": self.results,
            "denormals": self.denormals,
        }
        if self.reference_fp32_error is not None:
            block["pytorch_fp32_max_rel_error_vs_fp64"] = self.reference_fp32_error
        return block


def parity_input(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """The seeded input every runtime sees in the parity check."""
    import numpy as np

    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def run_onnxruntime(path: Path, input_name: str, x: np.ndarray) -> tuple[list[np.ndarray], dict[str, Any]]:
    """One inference in ONNX Runtime (CPU, denormals as zero); returns the outputs and the effective settings."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    outputs = [np.asarray(o, dtype=np.float32) for o in session.run(None, {input_name: x})]
    effective = {
        "onnxruntime": ort.__version__,
        "providers": session.get_providers(),
        "graph_optimization_level": str(options.graph_optimization_level),
        "session.set_denormal_as_zero": options.get_session_config_entry("session.set_denormal_as_zero"),
    }
    return outputs, effective


def run_openvino(xml_path: Path, x: np.ndarray) -> tuple[list[np.ndarray], dict[str, Any]]:
    """One inference in OpenVINO on CPU at f32 (the default is bf16 on CPUs with AVX-512 BF16/AMX), denormals
    flushed; returns the outputs and the properties the compiled model reports."""
    import numpy as np
    import openvino as ov

    core = ov.Core()
    default_denormals = core.get_property("CPU", "CPU_DENORMALS_OPTIMIZATION")
    default_precision = core.get_property("CPU", "INFERENCE_PRECISION_HINT")
    compiled = core.compile_model(
        str(xml_path), "CPU", {"INFERENCE_PRECISION_HINT": "f32", "CPU_DENORMALS_OPTIMIZATION": True}
    )
    result = compiled.create_infer_request().infer({0: x})
    outputs = [np.asarray(result[port], dtype=np.float32) for port in compiled.outputs]
    effective = {
        "openvino": ov.get_version(),
        "INFERENCE_PRECISION_HINT": _ov_type_name(compiled.get_property("INFERENCE_PRECISION_HINT")),
        "INFERENCE_PRECISION_HINT_default": _ov_type_name(default_precision),
        "CPU_DENORMALS_OPTIMIZATION": _ov_property(compiled, "CPU_DENORMALS_OPTIMIZATION"),
        "CPU_DENORMALS_OPTIMIZATION_default": default_denormals,
    }
    return outputs, effective


def _ov_type_name(value: Any) -> str:
    name = getattr(value, "get_type_name", None)
    text = name() if callable(name) else str(value)
    return {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}.get(text, text)


def _ov_property(compiled: Any, name: str) -> Any:
    try:
        value = compiled.get_property(name)
    except Exception:
        return None
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def float64_reference(module: Any, x: np.ndarray, reference: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    """The model run in float64 on `x`, and PyTorch fp32's own relative error against it."""
    import copy

    import torch

    module64 = copy.deepcopy(module).double()
    with torch.inference_mode():
        out = module64(torch.from_numpy(x.astype("float64")))
    del module64
    import numpy as np

    tensors = out if isinstance(out, (tuple, list)) else (out,)
    reference64 = [np.asarray(t.detach().cpu().numpy(), dtype=np.float64) for t in tensors]
    error = compare_outputs(reference64, reference).get("max_rel_error")
    return reference64, float(error) if error is not None else 0.0


def compare_outputs(
    reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], tolerance: float = PARITY_RTOL
) -> dict[str, Any]:
    """Max absolute and relative error (see PARITY_DEFINITION) of `candidate` against `reference`."""
    import numpy as np

    if len(reference) != len(candidate):
        return {"ok": False, "problem": f"{len(candidate)} outputs, the reference has {len(reference)}"}
    max_abs = 0.0
    scale = 0.0
    for ref, out in zip(reference, candidate, strict=True):
        if ref.shape != out.shape:
            return {"ok": False, "problem": f"output shape {list(out.shape)}, the reference has {list(ref.shape)}"}
        if not np.all(np.isfinite(out)):
            return {"ok": False, "problem": "the output holds NaN or Inf"}
        ref64, out64 = ref.astype(np.float64), out.astype(np.float64)
        if ref64.size:
            max_abs = max(max_abs, float(np.max(np.abs(out64 - ref64))))
            scale = max(scale, float(np.max(np.abs(ref64))))
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    return {
        "max_abs_error": max_abs,
        "max_rel_error": max_rel,
        "reference_max_abs": scale,
        "tolerance": tolerance,
        "ok": bool(max_rel <= tolerance),
    }


def run_parity(
    reference_name: str | None,
    reference: list[np.ndarray] | None,
    staging: Path,
    formats: tuple[str, ...],
    x: np.ndarray,
    input_name: str,
    error: type[EffbenchError],
    say: Callable[[str], None],
    seed: int = 0,
    tolerance: float = PARITY_RTOL,
    reference_fp64: list[np.ndarray] | None = None,
) -> ParityCheck:
    """Run each artifact on `x` and compare with the reference (PyTorch; else ONNX Runtime; else none).

    `reference_fp64`, when given, is the same model run in float64: each runtime's error against it is recorded
    too, as a measure of its own accuracy.
    """
    import importlib.util

    results: dict[str, Any] = {}
    denormals: dict[str, Any] = {}
    runs: dict[str, tuple[list[np.ndarray], dict[str, Any]]] = {}
    if "onnx" in formats:
        if importlib.util.find_spec("onnxruntime") is None:
            results["onnxruntime"] = {"ok": None, "skipped": "onnxruntime is not installed"}
            say("onnxruntime is not installed: ONNX parity not checked")
        else:
            try:
                runs["onnxruntime"] = run_onnxruntime(staging / "model.onnx", input_name, x)
            except Exception as exc:
                raise error(f"ONNX Runtime cannot run the ONNX file ({first_line(exc)}); nothing was cached") from None
            denormals["onnxruntime"] = {"session.set_denormal_as_zero": "1"}
    if "openvino" in formats:
        try:
            runs["openvino"] = run_openvino(staging / "model.xml", x)
        except Exception as exc:
            raise error(f"OpenVINO cannot run the IR ({first_line(exc)}); nothing was cached") from None
        eff = runs["openvino"][1]
        denormals["openvino"] = {
            "CPU_DENORMALS_OPTIMIZATION": eff["CPU_DENORMALS_OPTIMIZATION"],
            "CPU_DENORMALS_OPTIMIZATION_default": eff["CPU_DENORMALS_OPTIMIZATION_default"],
        }

    if reference is None and "onnxruntime" in runs and "openvino" in runs:
        reference_name, reference = "onnxruntime", runs["onnxruntime"][0]
    for runtime, (outputs, effective) in runs.items():
        if reference is None or runtime == reference_name:
            entry: dict[str, Any] = {"ok": None, "reference": None}
            import numpy as np

            finite = all(bool(np.all(np.isfinite(o))) for o in outputs)
            if not finite:
                entry = {"ok": False, "problem": "the output holds NaN or Inf"}
            elif runtime == "openvino" and "onnx" not in formats and reference_name is None:
                entry["note"] = "an OpenVINO IR can only run in OpenVINO: no second runtime to compare with"
            elif reference_name is None:
                entry["note"] = "no second runtime to compare with"
            else:
                entry["note"] = "this runtime is the reference"
        else:
            entry = {"reference": reference_name, **compare_outputs(reference, outputs, tolerance)}
            if reference_fp64 is not None:
                entry["max_rel_error_vs_fp64"] = compare_outputs(reference_fp64, outputs).get("max_rel_error")
        if runtime == "openvino" and effective.get("INFERENCE_PRECISION_HINT") != "f32":
            entry["ok"] = False
            entry["problem"] = f"OpenVINO ran at {effective.get('INFERENCE_PRECISION_HINT')}, not f32"
        entry["effective"] = effective
        results[runtime] = entry
    first = next(iter(runs.values()), None)
    return ParityCheck(
        reference=reference_name,
        tolerance=tolerance,
        seed=seed,
        results=results,
        denormals=denormals,
        output_shapes=tuple(tuple(o.shape) for o in first[0]) if first else (),
    )
