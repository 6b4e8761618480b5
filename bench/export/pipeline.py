"""Export orchestration: a model name or file in, verified artifacts out (cache hit, prebuilt folder or export).

Heavy imports (torch, onnx, onnxruntime, openvino) happen inside the functions that need them: a cache hit, a
bundle or a user ONNX file never imports torch (the latency harness measures in processes that must stay clean).
Determinism: the ONNX file and the IR's .bin are byte-identical across exports; the IR's .xml may differ in
auto-generated node names (OpenVINO numbers them with a process-wide counter).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import EffbenchError
from bench.export.build import build_entry
from bench.export.bundle import BUNDLE_INDEX_NAME, read_bundle_index
from bench.export.cache import (
    FORMATS,
    MANIFEST_NAME,
    ArtifactSet,
    artifacts_from_manifest,
    ensure_writable_folder,
    entry_folder_name,
    entry_lock,
    new_staging_folder,
    publish_folder,
    quiet,
    read_manifest,
    remove_leftover_staging,
    verify_entry,
    write_json,
)
from bench.export.plans import ExportPlan, looks_like_path, make_plan, normalize_formats

_CACHE_FIX = "pass --cache-dir DIR or set [paths] cache_dir in bench.toml"


@dataclass(frozen=True)
class ExportOutcome:
    """What `export_model` did: "exported", "cached" (verified cache hit) or "prebuilt" (a bundle/entry folder)."""

    artifacts: ArtifactSet
    status: str
    seconds: float
    folder: Path


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
    precision: str = "fp32",
) -> ArtifactSet:
    """The artifacts of `model` (zoo name, .onnx/.xml file, artifact folder or bundle), exported if needed.

    `cache_dir` defaults to bench.toml's [paths] cache_dir (else ./models); precision "int8" gives the int8 entry
    (bench.export.quantize). See `export_model`.
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
        precision=precision,
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
    precision: str = "fp32",
) -> ExportOutcome:
    """Like `ensure_artifacts`, and also says whether the cache was hit and how long it took."""
    started = time.perf_counter()
    say = progress or quiet
    wanted = normalize_formats(formats)
    if cache_dir is None:
        from bench.config import load_config

        cache_dir = load_config().cache_dir
    cache_dir = Path(cache_dir)
    if precision == "int8":
        from bench.export.quantize import require_quantizer

        if not looks_like_path(model):  # a user's file may come quantized: then nothing is needed
            require_quantizer(model)
        base = export_model(model, wanted, cache_dir, opset, force, seed, weights, input_shape, progress)
        return _int8_outcome(base, wanted, cache_dir, force, say, started)

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
            build_formats |= set(existing.get("artifacts", {})) & set(plan.source.possible_formats)
        staging = new_staging_folder(cache_dir, folder_name)
        try:
            manifest = build_entry(plan, staging, tuple(f for f in FORMATS if f in build_formats), say)
            write_json(staging / MANIFEST_NAME, manifest)
            publish_folder(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    say(f"{plan.model_name}: exported to {final}")
    arts = artifacts_from_manifest(final, manifest)
    return ExportOutcome(arts, "exported", time.perf_counter() - started, final)


def _int8_outcome(
    base: ExportOutcome,
    formats: tuple[str, ...],
    cache_dir: Path,
    force: bool,
    say: Callable[[str], None],
    started: float,
) -> ExportOutcome:
    """The int8 artifacts of the fp32 export `base` (bench.export.quantize.int8_artifacts)."""
    from bench.export.quantize import int8_artifacts

    int8, status, folder = int8_artifacts(base.artifacts, formats, cache_dir, force=force, say=say)
    return ExportOutcome(int8, base.status if int8 is base.artifacts else status, time.perf_counter() - started,
                         folder)  # fmt: skip


_INSTALL = {
    "torch": "pip install 'effbench[torch]'",
    "onnx": "pip install 'effbench[onnx]'",
    "onnxruntime": "pip install 'effbench[onnx]'",
    "openvino": "pip install 'effbench[openvino]'",
}


def require_packages(plan: ExportPlan) -> None:
    """Name the missing package and how to get it, before anything is written (not needed on a cache hit)."""
    import importlib.util

    needed = {
        "pytorch": ["torch", "onnx"],
        "onnx-file": ["onnx"],
        "openvino-ir": ["openvino"],
    }[plan.source.name]
    if "openvino" in plan.formats and "openvino" not in needed:
        needed.append("openvino")
    for name in needed:
        if importlib.util.find_spec(name) is None:
            if name == "openvino" and plan.source.name != "openvino-ir":
                fix = f"{_INSTALL[name]}, or export only ONNX with --format onnx"
            elif name == "torch":
                fix = f"{_INSTALL[name]}, or pass an exported .onnx file or bundle instead of a zoo name"
            else:
                fix = _INSTALL[name]
            raise EffbenchError(f"exporting {plan.model_name} needs {name}, which is not installed: {fix}")


# ---------------------------------------------------------------- reading entries


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


def _try_cache(final: Path, plan: ExportPlan) -> tuple[ArtifactSet | None, str | None]:
    manifest = read_manifest(final)
    if manifest is None:
        return None, ("its manifest is missing or unreadable" if final.exists() else None)
    if manifest.get("fingerprint") != plan.fingerprint:
        return None, "its manifest names another fingerprint"
    why = verify_entry(final, manifest, plan.formats)
    if why:
        return None, why
    return artifacts_from_manifest(final, manifest), None
