"""The words effbench accepts, once: precisions, artifact formats and preset names (backend names: bench.backends)."""

from __future__ import annotations

# Inference precisions a user may ask for. Which backend runs which is that backend's own fact
# (bench.backends.base.Backend.precisions); a cell whose backend lacks the precision is skipped with a note.
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8")

# Artifact formats of the export cache, in the order they are built (the OpenVINO IR is converted from the ONNX).
FORMATS: tuple[str, ...] = ("onnx", "openvino")
FORMAT_ALIASES: dict[str, str] = {"ir": "openvino", "ov": "openvino"}


def preset_names() -> tuple[str, ...]:
    """The measurement presets (bench.engine.policy.PRESETS holds them; this reads their names from there)."""
    from bench.engine.policy import PRESETS

    return tuple(PRESETS)
