"""User model files (.onnx, OpenVINO .xml): validation, input shape, and the batch-1 static copy for the cache."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import EffbenchError, first_line

ONNX_SUFFIXES = (".onnx",)
IR_SUFFIXES = (".xml",)

# ONNX TensorProto element types effbench can feed (it generates float32 inputs).
_ONNX_FLOAT = 1


@dataclass(frozen=True)
class UserModelInfo:
    """What a user model file declares, and the static batch-1 input shape effbench will use."""

    path: Path
    kind: str  # "onnx" | "openvino"
    input_name: str
    declared_shape: tuple[int | str | None, ...] | None  # None: rank unknown; str/None entries: dynamic dims
    input_shape: tuple[int, ...]
    input_dtype: str
    needs_static_copy: bool  # the file has dynamic input dims (or external data) to pin in the cached copy
    opset: int | None
    outputs: tuple[str, ...]


def parse_input_shape(text: str) -> tuple[int, ...]:
    """'1,3,224,224' (or 1x3x224x224) -> (1, 3, 224, 224), with an error naming the bad value."""
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise EffbenchError(
            f"invalid --input-shape '{text}': give positive integers separated by commas, e.g. 1,3,224,224"
        )
    return dims


def _format_dims(dims: tuple[int | str | None, ...] | None) -> str:
    if dims is None:
        return "[unknown rank]"
    return "[" + ", ".join(str(d) if isinstance(d, int) else (d or "?") for d in dims) + "]"


def resolve_static_shape(
    declared: tuple[int | str | None, ...] | None,
    override: tuple[int, ...] | None,
    where: str,
) -> tuple[int, ...]:
    """The static batch-1 shape: the override (checked against the declared static dims), else the declared
    shape with a dynamic batch set to 1; any other dynamic dim needs --input-shape."""
    if override is not None:
        if declared is not None:
            if len(override) != len(declared):
                raise EffbenchError(
                    f"--input-shape {','.join(map(str, override))} has {len(override)} dims but {where} takes "
                    f"{len(declared)} {_format_dims(declared)}: give one size per dim"
                )
            for i, (want, have) in enumerate(zip(override, declared, strict=True)):
                if isinstance(have, int) and have != want:
                    raise EffbenchError(
                        f"--input-shape {','.join(map(str, override))} disagrees with {where} "
                        f"{_format_dims(declared)} at dim {i} ({want} vs {have}): change --input-shape "
                        "or drop it"
                    )
        if override[0] != 1:
            raise EffbenchError(
                f"--input-shape {','.join(map(str, override))} has batch {override[0]}: effbench measures "
                "batch 1, so the first dim must be 1"
            )
        return override
    if declared is None:
        raise EffbenchError(
            f"{where} does not declare its input shape: pass --input-shape with the sizes to use, "
            "e.g. --input-shape 1,3,224,224"
        )
    dims = list(declared)
    if dims and not isinstance(dims[0], int):
        dims[0] = 1  # a dynamic batch becomes 1: effbench measures batch 1
    dynamic = [i for i, d in enumerate(dims) if not isinstance(d, int)]
    if dynamic:
        example = ",".join(str(d) if isinstance(d, int) else "N" for d in dims)
        raise EffbenchError(
            f"{where} has dynamic input dims {_format_dims(declared)} (dim {', '.join(map(str, dynamic))}): "
            f"pass --input-shape with the sizes to use, e.g. --input-shape {example}"
        )
    if dims and dims[0] != 1:
        raise EffbenchError(
            f"{where} has a fixed batch of {dims[0]} {_format_dims(declared)}: effbench measures batch 1; "
            "re-export the model with batch 1 or a dynamic batch"
        )
    return tuple(int(d) for d in dims)  # type: ignore[arg-type]


def check_model_path(path: Path) -> str:
    """'onnx' or 'openvino' for an existing model file, else an EffbenchError naming the way out."""
    if not path.exists():
        raise EffbenchError(
            f"model file {path} does not exist: check the path, or pass a model name (see 'effbench models')"
        )
    if path.is_dir():
        raise EffbenchError(
            f"{path} is a folder without an effbench manifest.json or index.json: pass an .onnx or .xml file, "
            "an exported artifact folder, or a bundle made by 'effbench export --bundle'"
        )
    suffix = path.suffix.lower()
    if suffix in ONNX_SUFFIXES:
        return "onnx"
    if suffix in IR_SUFFIXES:
        return "openvino"
    raise EffbenchError(
        f"unsupported model file {path} (suffix '{path.suffix}'): pass an .onnx file, an OpenVINO .xml, "
        "or a model name (PyTorch weights go to --weights with a model name)"
    )


def _sniff(path: Path) -> str | None:
    """A hint at what a file that fails to parse as ONNX really is."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return None
    if not head:
        return "the file is empty"
    if head.startswith(b"PK\x03\x04"):
        return "it looks like a zip archive (a PyTorch checkpoint? pass it to --weights with a model name)"
    stripped = head.lstrip()
    if stripped.startswith(b"<?xml") or stripped.startswith(b"<net"):
        return "it looks like XML (an OpenVINO IR? name it .xml)"
    if stripped[:1] in (b"{", b"["):
        return "it looks like JSON"
    if all(32 <= c < 127 or c in (9, 10, 13) for c in head):
        return "it looks like a text file"
    return None


def inspect_onnx(path: Path, override: tuple[int, ...] | None) -> tuple[UserModelInfo, Any]:
    """Load and validate a user ONNX file (checker + strict shape inference); return its info and the proto."""
    import onnx
    from google.protobuf.message import DecodeError

    hint = _sniff(path)
    if hint == "the file is empty":
        raise EffbenchError(f"{path} is not an ONNX model: the file is empty; re-export it or check the path")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError, UnicodeDecodeError) as exc:
        detail = hint or f"truncated or corrupt ({type(exc).__name__}: {first_line(exc)})"
        raise EffbenchError(f"{path} is not a readable ONNX model: {detail}; re-export it or check the path") from None
    if model.ir_version == 0 or not model.HasField("graph"):
        detail = hint or "no ONNX graph found (truncated, corrupt, or another format)"
        raise EffbenchError(f"{path} is not a readable ONNX model: {detail}; re-export it or check the path")
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    uses_external = any(uses_external_data(t) for t in _get_all_tensors(model))
    if uses_external:
        try:
            onnx.load_external_data_for_model(model, str(path.parent))
        except (OSError, ValueError) as exc:
            raise EffbenchError(
                f"{path} keeps its weights in external data that cannot be read ({first_line(exc)}): copy the "
                "data file(s) next to the .onnx"
            ) from None
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError, ValueError, RuntimeError) as exc:
        raise EffbenchError(
            f"{path} is not a valid ONNX model ({first_line(exc)}): re-export it, e.g. with "
            "'effbench export --model NAME'"
        ) from None

    initializers = {init.name for init in model.graph.initializer}
    inputs = [inp for inp in model.graph.input if inp.name not in initializers]
    if len(inputs) != 1:
        names = ", ".join(inp.name for inp in inputs) or "none"
        raise EffbenchError(f"{path} has {len(inputs)} inputs ({names}): effbench measures single-input image models")
    inp = inputs[0]
    tensor_type = inp.type.tensor_type
    if tensor_type.elem_type != _ONNX_FLOAT:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type) if tensor_type.elem_type else "?"
        raise EffbenchError(
            f"input '{inp.name}' of {path} is {dtype}: effbench feeds float32 inputs; export the model "
            "with a float32 input"
        )
    declared: tuple[int | str | None, ...] | None
    if tensor_type.HasField("shape"):
        declared = tuple(
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None)
            for d in tensor_type.shape.dim
        )
    else:
        declared = None
    shape = resolve_static_shape(declared, override, f"{path} (input '{inp.name}')")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    info = UserModelInfo(
        path=path,
        kind="onnx",
        input_name=inp.name,
        declared_shape=declared,
        input_shape=shape,
        input_dtype="float32",
        needs_static_copy=declared != shape or uses_external,
        opset=opset,
        outputs=tuple(o.name for o in model.graph.output),
    )
    return info, model


def write_static_onnx(info: UserModelInfo, model: Any, target: Path) -> None:
    """The cached ONNX: a byte copy when the file is already static, else the input dims pinned to the shape."""
    import onnx

    if not info.needs_static_copy:
        shutil.copyfile(info.path, target)
        return
    initializers = {init.name for init in model.graph.initializer}
    graph_input = next(inp for inp in model.graph.input if inp.name not in initializers)
    shape_proto = graph_input.type.tensor_type.shape
    shape_proto.ClearField("dim")
    for size in info.input_shape:
        shape_proto.dim.add().dim_value = size
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise EffbenchError(
            f"{info.path} does not accept input shape {','.join(map(str, info.input_shape))} "
            f"({first_line(exc)}): pass a different --input-shape"
        ) from None
    onnx.save(model, str(target))


def inspect_ir(path: Path, override: tuple[int, ...] | None) -> tuple[UserModelInfo, Any]:
    """Read and validate an OpenVINO IR (.xml with its .bin); return its info and the ov.Model."""
    import openvino as ov

    bin_path = path.with_suffix(".bin")
    if not bin_path.is_file():
        raise EffbenchError(f"{path} has no weights file {bin_path.name} beside it: copy the .bin next to the .xml")
    try:
        model = ov.Core().read_model(str(path))
    except Exception as exc:  # openvino raises plain RuntimeError/Exception subclasses for bad files
        raise EffbenchError(
            f"{path} is not a readable OpenVINO IR ({first_line(exc)}): re-create it or check the path"
        ) from None
    if len(model.inputs) != 1:
        raise EffbenchError(f"{path} has {len(model.inputs)} inputs: effbench measures single-input image models")
    port = model.inputs[0]
    name = port.get_any_name() if port.get_names() else f"input_{0}"
    element = port.get_element_type().get_type_name()
    if element != "f32":
        raise EffbenchError(f"input '{name}' of {path} is {element}: effbench feeds float32 inputs")
    pshape = port.get_partial_shape()
    declared: tuple[int | str | None, ...] | None = (
        None if pshape.rank.is_dynamic else tuple(d.get_length() if d.is_static else None for d in pshape)
    )
    shape = resolve_static_shape(declared, override, f"{path} (input '{name}')")
    info = UserModelInfo(
        path=path,
        kind="openvino",
        input_name=name,
        declared_shape=declared,
        input_shape=shape,
        input_dtype="float32",
        needs_static_copy=declared != shape,
        opset=None,
        outputs=tuple(o.get_any_name() if o.get_names() else f"output_{i}" for i, o in enumerate(model.outputs)),
    )
    return info, model


def write_static_ir(info: UserModelInfo, model: Any, target_xml: Path) -> None:
    """The cached IR: the .xml/.bin bytes when static, else the model reshaped to the static batch-1 shape."""
    import openvino as ov

    if not info.needs_static_copy:
        shutil.copyfile(info.path, target_xml)
        shutil.copyfile(info.path.with_suffix(".bin"), target_xml.with_suffix(".bin"))
        return
    try:
        model.reshape({model.inputs[0]: ov.PartialShape(list(info.input_shape))})
    except Exception as exc:
        raise EffbenchError(
            f"{info.path} cannot be reshaped to {','.join(map(str, info.input_shape))} ({first_line(exc)}): "
            "pass a different --input-shape"
        ) from None
    ov.save_model(model, str(target_xml), compress_to_fp16=False)
