"""What to export and how: the request checked and resolved into one plan, with the fingerprint of its bytes.

The fingerprint is the sha256 of everything that determines an entry's bytes: the recipe version, the model spec
with its seed (or the weights file's sha256), the opset, the exporter and conversion settings, the sha256 of the
model code (bench/nets.py and the zoo's blueprints) and the torch/onnx/openvino versions; for a user file, its
sha256 and --input-shape. `current_fingerprint_inputs` recomputes it for an existing entry, so `effbench cache`
can tell which entries this code and these versions would still hit.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import EffbenchError
from bench.export.cache import FORMATS, artifact_sha256, compute_fingerprint, library_versions, sha256_file

if TYPE_CHECKING:
    from bench.export.userfiles import UserModelInfo
    from bench.zoo import ModelSpec

DEFAULT_OPSET = 17
# The TorchScript exporter of torch 2.13 (torch.onnx._constants: ONNX_MIN_OPSET=7,
# ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET=20). Kept here so that a bad --opset fails before torch is imported;
# the export checks it against the installed torch again.
SUPPORTED_OPSETS = (7, 20)
INPUT_NAME = "input"
OUTPUT_NAME = "logits"

# Bump when the export recipe changes in a way that changes the bytes (the old cache entries then miss).
# 2: random weights sampled and BN-calibrated in float64 and rounded, so every CPU exports the same bytes.
# 3: each ONNX -> IR conversion in a fresh process: OpenVINO numbers new nodes from a process-wide counter, so the
#    .xml depended on what the process had converted before (a suite's B1 IR differed from a lone export's).
EXPORT_RECIPE = 3
EXPORTER = {"name": "torch.onnx.export", "dynamo": False, "do_constant_folding": True, "training": "eval"}
OPENVINO_CONVERSION = {"convert": "openvino.convert_model", "save": "openvino.save_model", "compress_to_fp16": False}
# The model's architecture and weight init live in this code: a change to it must miss the cache.
MODEL_CODE_FILES = ("nets.py", "zoo/blueprint.py", "zoo/families.py", "zoo/registry.py")


@dataclass(frozen=True)
class SourceKind:
    """What differs between the three things an entry can be made from."""

    name: str  # "pytorch" | "onnx-file" | "openvino-ir" | "quantized": the fingerprint's and the manifest's "source"
    possible_formats: tuple[str, ...]  # the first is always built: the IR is converted from the ONNX file
    libraries: tuple[str, ...]  # whose installed versions are part of the fingerprint
    identity_keys: tuple[str, ...]  # the fingerprint inputs that name what was exported (not how)
    from_torch: bool  # exported by this code: the exporter settings and the model code are fingerprinted


SOURCES = {
    kind.name: kind
    for kind in (
        SourceKind(
            "pytorch",
            FORMATS,
            ("torch", "onnx", "openvino"),
            ("spec", "seed", "weights_sha256", "opset", "input"),
            True,
        ),
        SourceKind("onnx-file", FORMATS, ("onnx", "openvino"), ("file_sha256", "input_shape", "opset"), False),
        SourceKind("openvino-ir", ("openvino",), ("openvino",), ("file_sha256", "input_shape"), False),
        # An int8 entry: an fp32 entry's ONNX quantized by bench.export.quantize (its own recipe in "quantization").
        SourceKind(
            "quantized",
            FORMATS,
            ("onnx", "onnxruntime", "openvino"),
            ("base_fingerprint", "quantization", "calibration"),
            False,
        ),
    )
}


def normalize_formats(formats: Sequence[str] | str) -> tuple[str, ...]:
    """('onnx', 'openvino') in canonical order, from a sequence or a comma-separated string."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    cleaned = [str(f).strip().lower() for f in items if str(f).strip()]
    aliases = {"ir": "openvino", "ov": "openvino"}
    cleaned = [aliases.get(f, f) for f in cleaned]
    unknown = [f for f in cleaned if f not in FORMATS]
    if unknown or not cleaned:
        bad = ", ".join(unknown) or "(none)"
        raise EffbenchError(f"unknown export format {bad}: choose from {', '.join(FORMATS)} (comma-separated)")
    return tuple(f for f in FORMATS if f in cleaned)


def check_opset(opset: Any) -> int:
    """The opset to export with (default 17); unknown ones name the exporter's supported range."""
    if opset is None:
        return DEFAULT_OPSET
    low, high = SUPPORTED_OPSETS
    if isinstance(opset, bool) or not isinstance(opset, int) or not low <= opset <= high:
        raise EffbenchError(
            f"unsupported opset {opset!r}: the PyTorch TorchScript exporter supports opsets {low}-{high} "
            f"(default {DEFAULT_OPSET})"
        )
    return opset


def looks_like_path(model: str) -> bool:
    """Whether `model` names a file or folder rather than a zoo model."""
    suffixes = (".onnx", ".xml", ".json", ".bin", ".pt", ".pth", ".safetensors")
    return model.lower().endswith(suffixes) or "/" in model or "\\" in model or Path(model).exists()


@dataclass
class ExportPlan:
    """One export to do: the model's identity (for the fingerprint) and what its entry is built from.

    Not frozen: a user file is parsed once, after a cache miss (`inspect_user_file`), and the parsed model is
    handed to the builder, which drops it to free its memory.
    """

    model_name: str
    source: SourceKind
    formats: tuple[str, ...]
    fingerprint_inputs: dict[str, Any]
    spec: ModelSpec | None = None
    seed: int = 0
    weights: Path | None = None
    opset: int | None = None
    user_path: Path | None = None
    user_sha256: str | None = None
    input_override: tuple[int, ...] | None = None
    user: UserModelInfo | None = None
    user_model: Any = None  # the parsed onnx.ModelProto or ov.Model of a user file
    user_inspect_s: float = 0.0
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        self.fingerprint = compute_fingerprint(self.fingerprint_inputs)

    def inspect_user_file(self) -> None:
        """Validate a user file once, after a cache miss and before the cache is touched."""
        if self.user_path is None or self.user is not None:
            return
        started = time.perf_counter()
        if self.source.name == "onnx-file":
            from bench.export.userfiles import inspect_onnx

            self.user, self.user_model = inspect_onnx(self.user_path, self.input_override)
            if self.opset is not None and self.opset != self.user.opset:
                raise EffbenchError(
                    f"--opset {self.opset} cannot apply to {self.user_path}, which is opset {self.user.opset} "
                    "and is used as it is: drop --opset"
                )
        else:
            from bench.export.userfiles import inspect_ir

            self.user, self.user_model = inspect_ir(self.user_path, self.input_override)
        self.user_inspect_s = time.perf_counter() - started


def make_plan(
    model: str,
    formats: tuple[str, ...],
    opset: int | None,
    seed: int,
    weights: Path | None,
    input_shape: tuple[int, ...] | None,
) -> ExportPlan:
    """Resolve `model` to a plan (without importing any runtime); bad names, files and options raise here."""
    override = tuple(int(d) for d in input_shape) if input_shape is not None else None
    spec = user_path = user_sha = None
    if looks_like_path(model):
        from bench.export.userfiles import check_model_path

        user_path = Path(model)
        kind = check_model_path(user_path)
        if weights is not None:
            raise EffbenchError(f"--weights applies to zoo models, not to the file {user_path}: drop --weights")
        source = SOURCES["openvino-ir" if kind == "openvino" else "onnx-file"]
        if kind == "openvino":
            _check_ir_request(user_path, formats, opset)
        user_sha = artifact_sha256(kind, user_path)
        identity: dict[str, Any] = {"file_sha256": user_sha, "input_shape": list(override) if override else None}
        if "opset" in source.identity_keys:
            identity["opset"] = opset  # a user ONNX file keeps its own opset: a given one must agree with it
        model_name = user_path.name
    else:
        from bench.zoo import check_buildable, resolve_model

        source = SOURCES["pytorch"]
        spec = resolve_model(model)
        check_buildable(spec)  # an absurd spec (efficientnet:phi=99) stops here: before the cache, the lock and torch
        opset = check_opset(opset)
        if override is not None and override != tuple(spec.input_shape):
            raise EffbenchError(
                f"--input-shape {','.join(map(str, override))} differs from {spec.name}'s input "
                f"{','.join(map(str, spec.input_shape))}: drop it, or pick another resolution with "
                f"'{model.split(':')[0]}:r=N'"
            )
        weights_sha = None
        if weights is not None:
            weights = Path(weights)
            if not weights.is_file():
                raise EffbenchError(f"weights file {weights} does not exist: check the --weights path")
            weights_sha = sha256_file(weights)
        identity = _torch_identity(spec, None if weights is not None else seed, weights_sha, opset)
        model_name = spec.name
    first = source.possible_formats[0]
    return ExportPlan(
        model_name=model_name,
        source=source,
        formats=tuple(f for f in source.possible_formats if f in formats or f == first),
        fingerprint_inputs=fingerprint_inputs(source.name, identity),
        spec=spec,
        seed=seed,
        weights=weights,
        opset=opset,
        user_path=user_path,
        user_sha256=user_sha,
        input_override=override,
    )


def _check_ir_request(path: Path, formats: tuple[str, ...], opset: int | None) -> None:
    if "onnx" in formats and "openvino" not in formats:
        raise EffbenchError(f"{path} is an OpenVINO IR, which cannot be turned into ONNX: use --format openvino")
    if opset is not None:
        raise EffbenchError(f"--opset applies to ONNX exports; {path} is an OpenVINO IR: drop --opset")
    bin_path = path.with_suffix(".bin")
    if not bin_path.is_file():
        raise EffbenchError(f"{path} has no weights file {bin_path.name} beside it: copy the .bin next to the .xml")


def _torch_identity(spec: ModelSpec, seed: int | None, weights_sha256: str | None, opset: Any) -> dict[str, Any]:
    return {
        "spec": spec.to_dict(),
        "seed": seed,
        "weights_sha256": weights_sha256,
        "opset": opset,
        "input": {"name": INPUT_NAME, "shape": list(spec.input_shape), "dtype": "float32"},
    }


def fingerprint_inputs(source: str, identity: Mapping[str, Any]) -> dict[str, Any]:
    """Everything that determines an entry's bytes: what is exported (`identity`, see SourceKind.identity_keys),
    this code's recipe, and the installed versions of the libraries that write the files."""
    kind = SOURCES[source]
    inputs: dict[str, Any] = {"recipe": EXPORT_RECIPE, "source": source, **identity}
    if kind.from_torch:
        inputs["exporter"] = EXPORTER
        inputs["model_code_sha256"] = model_code_digest()
    inputs["openvino"] = OPENVINO_CONVERSION
    inputs["versions"] = library_versions(kind.libraries)
    return inputs


def current_fingerprint_inputs(recorded: Mapping[str, Any]) -> dict[str, Any] | None:
    """The fingerprint inputs this code and the installed versions give for the same request as `recorded` (an
    entry's manifest "fingerprint_inputs"); None when that request cannot be made again (unknown source, or a
    model spec this code's zoo no longer reads)."""
    kind = SOURCES.get(str(recorded.get("source")))
    if kind is None or any(key not in recorded for key in kind.identity_keys):
        return None
    identity = {key: recorded[key] for key in kind.identity_keys}
    if kind.name == "quantized":
        from bench.export.quantize import current_identity

        identity = current_identity(identity)
    if kind.from_torch:
        from bench.zoo import ModelSpec

        try:
            spec = ModelSpec.from_dict(dict(recorded["spec"]))
        except (TypeError, ValueError):
            return None
        identity = _torch_identity(spec, recorded["seed"], recorded["weights_sha256"], recorded["opset"])
    return fingerprint_inputs(kind.name, identity)


def model_code_digest() -> str:
    """sha256 of the files that define the zoo models' architecture and weight init (MODEL_CODE_FILES)."""
    import hashlib

    root = Path(__file__).resolve().parents[1]  # bench/
    digest = hashlib.sha256()
    for name in MODEL_CODE_FILES:
        path = root / name
        # A file that moved or vanished would silently drop out of the hash and keep old cache entries valid for
        # new model code: refuse, so that moving a fingerprinted file is a conscious new export recipe.
        if not path.is_file():
            raise RuntimeError(f"fingerprinted model code {path} is missing: restore it or update MODEL_CODE_FILES")
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
