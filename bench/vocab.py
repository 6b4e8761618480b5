"""The words effbench accepts, once: precisions, artifact formats and preset names (backend names: bench.backends)."""

from __future__ import annotations

from collections.abc import Sequence

from bench.errors import EffbenchError

# Inference precisions a user may ask for. Which backend runs which is that backend's own fact
# (bench.backends.base.Backend.precisions); a cell whose backend lacks the precision is skipped with a note.
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8")

# Artifact formats of the export cache, in the order they are built (the OpenVINO IR is converted from the ONNX).
FORMATS: tuple[str, ...] = ("onnx", "openvino")
FORMAT_ALIASES: dict[str, str] = {"ir": "openvino", "ov": "openvino"}


def split_precisions(values: Sequence[str] | str) -> str:
    """Precisions from repeated and comma-separated values ("int8,fp32"), checked, comma-joined in PRECISIONS order."""
    items = [values] if isinstance(values, str) else list(values)
    names = {part.strip().lower() for item in items for part in str(item).split(",") if part.strip()}
    unknown = sorted(names - set(PRECISIONS))
    if unknown or not names:
        raise EffbenchError(f"precision {', '.join(unknown) or '(none)'} is not one of {', '.join(PRECISIONS)}")
    return ",".join(p for p in PRECISIONS if p in names)


def preset_names() -> tuple[str, ...]:
    """The measurement presets (bench.engine.policy.PRESETS holds them; this reads their names from there)."""
    from bench.engine.policy import PRESETS

    return tuple(PRESETS)
