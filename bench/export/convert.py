"""ONNX → OpenVINO IR: the IR is converted from the very ONNX file ONNX Runtime runs, so both runtimes see one
graph, with fp32 weights (no silent fp16 compression)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.errors import EffbenchError, first_line


def convert_to_openvino(onnx_path: Path, xml_path: Path, error: type[EffbenchError]) -> dict[str, Any]:
    """Convert the ONNX file to IR with fp32 weights (no silent fp16 compression); returns what was recorded."""
    from collections import Counter

    import openvino as ov

    try:
        model = ov.convert_model(str(onnx_path))
        ov.save_model(model, str(xml_path), compress_to_fp16=False)
    except Exception as exc:
        raise error(f"OpenVINO could not convert {onnx_path.name} ({first_line(exc)}); nothing was cached") from None
    types = Counter(
        op.get_output_element_type(0).get_type_name()
        for op in model.get_ordered_ops()
        if op.get_type_name() == "Constant"
    )
    return {"constant_element_types": dict(sorted(types.items())), "openvino": ov.get_version()}
