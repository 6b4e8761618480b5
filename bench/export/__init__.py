"""PyTorch → ONNX → OpenVINO IR export, cached by fingerprint, with parity checks; user ONNX/IR files; bundles.

One module per step (see docs/DESIGN.md): plans (what to export, the fingerprint), build (torch → ONNX, the
entry's manifest), convert (ONNX → IR), parity (runtimes against PyTorch), cache (entry layout, hashing, locks),
inventory (which entries the current code still hits; pruning), bundle (self-contained copies), userfiles
(.onnx/.xml given by the user) and pipeline (the orchestration); aot (AOTInductor packages per thread count and
precision, compiled by aot_compile in a process of its own) for the inductor backend.
Importing this package imports no runtime.
"""

from bench.export.bundle import write_bundle
from bench.export.cache import FORMATS, ArtifactSet
from bench.export.parity import PARITY_RTOL
from bench.export.pipeline import ExportOutcome, ensure_artifacts, export_model, load_artifacts
from bench.export.plans import (
    SUPPORTED_OPSETS,
    looks_like_path,
    make_plan,
    normalize_formats,
)
from bench.export.userfiles import parse_input_shape

__all__ = [
    "FORMATS",
    "PARITY_RTOL",
    "SUPPORTED_OPSETS",
    "ArtifactSet",
    "ExportOutcome",
    "ensure_artifacts",
    "export_model",
    "load_artifacts",
    "looks_like_path",
    "make_plan",
    "normalize_formats",
    "parse_input_shape",
    "write_bundle",
]
