"""Building a cache entry in its staging folder: PyTorch → ONNX (or a user file's static copy), then the IR, the
parity check and the manifest."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import EffbenchError, ExportError, first_line
from bench.export.cache import (
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    artifact_sha256,
    describe_files,
    provenance,
    sha256_file,
)
from bench.export.convert import convert_to_openvino
from bench.export.parity import (
    PARITY_CONDITIONING_FACTOR,
    PARITY_RTOL,
    ParityCheck,
    float64_reference,
    parity_input,
    run_parity,
)
from bench.export.plans import DEFAULT_OPSET, EXPORTER, INPUT_NAME, OUTPUT_NAME, SUPPORTED_OPSETS, ExportPlan

if TYPE_CHECKING:
    import numpy as np

    from bench.export.userfiles import UserModelInfo


def build_entry(
    plan: ExportPlan, staging: Path, formats: tuple[str, ...], say: Callable[[str], None]
) -> dict[str, Any]:
    """Write the artifacts of `plan` in `formats` into `staging`, check their parity; returns the manifest."""
    builder = {"pytorch": _build_from_torch, "onnx-file": _build_from_onnx_file, "openvino-ir": _build_from_ir_file}
    return builder[plan.source.name](plan, staging, formats, say)


def _fail_on_parity(name: str, parity: ParityCheck) -> None:
    why = parity.failure(name)
    if why:
        raise ExportError(why)


@dataclass(frozen=True)
class _TorchReference:
    """PyTorch's answer on the parity input, which every artifact of the entry is checked against."""

    x: np.ndarray  # the seeded parity input
    outputs: list[np.ndarray]  # PyTorch fp32
    outputs_fp64: list[np.ndarray]  # the same model in float64
    fp32_error: float  # PyTorch fp32's own relative error against float64
    flush_denormal: bool  # what torch.set_flush_denormal(True) answered

    @property
    def tolerance(self) -> float:
        # A model PyTorch itself computes less exactly in fp32 gets a wider, proportional parity tolerance.
        return max(PARITY_RTOL, PARITY_CONDITIONING_FACTOR * self.fp32_error)


def _torch_reference(
    plan: ExportPlan, say: Callable[[str], None], timings: dict[str, float]
) -> tuple[Any, _TorchReference]:
    """The eval-mode torch module of `plan` and its reference outputs (importing torch here, and only here)."""
    assert plan.spec is not None
    spec = plan.spec
    say(f"{spec.name}: building the PyTorch model (importing torch)")
    started = time.perf_counter()
    import torch

    from bench.nets import build_torch_model

    flush = bool(torch.set_flush_denormal(True))
    module = build_torch_model(spec, seed=plan.seed, weights=plan.weights)
    module.eval()
    timings["build_s"] = time.perf_counter() - started

    x = parity_input(tuple(spec.input_shape), plan.seed)
    started = time.perf_counter()
    with torch.inference_mode():
        out = module(torch.from_numpy(x.copy()))
    outputs = [_to_numpy(t) for t in (out if isinstance(out, (tuple, list)) else (out,))]
    timings["pytorch_reference_s"] = time.perf_counter() - started
    started = time.perf_counter()
    outputs_fp64, fp32_error = float64_reference(module, x, outputs)
    timings["pytorch_float64_reference_s"] = time.perf_counter() - started
    return module, _TorchReference(x, outputs, outputs_fp64, fp32_error, flush)


def _build_from_torch(
    plan: ExportPlan, staging: Path, formats: tuple[str, ...], say: Callable[[str], None]
) -> dict[str, Any]:
    assert plan.spec is not None and plan.opset is not None
    spec, opset = plan.spec, plan.opset
    timings: dict[str, float] = {}
    module, ref = _torch_reference(plan, say, timings)

    onnx_path = staging / "model.onnx"
    say(f"{spec.name}: exporting ONNX (opset {opset}, TorchScript exporter)")
    started = time.perf_counter()
    exporter = export_onnx(module, tuple(spec.input_shape), onnx_path, opset)
    timings["export_onnx_s"] = time.perf_counter() - started
    del module
    started = time.perf_counter()
    outputs = validate_onnx_file(onnx_path, error=ExportError)
    timings["validate_onnx_s"] = time.perf_counter() - started

    ov_info: dict[str, Any] | None = None
    if "openvino" in formats:
        say(f"{spec.name}: converting the ONNX file to OpenVINO IR (fp32 weights)")
        started = time.perf_counter()
        ov_info = convert_to_openvino(onnx_path, staging / "model.xml", error=ExportError)
        timings["convert_openvino_s"] = time.perf_counter() - started
        if ov_info["constant_element_types"].get("f16"):
            raise ExportError(
                f"{spec.name}: the OpenVINO IR holds f16 constants although compress_to_fp16=False; "
                "nothing was cached (report this with the openvino version)"
            )

    say(f"{spec.name}: checking parity with PyTorch")
    started = time.perf_counter()
    parity = run_parity(
        "pytorch", ref.outputs, staging, formats, ref.x, INPUT_NAME, error=ExportError, say=say, seed=plan.seed,
        tolerance=ref.tolerance, reference_fp64=ref.outputs_fp64,
    )  # fmt: skip
    timings["parity_s"] = time.perf_counter() - started
    parity = replace(
        parity,
        denormals={**parity.denormals, "pytorch": {"torch.set_flush_denormal(True)": ref.flush_denormal}},
        reference_fp32_error=ref.fp32_error,
    )
    _fail_on_parity(spec.name, parity)

    source = {
        "kind": "pytorch",
        "seed": None if plan.weights is not None else plan.seed,
        "weights": (
            {"path": str(plan.weights), "sha256": plan.fingerprint_inputs["weights_sha256"]} if plan.weights else None
        ),
        "model_code_sha256": plan.fingerprint_inputs["model_code_sha256"],
    }
    return _manifest(
        plan, staging, formats, source=source, input_shape=tuple(spec.input_shape), input_name=INPUT_NAME,
        outputs=outputs, opset=opset, exporter=exporter, openvino=ov_info, parity=parity, timings=timings,
    )  # fmt: skip


def _inspect_user_file(plan: ExportPlan) -> tuple[Path, UserModelInfo, dict[str, float]]:
    """Validate the user's file (once) and start the entry's timings with the inspection time."""
    plan.inspect_user_file()
    assert plan.user_path is not None and plan.user is not None
    return plan.user_path, plan.user, {"inspect_s": plan.user_inspect_s}


def _build_from_onnx_file(
    plan: ExportPlan, staging: Path, formats: tuple[str, ...], say: Callable[[str], None]
) -> dict[str, Any]:
    from bench.export.userfiles import write_static_onnx

    path, info, timings = _inspect_user_file(plan)
    started = time.perf_counter()
    onnx_path = staging / "model.onnx"
    write_static_onnx(info, plan.user_model, onnx_path)
    plan.user_model = None
    outputs = validate_onnx_file(onnx_path, error=EffbenchError)
    timings["validate_onnx_s"] = time.perf_counter() - started

    ov_info = None
    if "openvino" in formats:
        say(f"{path.name}: converting to OpenVINO IR (fp32 weights)")
        started = time.perf_counter()
        ov_info = convert_to_openvino(onnx_path, staging / "model.xml", error=EffbenchError)
        timings["convert_openvino_s"] = time.perf_counter() - started

    say(f"{path.name}: checking parity of OpenVINO against ONNX Runtime")
    x = parity_input(info.input_shape, plan.seed)
    started = time.perf_counter()
    parity = run_parity(None, None, staging, formats, x, info.input_name, error=EffbenchError, say=say, seed=plan.seed)
    timings["parity_s"] = time.perf_counter() - started
    from bench.export.quantize import is_quantized_onnx

    # An int8 file's runtimes round differently (relative errors near 1 on random weights): recorded, not enforced.
    quantized = is_quantized_onnx(onnx_path)
    if not quantized:
        _fail_on_parity(path.name, parity)
    source = {
        "kind": "onnx-file",
        **({"quantized": True} if quantized else {}),
        "path": str(path.resolve()),
        "sha256": plan.user_sha256,
        "declared_input_shape": list(info.declared_shape) if info.declared_shape is not None else None,
        "static_copy": (
            "input dims pinned to the static batch-1 shape" if info.needs_static_copy else "byte-identical copy"
        ),
    }
    return _manifest(
        plan,
        staging,
        formats,
        source=source,
        input_shape=info.input_shape,
        input_name=info.input_name,
        outputs=outputs,
        opset=info.opset,
        exporter=None,
        openvino=ov_info,
        parity=parity,
        timings=timings,
    )


def _build_from_ir_file(
    plan: ExportPlan, staging: Path, formats: tuple[str, ...], say: Callable[[str], None]
) -> dict[str, Any]:
    from bench.export.userfiles import write_static_ir

    path, info, timings = _inspect_user_file(plan)
    started = time.perf_counter()
    write_static_ir(info, plan.user_model, staging / "model.xml")
    plan.user_model = None
    timings["write_ir_s"] = time.perf_counter() - started
    x = parity_input(info.input_shape, plan.seed)
    started = time.perf_counter()
    parity = run_parity(
        None, None, staging, ("openvino",), x, info.input_name, error=EffbenchError, say=say, seed=plan.seed
    )
    timings["parity_s"] = time.perf_counter() - started
    _fail_on_parity(path.name, parity)
    outputs = [
        {"name": name, "shape": list(shape)} for shape, name in zip(parity.output_shapes, info.outputs, strict=False)
    ]
    source = {
        "kind": "openvino-ir",
        "path": str(path.resolve()),
        "sha256": plan.user_sha256,
        "declared_input_shape": list(info.declared_shape) if info.declared_shape is not None else None,
        "static_copy": "reshaped to the static batch-1 shape" if info.needs_static_copy else "byte-identical copy",
    }
    return _manifest(
        plan,
        staging,
        ("openvino",),
        source=source,
        input_shape=info.input_shape,
        input_name=info.input_name,
        outputs=outputs,
        opset=None,
        exporter=None,
        openvino={"constant_element_types": None},
        parity=parity,
        timings=timings,
    )


def _manifest(
    plan: ExportPlan,
    staging: Path,
    formats: tuple[str, ...],
    *,
    source: dict[str, Any],
    input_shape: tuple[int, ...],
    input_name: str,
    outputs: list[dict[str, Any]],
    opset: int | None,
    exporter: dict[str, Any] | None,
    openvino: dict[str, Any] | None,
    parity: ParityCheck,
    timings: dict[str, float],
) -> dict[str, Any]:
    artifacts: dict[str, Any] = {}
    names: list[str] = []
    if "onnx" in formats:
        artifacts["onnx"] = {"file": "model.onnx", "sha256": sha256_file(staging / "model.onnx"), "opset": opset}
        names.append("model.onnx")
    if "openvino" in formats:
        artifacts["openvino"] = {
            "file": "model.xml",
            "weights": "model.bin",
            "sha256": artifact_sha256("openvino", staging / "model.xml"),
            "sha256_of": "model.xml bytes followed by model.bin bytes",
            "converted_from": "model.onnx" if "onnx" in formats else None,
            "compress_to_fp16": False,
            **(openvino or {}),
        }
        names += ["model.xml", "model.bin"]
    return {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "model_name": plan.model_name,
        "spec": plan.spec.to_dict() if plan.spec is not None else None,
        "fingerprint": plan.fingerprint,
        "fingerprint_inputs": plan.fingerprint_inputs,
        "source": source,
        "input": {"name": input_name, "shape": list(input_shape), "dtype": "float32"},
        "outputs": outputs,
        "files": describe_files(staging, names),
        "artifacts": artifacts,
        "exporter": exporter,
        "parity": parity.to_manifest(),
        **provenance(("torch", "onnx", "onnxruntime", "openvino", "numpy"), timings),
    }


def _to_numpy(tensor: Any) -> np.ndarray:
    import numpy as np

    return np.asarray(tensor.detach().cpu().numpy(), dtype=np.float32)


def export_onnx(module: Any, input_shape: tuple[int, ...], path: Path, opset: int) -> dict[str, Any]:
    """Export an eval-mode torch module at batch 1 with the TorchScript exporter; returns what was used."""
    import warnings

    import torch
    from torch.onnx import _constants

    low = getattr(_constants, "ONNX_MIN_OPSET", SUPPORTED_OPSETS[0])
    high = getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", SUPPORTED_OPSETS[1])
    if not low <= opset <= high:
        raise EffbenchError(
            f"unsupported opset {opset}: torch {torch.__version__}'s TorchScript exporter supports opsets "
            f"{low}-{high} (default {DEFAULT_OPSET})"
        )
    example = torch.zeros(input_shape, dtype=torch.float32)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                module,
                (example,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                dynamo=False,
                do_constant_folding=True,
                export_params=True,
            )
    except Exception as exc:
        raise EffbenchError(
            f"PyTorch could not export to ONNX opset {opset} ({first_line(exc)}): try the default opset {DEFAULT_OPSET}"
        ) from None
    return {**EXPORTER, "opset": opset, "supported_opsets": [low, high], "torch": torch.__version__}


def validate_onnx_file(path: Path, error: type[EffbenchError]) -> list[dict[str, Any]]:
    """onnx.checker plus strict shape inference on the written file; returns the outputs' names and shapes."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
        inferred = onnx.shape_inference.infer_shapes(onnx.load(str(path)), strict_mode=True)
    except Exception as exc:
        raise error(f"the ONNX file {path.name} fails validation ({first_line(exc)}); nothing was cached") from None
    outputs = []
    for out in inferred.graph.output:
        dims = [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in out.type.tensor_type.shape.dim
        ]
        outputs.append({"name": out.name, "shape": dims})
    return outputs
