"""PyTorch → ONNX → OpenVINO IR export, cached by fingerprint, with parity checks; user ONNX/IR files; bundles.

The IR is always converted from the very ONNX file that ONNX Runtime runs, so both runtimes see one graph.
Heavy imports (torch, onnx, onnxruntime, openvino) happen inside the functions that need them: a cache hit, a
bundle or a user ONNX file never imports torch (the latency harness measures in processes that must stay clean).

Cache layout (bench.artifacts): CACHE/<model>-<fingerprint[:16]>/ holds model.onnx, model.xml + model.bin and
manifest.json. The fingerprint is the sha256 of everything that determines the bytes: the recipe version, the
model spec with its seed (or the weights file's sha256), the opset, the exporter and conversion settings, the
sha256 of the model code (bench/nets.py and the zoo's blueprints) and the torch/onnx/openvino versions; for a user
file, its sha256 and --input-shape. An entry is built in CACHE/.tmp-*, renamed into place under a per-fingerprint
file lock (CACHE/.locks/), and every file is re-hashed against the manifest on each cache hit (not size+mtime):
~0.3 s per 250 MB, and a tampered or bit-flipped file is exported again instead of trusted.
Determinism: the ONNX file and the IR's .bin are byte-identical across exports; the IR's .xml may differ in
auto-generated node names (OpenVINO numbers them with a process-wide counter).
"""

from __future__ import annotations

import platform
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import __version__
from bench.artifacts import (
    BUNDLE_FORMAT,
    BUNDLE_INDEX_NAME,
    BUNDLE_VERSION,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    STAGING_PREFIX,
    artifact_sha256,
    compute_fingerprint,
    describe_files,
    ensure_writable_folder,
    entry_folder_name,
    entry_lock,
    library_versions,
    new_staging_folder,
    publish_folder,
    read_manifest,
    remove_leftover_staging,
    sha256_file,
    slugify,
    verify_entry,
    write_json_atomic,
)
from bench.errors import EffbenchError, ExportError

if TYPE_CHECKING:
    import numpy as np

    from bench.userfiles import UserModelInfo
    from bench.zoo import ModelSpec

FORMATS = ("onnx", "openvino")
DEFAULT_OPSET = 17
# The TorchScript exporter of torch 2.13 (torch.onnx._constants: ONNX_MIN_OPSET=7,
# ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET=20). Kept here so that a bad --opset fails before torch is imported;
# the export checks it against the installed torch again.
SUPPORTED_OPSETS = (7, 20)
INPUT_NAME = "input"
OUTPUT_NAME = "logits"

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

# Bump when the export recipe changes in a way that changes the bytes (the old cache entries then miss).
EXPORT_RECIPE = 1
EXPORTER = {"name": "torch.onnx.export", "dynamo": False, "do_constant_folding": True, "training": "eval"}
OPENVINO_CONVERSION = {"convert": "openvino.convert_model", "save": "openvino.save_model", "compress_to_fp16": False}
# The model's architecture and weight init live in this code: a change to it must miss the cache.
MODEL_CODE_FILES = ("nets.py", "zoo/blueprint.py", "zoo/families.py", "zoo/registry.py")

_CACHE_FIX = "pass --cache-dir DIR or set [paths] cache_dir in bench.toml"


@dataclass(frozen=True)
class ArtifactSet:
    """The exported files of one model, verified against their manifest."""

    model_name: str
    spec: ModelSpec | None
    fingerprint: str
    files: dict[str, Path]
    sha256: dict[str, str]
    input_name: str
    input_shape: tuple[int, ...]
    input_dtype: str
    manifest: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ExportOutcome:
    """What `export_model` did: "exported", "cached" (verified cache hit) or "prebuilt" (a bundle/entry folder)."""

    artifacts: ArtifactSet
    status: str
    seconds: float
    folder: Path


def _quiet(message: str) -> None:
    return None


# ---------------------------------------------------------------- public entry points


def ensure_artifacts(
    model: str,
    formats: Sequence[str] = FORMATS,
    cache_dir: Path | None = None,
    opset: int | None = None,
    force: bool = False,
    seed: int = 0,
    weights: Path | None = None,
    input_shape: tuple[int, ...] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ArtifactSet:
    """The artifacts of `model` (zoo name, .onnx/.xml file, artifact folder or bundle), exported if needed.

    `cache_dir` defaults to bench.toml's [paths] cache_dir (else ./models). See `export_model`.
    """
    return export_model(
        model,
        formats=formats,
        cache_dir=cache_dir,
        opset=opset,
        force=force,
        seed=seed,
        weights=weights,
        input_shape=input_shape,
        progress=progress,
    ).artifacts


def export_model(
    model: str,
    formats: Sequence[str] = FORMATS,
    cache_dir: Path | None = None,
    opset: int | None = None,
    force: bool = False,
    seed: int = 0,
    weights: Path | None = None,
    input_shape: tuple[int, ...] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportOutcome:
    """Like `ensure_artifacts`, and also says whether the cache was hit and how long it took."""
    started = time.perf_counter()
    say = progress or _quiet
    wanted = normalize_formats(formats)
    if cache_dir is None:
        from bench.config import load_config

        cache_dir = load_config().cache_dir
    cache_dir = Path(cache_dir)

    prebuilt = find_prebuilt_folder(model)
    if prebuilt is not None:
        if force:
            say(f"{prebuilt} is a prebuilt artifact folder: --force does not re-export it")
        say(f"{model}: using the prebuilt artifacts in {prebuilt}")
        loaded = load_artifacts(prebuilt, wanted, input_shape=input_shape)
        return ExportOutcome(loaded, "prebuilt", time.perf_counter() - started, prebuilt)

    plan = make_plan(model, wanted, opset=opset, seed=seed, weights=weights, input_shape=input_shape)
    folder_name = entry_folder_name(plan.model_name, plan.fingerprint)
    final = cache_dir / folder_name

    if not force:
        hit, why = _try_cache(final, plan)
        if hit is not None:
            say(f"{plan.model_name}: cache hit {final}")
            return ExportOutcome(hit, "cached", time.perf_counter() - started, final)
        if why:
            say(f"{plan.model_name}: cache entry {final} cannot be reused ({why}); exporting again")

    require_packages(plan)
    plan.inspect_user_file()
    ensure_writable_folder(cache_dir, "cache folder", _CACHE_FIX)
    with entry_lock(cache_dir, folder_name, say):
        remove_leftover_staging(cache_dir, folder_name)
        existing = read_manifest(final)
        if not force:
            # Another process may have exported it while this one waited for the lock.
            raced, _ = _try_cache(final, plan)
            if raced is not None:
                say(f"{plan.model_name}: cache hit {final} (exported by another process)")
                return ExportOutcome(raced, "cached", time.perf_counter() - started, final)
        # Keep the formats an existing entry already has, so that adding one does not drop another.
        build_formats = set(plan.formats)
        if existing and existing.get("fingerprint") == plan.fingerprint:
            build_formats |= set(existing.get("artifacts", {})) & set(plan.possible_formats)
        staging = new_staging_folder(cache_dir, folder_name)
        try:
            manifest = plan.build(staging, tuple(f for f in FORMATS if f in build_formats), say)
            write_json_atomic(staging / MANIFEST_NAME, manifest)
            publish_folder(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    say(f"{plan.model_name}: exported to {final}")
    arts = artifacts_from_manifest(final, manifest)
    return ExportOutcome(arts, "exported", time.perf_counter() - started, final)


_INSTALL = {
    "torch": "pip install 'effbench[torch]'",
    "onnx": "pip install 'effbench[onnx]'",
    "onnxruntime": "pip install 'effbench[onnx]'",
    "openvino": "pip install 'effbench[openvino]'",
}


def require_packages(plan: _Plan) -> None:
    """Name the missing package and how to get it, before anything is written (not needed on a cache hit)."""
    import importlib.util

    needed = {
        "pytorch": ["torch", "onnx"],
        "onnx-file": ["onnx"],
        "openvino-ir": ["openvino"],
    }[plan.fingerprint_inputs["source"]]
    if "openvino" in plan.formats and "openvino" not in needed:
        needed.append("openvino")
    for name in needed:
        if importlib.util.find_spec(name) is None:
            if name == "openvino" and plan.fingerprint_inputs["source"] != "openvino-ir":
                fix = f"{_INSTALL[name]}, or export only ONNX with --format onnx"
            elif name == "torch":
                fix = f"{_INSTALL[name]}, or pass an exported .onnx file or bundle instead of a zoo name"
            else:
                fix = _INSTALL[name]
            raise EffbenchError(f"exporting {plan.model_name} needs {name}, which is not installed: {fix}")


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


# ---------------------------------------------------------------- reading entries


def artifacts_from_manifest(folder: Path, manifest: Mapping[str, Any]) -> ArtifactSet:
    """An ArtifactSet for an entry folder whose files were already checked against `manifest`."""
    spec = None
    if manifest.get("spec"):
        from bench.zoo import ModelSpec

        try:
            spec = ModelSpec.from_dict(dict(manifest["spec"]))
        except TypeError:
            spec = None  # a spec written by another effbench version: the manifest still has the dict
    artifacts = manifest["artifacts"]
    inp = manifest["input"]
    return ArtifactSet(
        model_name=manifest["model_name"],
        spec=spec,
        fingerprint=manifest["fingerprint"],
        files={fmt: folder / art["file"] for fmt, art in artifacts.items()},
        sha256={fmt: art["sha256"] for fmt, art in artifacts.items()},
        input_name=inp["name"],
        input_shape=tuple(inp["shape"]),
        input_dtype=inp["dtype"],
        manifest=dict(manifest),
    )


def load_artifacts(
    folder: Path, formats: Sequence[str] = (), input_shape: tuple[int, ...] | None = None
) -> ArtifactSet:
    """A prebuilt entry folder (cache entry or bundle entry), verified; no export, no torch."""
    manifest = read_manifest(folder)
    if manifest is None:
        raise EffbenchError(
            f"{folder} has no readable effbench {MANIFEST_NAME}: export the model again with 'effbench export'"
        )
    wanted = normalize_formats(formats) if formats else ()
    have = tuple(manifest.get("artifacts") or {})
    if (manifest.get("source") or {}).get("kind") == "openvino-ir" and "openvino" in wanted:
        wanted = ("openvino",)  # an IR has no ONNX, as for a user .xml file
    missing = [fmt for fmt in wanted if fmt not in have]
    if missing:
        raise EffbenchError(
            f"artifact folder {folder} has no {', '.join(missing)} artifact (it has {', '.join(have) or 'none'}): "
            f"ask for --format {','.join(have) or 'onnx'} or export again with --format {','.join(FORMATS)}"
        )
    why = verify_entry(folder, manifest, wanted)
    if why:
        raise EffbenchError(
            f"artifact folder {folder} cannot be trusted: {why}; export it again with 'effbench export' "
            "(or re-create the bundle)"
        )
    arts = artifacts_from_manifest(folder, manifest)
    if input_shape is not None and tuple(input_shape) != arts.input_shape:
        raise EffbenchError(
            f"--input-shape {','.join(map(str, input_shape))} differs from the exported input shape "
            f"{','.join(map(str, arts.input_shape))} of {folder}: drop --input-shape or export again"
        )
    return arts


def find_prebuilt_folder(model: str) -> Path | None:
    """The entry folder when `model` names one (folder, its manifest.json, a file listed in its manifest, or a
    bundle holding exactly one entry); None otherwise."""
    path = Path(model)
    try:
        if path.is_dir():
            if (path / MANIFEST_NAME).is_file():
                return path
            if (path / BUNDLE_INDEX_NAME).is_file():
                return _single_bundle_entry(path)
            return None
        if path.name == MANIFEST_NAME and path.is_file():
            return path.parent
        if path.is_file() and path.suffix.lower() in (".onnx", ".xml"):
            manifest = read_manifest(path.parent)
            if manifest and path.name in (manifest.get("files") or {}):
                return path.parent
    except OSError:
        return None
    return None


def _single_bundle_entry(bundle: Path) -> Path:
    index = read_bundle_index(bundle)
    entries = index.get("entries", [])
    if len(entries) == 1:
        return bundle / entries[0]["folder"]
    names = ", ".join(str(bundle / e["folder"]) for e in entries) or "(none)"
    raise EffbenchError(f"bundle {bundle} holds {len(entries)} models: pass one of its folders: {names}")


def _try_cache(final: Path, plan: _Plan) -> tuple[ArtifactSet | None, str | None]:
    manifest = read_manifest(final)
    if manifest is None:
        return None, ("its manifest is missing or unreadable" if final.exists() else None)
    if manifest.get("fingerprint") != plan.fingerprint:
        return None, "its manifest names another fingerprint"
    why = verify_entry(final, manifest, plan.formats)
    if why:
        return None, why
    return artifacts_from_manifest(final, manifest), None


# ---------------------------------------------------------------- plans: what to export and how


@dataclass
class _Plan:
    """One export to do: the model's identity (for the fingerprint) and how to build its entry."""

    model_name: str
    formats: tuple[str, ...]
    possible_formats: tuple[str, ...]
    fingerprint_inputs: dict[str, Any]
    build_entry: Callable[[_Plan, Path, tuple[str, ...], Callable[[str], None]], dict[str, Any]]
    spec: ModelSpec | None = None
    seed: int = 0
    weights: Path | None = None
    opset: int | None = None
    user: UserModelInfo | None = None
    user_model: Any = None  # the parsed onnx.ModelProto or ov.Model of a user file
    user_inspect_s: float = 0.0
    user_path: Path | None = None
    user_sha256: str | None = None
    input_override: tuple[int, ...] | None = None
    fingerprint: str = ""

    def __post_init__(self) -> None:
        self.fingerprint = compute_fingerprint(self.fingerprint_inputs)

    def build(self, staging: Path, formats: tuple[str, ...], say: Callable[[str], None]) -> dict[str, Any]:
        return self.build_entry(self, staging, formats, say)

    def inspect_user_file(self) -> None:
        """Validate a user file once, after a cache miss and before the cache is touched."""
        if self.user_path is None or self.user is not None:
            return
        started = time.perf_counter()
        if self.fingerprint_inputs["source"] == "onnx-file":
            from bench.userfiles import inspect_onnx

            self.user, self.user_model = inspect_onnx(self.user_path, self.input_override)
            if self.opset is not None and self.opset != self.user.opset:
                raise EffbenchError(
                    f"--opset {self.opset} cannot apply to {self.user_path}, which is opset {self.user.opset} "
                    "and is used as it is: drop --opset"
                )
        else:
            from bench.userfiles import inspect_ir

            self.user, self.user_model = inspect_ir(self.user_path, self.input_override)
        self.user_inspect_s = time.perf_counter() - started


def looks_like_path(model: str) -> bool:
    """Whether `model` names a file or folder rather than a zoo model."""
    suffixes = (".onnx", ".xml", ".json", ".bin", ".pt", ".pth", ".safetensors")
    return model.lower().endswith(suffixes) or "/" in model or "\\" in model or Path(model).exists()


def make_plan(
    model: str,
    formats: tuple[str, ...],
    opset: int | None,
    seed: int,
    weights: Path | None,
    input_shape: tuple[int, ...] | None,
) -> _Plan:
    """Resolve `model` to a plan (without importing any runtime); bad names, files and options raise here."""
    override = tuple(int(d) for d in input_shape) if input_shape is not None else None
    if looks_like_path(model):
        from bench.userfiles import check_model_path

        path = Path(model)
        kind = check_model_path(path)
        if weights is not None:
            raise EffbenchError(f"--weights applies to zoo models, not to the file {path}: drop --weights")
        if kind == "openvino":
            return _ir_plan(path, formats, opset, override)
        return _onnx_plan(path, formats, opset, override)
    return _torch_plan(model, formats, opset, seed, weights, override)


def _torch_plan(
    model: str,
    formats: tuple[str, ...],
    opset: int | None,
    seed: int,
    weights: Path | None,
    override: tuple[int, ...] | None,
) -> _Plan:
    from bench.zoo import check_buildable, resolve_model

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
    inputs = {
        "recipe": EXPORT_RECIPE,
        "source": "pytorch",
        "spec": spec.to_dict(),
        "seed": None if weights is not None else seed,
        "weights_sha256": weights_sha,
        "opset": opset,
        "input": {"name": INPUT_NAME, "shape": list(spec.input_shape), "dtype": "float32"},
        "exporter": EXPORTER,
        "openvino": OPENVINO_CONVERSION,
        "model_code_sha256": _model_code_digest(),
        "versions": library_versions(("torch", "onnx", "openvino")),
    }
    return _Plan(
        model_name=spec.name,
        formats=tuple(sorted(set(formats) | {"onnx"}, key=FORMATS.index)),
        possible_formats=FORMATS,
        fingerprint_inputs=inputs,
        build_entry=_build_from_torch,
        spec=spec,
        seed=seed,
        weights=weights,
        opset=opset,
    )


def _onnx_plan(path: Path, formats: tuple[str, ...], opset: int | None, override: tuple[int, ...] | None) -> _Plan:
    file_sha = sha256_file(path)
    inputs = {
        "recipe": EXPORT_RECIPE,
        "source": "onnx-file",
        "file_sha256": file_sha,
        "input_shape": list(override) if override else None,
        "opset": opset,
        "openvino": OPENVINO_CONVERSION,
        "versions": library_versions(("onnx", "openvino")),
    }
    return _Plan(
        model_name=path.name,
        formats=tuple(sorted(set(formats) | {"onnx"}, key=FORMATS.index)),
        possible_formats=FORMATS,
        fingerprint_inputs=inputs,
        build_entry=_build_from_onnx_file,
        opset=opset,
        user_path=path,
        user_sha256=file_sha,
        input_override=override,
    )


def _ir_plan(path: Path, formats: tuple[str, ...], opset: int | None, override: tuple[int, ...] | None) -> _Plan:
    if "onnx" in formats and "openvino" not in formats:
        raise EffbenchError(f"{path} is an OpenVINO IR, which cannot be turned into ONNX: use --format openvino")
    if opset is not None:
        raise EffbenchError(f"--opset applies to ONNX exports; {path} is an OpenVINO IR: drop --opset")
    bin_path = path.with_suffix(".bin")
    if not bin_path.is_file():
        raise EffbenchError(f"{path} has no weights file {bin_path.name} beside it: copy the .bin next to the .xml")
    file_sha = artifact_sha256("openvino", path)
    inputs = {
        "recipe": EXPORT_RECIPE,
        "source": "openvino-ir",
        "file_sha256": file_sha,
        "input_shape": list(override) if override else None,
        "openvino": OPENVINO_CONVERSION,
        "versions": library_versions(("openvino",)),
    }
    return _Plan(
        model_name=path.name,
        formats=("openvino",),
        possible_formats=("openvino",),
        fingerprint_inputs=inputs,
        build_entry=_build_from_ir_file,
        user_path=path,
        user_sha256=file_sha,
        input_override=override,
    )


def _model_code_digest() -> str:
    import hashlib

    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in MODEL_CODE_FILES:
        path = root / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# ---------------------------------------------------------------- building entries


def _build_from_torch(
    plan: _Plan, staging: Path, formats: tuple[str, ...], say: Callable[[str], None]
) -> dict[str, Any]:
    assert plan.spec is not None and plan.opset is not None
    spec, opset = plan.spec, plan.opset
    timings: dict[str, float] = {}
    say(f"{spec.name}: building the PyTorch model (importing torch)")
    started = time.perf_counter()
    import torch

    from bench.nets import build_torch_model

    torch_flush = bool(torch.set_flush_denormal(True))
    module = build_torch_model(spec, seed=plan.seed, weights=plan.weights)
    module.eval()
    timings["build_s"] = time.perf_counter() - started

    x = parity_input(tuple(spec.input_shape), plan.seed)
    started = time.perf_counter()
    with torch.inference_mode():
        out = module(torch.from_numpy(x.copy()))
    reference = [_to_numpy(t) for t in (out if isinstance(out, (tuple, list)) else (out,))]
    timings["pytorch_reference_s"] = time.perf_counter() - started
    started = time.perf_counter()
    reference_fp64, torch_fp32_error = _float64_reference(module, x, reference)
    tolerance = max(PARITY_RTOL, PARITY_CONDITIONING_FACTOR * torch_fp32_error)
    timings["pytorch_float64_reference_s"] = time.perf_counter() - started

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
        "pytorch",
        reference,
        staging,
        formats,
        x,
        INPUT_NAME,
        error=ExportError,
        say=say,
        seed=plan.seed,
        tolerance=tolerance,
        reference_fp64=reference_fp64,
    )
    timings["parity_s"] = time.perf_counter() - started
    parity["denormals"]["pytorch"] = {"torch.set_flush_denormal(True)": torch_flush}
    parity["pytorch_fp32_max_rel_error_vs_fp64"] = torch_fp32_error
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
        plan,
        staging,
        formats,
        source=source,
        input_shape=tuple(spec.input_shape),
        input_name=INPUT_NAME,
        outputs=outputs,
        opset=opset,
        exporter=exporter,
        openvino=ov_info,
        parity=parity,
        timings=timings,
    )


def _inspect_user_file(plan: _Plan) -> tuple[Path, UserModelInfo, dict[str, float]]:
    """Validate the user's file (once) and start the entry's timings with the inspection time."""
    plan.inspect_user_file()
    assert plan.user_path is not None and plan.user is not None
    return plan.user_path, plan.user, {"inspect_s": plan.user_inspect_s}


def _build_from_onnx_file(
    plan: _Plan, staging: Path, formats: tuple[str, ...], say: Callable[[str], None]
) -> dict[str, Any]:
    from bench.userfiles import write_static_onnx

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
    _fail_on_parity(path.name, parity)
    source = {
        "kind": "onnx-file",
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
    plan: _Plan, staging: Path, formats: tuple[str, ...], say: Callable[[str], None]
) -> dict[str, Any]:
    from bench.userfiles import write_static_ir

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
    shapes = parity.pop("_outputs", [])
    outputs = [{**o, "name": name} for o, name in zip(shapes, info.outputs, strict=False)]
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
    plan: _Plan,
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
    parity: dict[str, Any],
    timings: dict[str, float],
) -> dict[str, Any]:
    parity.pop("_outputs", None)
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
        "parity": parity,
        "versions": {
            "effbench": __version__,
            "python": platform.python_version(),
            **library_versions(("torch", "onnx", "onnxruntime", "openvino", "numpy")),
        },
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "export_seconds": {k: round(v, 4) for k, v in timings.items()},
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine()},
    }


# ---------------------------------------------------------------- the steps


def parity_input(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """The seeded input every runtime sees in the parity check."""
    import numpy as np

    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


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
            f"PyTorch could not export to ONNX opset {opset} ({_first_line(exc)}): try the default opset "
            f"{DEFAULT_OPSET}"
        ) from None
    return {**EXPORTER, "opset": opset, "supported_opsets": [low, high], "torch": torch.__version__}


def validate_onnx_file(path: Path, error: type[EffbenchError]) -> list[dict[str, Any]]:
    """onnx.checker plus strict shape inference on the written file; returns the outputs' names and shapes."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
        inferred = onnx.shape_inference.infer_shapes(onnx.load(str(path)), strict_mode=True)
    except Exception as exc:
        raise error(f"the ONNX file {path.name} fails validation ({_first_line(exc)}); nothing was cached") from None
    outputs = []
    for out in inferred.graph.output:
        dims = [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in out.type.tensor_type.shape.dim
        ]
        outputs.append({"name": out.name, "shape": dims})
    return outputs


def convert_to_openvino(onnx_path: Path, xml_path: Path, error: type[EffbenchError]) -> dict[str, Any]:
    """Convert the ONNX file to IR with fp32 weights (no silent fp16 compression); returns what was recorded."""
    from collections import Counter

    import openvino as ov

    try:
        model = ov.convert_model(str(onnx_path))
        ov.save_model(model, str(xml_path), compress_to_fp16=False)
    except Exception as exc:
        raise error(f"OpenVINO could not convert {onnx_path.name} ({_first_line(exc)}); nothing was cached") from None
    types = Counter(
        op.get_output_element_type(0).get_type_name()
        for op in model.get_ordered_ops()
        if op.get_type_name() == "Constant"
    )
    return {"constant_element_types": dict(sorted(types.items())), "openvino": ov.get_version()}


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


def _float64_reference(module: Any, x: np.ndarray, reference: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
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
) -> dict[str, Any]:
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
                raise error(f"ONNX Runtime cannot run the ONNX file ({_first_line(exc)}); nothing was cached") from None
            denormals["onnxruntime"] = {"session.set_denormal_as_zero": "1"}
    if "openvino" in formats:
        try:
            runs["openvino"] = run_openvino(staging / "model.xml", x)
        except Exception as exc:
            raise error(f"OpenVINO cannot run the IR ({_first_line(exc)}); nothing was cached") from None
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
    return {
        "reference": reference_name,
        "input": {"distribution": "standard normal", "generator": "numpy.random.default_rng", "seed": seed},
        "tolerance": {
            "max_rel_error": tolerance,
            "floor": PARITY_RTOL,
            "conditioning_factor": PARITY_CONDITIONING_FACTOR,
            "definition": PARITY_DEFINITION,
        },
        "results": results,
        "denormals": denormals,
        "_outputs": [{"name": None, "shape": list(o.shape)} for o in first[0]] if first else [],
    }


def _fail_on_parity(name: str, parity: dict[str, Any]) -> None:
    for runtime, entry in parity["results"].items():
        if entry.get("ok") is False:
            if "problem" in entry:
                detail = entry["problem"]
            else:
                detail = (
                    f"max relative error {entry['max_rel_error']:.3g} > {entry.get('tolerance', PARITY_RTOL):.3g} "
                    f"(max abs {entry['max_abs_error']:.3g}; relative = {PARITY_DEFINITION})"
                )
            raise ExportError(
                f"{name}: {runtime} output differs from {entry.get('reference') or 'what is expected'}: {detail}; "
                "nothing was cached"
            )


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


# ---------------------------------------------------------------- bundles


def read_bundle_index(bundle: Path) -> dict[str, Any]:
    """The bundle's index.json (an empty index when there is none yet)."""
    import json

    path = bundle / BUNDLE_INDEX_NAME
    if not path.exists():
        return {"format": BUNDLE_FORMAT, "format_version": BUNDLE_VERSION, "entries": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EffbenchError(
            f"bundle index {path} is unreadable ({exc}): remove it or pick another --bundle folder"
        ) from None
    if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
        raise EffbenchError(f"{path} is not an effbench bundle index: pick another --bundle folder")
    if data.get("format_version", 0) > BUNDLE_VERSION:
        raise EffbenchError(f"{path} was written by a newer effbench (bundle format {data.get('format_version')})")
    return data


def write_bundle(
    artifact_sets: Sequence[ArtifactSet], bundle: Path, progress: Callable[[str], None] | None = None
) -> Path:
    """Copy entries into a self-contained folder (entry folders + index.json + README.md) that a machine
    without torch can benchmark: point --model at BUNDLE/<entry>/model.onnx, model.xml or BUNDLE/<entry>."""
    import filelock

    say = progress or _quiet
    bundle = Path(bundle)
    ensure_writable_folder(bundle, "bundle folder", "pass --bundle a folder you can write to")
    with filelock.FileLock(str(bundle / ".index.lock")):
        for leftover in bundle.glob(f"{STAGING_PREFIX}*"):  # from a killed bundle write (writers hold this lock)
            shutil.rmtree(leftover, ignore_errors=True)
        index = read_bundle_index(bundle)
        entries = {e["folder"]: e for e in index.get("entries", [])}
        for arts in artifact_sets:
            source = next(iter(arts.files.values())).parent
            folder = slugify(arts.model_name)
            if folder in entries and entries[folder]["fingerprint"] != arts.fingerprint:
                folder = entry_folder_name(arts.model_name, arts.fingerprint)
            dest = bundle / folder
            current = read_manifest(dest)
            if current and current.get("fingerprint") == arts.fingerprint and not verify_entry(dest, current, ()):
                say(f"{arts.model_name}: already in the bundle as {dest}")
            else:
                staging = Path(_mkdtemp(bundle, f"{STAGING_PREFIX}{folder}-"))
                try:
                    for name in [*arts.manifest["files"], MANIFEST_NAME]:
                        shutil.copyfile(source / name, staging / name)
                    why = verify_entry(staging, arts.manifest, ())
                    if why:
                        raise EffbenchError(f"copying {source} into the bundle failed: {why}; export it again")
                    publish_folder(staging, dest)
                except BaseException:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise
                say(f"{arts.model_name}: bundled into {dest}")
            entries[folder] = {
                "model_name": arts.model_name,
                "folder": folder,
                "fingerprint": arts.fingerprint,
                "files": {fmt: f"{folder}/{path.name}" for fmt, path in arts.files.items()},
                "sha256": dict(arts.sha256),
                "input": {"name": arts.input_name, "shape": list(arts.input_shape), "dtype": arts.input_dtype},
                "parity": {
                    rt: {k: r.get(k) for k in ("reference", "max_abs_error", "max_rel_error", "ok")}
                    for rt, r in arts.manifest.get("parity", {}).get("results", {}).items()
                },
            }
        index = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_VERSION,
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
            "effbench": __version__,
            "entries": sorted(entries.values(), key=lambda e: e["folder"]),
        }
        write_json_atomic(bundle / BUNDLE_INDEX_NAME, index)
        _write_text_atomic(bundle / "README.md", _bundle_readme(index))
    return bundle


def _mkdtemp(folder: Path, prefix: str) -> str:
    import tempfile

    return tempfile.mkdtemp(dir=folder, prefix=prefix)


def _write_text_atomic(path: Path, text: str) -> None:
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _bundle_readme(index: Mapping[str, Any]) -> str:
    lines = [
        "# effbench artifact bundle",
        "",
        "Exported models with their manifests (fingerprint, sha256 of every file, input shape, versions, parity",
        "errors). Benchmark them on a machine without PyTorch by pointing `--model` at a file or folder here (paths",
        "below are relative to this folder), e.g.",
        "",
    ]
    first = index["entries"][0] if index["entries"] else None
    if first:
        for path in first["files"].values():
            lines.append(f"    effbench latency --model {path}")
    lines += ["", "| folder | model | input | files |", "|---|---|---|---|"]
    for e in index["entries"]:
        shape = "x".join(map(str, e["input"]["shape"]))
        files = ", ".join(f"{fmt}: {p}" for fmt, p in e["files"].items())
        lines.append(f"| {e['folder']} | {e['model_name']} | {e['input']['name']} {shape} | {files} |")
    lines += ["", f"Written by effbench {index['effbench']} on {index['updated']}. Files are listed in index.json.", ""]
    return "\n".join(lines)
