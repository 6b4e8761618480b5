"""The artifact cache: entry layout, fingerprints, manifests, hashing, per-entry locks, publication (torch-free).

Layout: CACHE/<model>-<fingerprint[:16]>/ holds model.onnx, model.xml + model.bin and manifest.json. An entry is
built in CACHE/.tmp-*, renamed into place under a per-fingerprint file lock (CACHE/.locks/), and every file is
re-hashed against the manifest on each cache hit (not size+mtime): ~0.3 s per 250 MB, and a tampered or
bit-flipped file is exported again instead of trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import EffbenchError
from bench.formats import Format, NewerFormatError, load_json
from bench.fsio import make_staging_dir, replace_file

if TYPE_CHECKING:
    from bench.zoo import ModelSpec

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "effbench-artifacts"
# Manifest format history:
#   1: first version (fingerprint, files with sha256/size, artifacts per format, input/outputs, versions,
#      parity, denormals, exported_at).
MANIFEST_VERSION = 1
MANIFEST = Format(
    name=MANIFEST_FORMAT,
    version=MANIFEST_VERSION,
    title="effbench artifact manifest",
    label="manifest format",
    fix="export the model again with 'effbench export'",
    noun="artifact manifest",
)

LOCKS_FOLDER = ".locks"
STAGING_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"

# Which files make up each format's artifact, named as they are inside an entry folder.
FORMAT_FILES: dict[str, tuple[str, ...]] = {
    "onnx": ("model.onnx",),
    "openvino": ("model.xml", "model.bin"),
}
# The artifact formats, in canonical order (the IR is converted from the ONNX file, so ONNX comes first).
FORMATS = tuple(FORMAT_FILES)

_HASH_CHUNK = 1 << 20


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


def quiet(message: str) -> None:
    """A progress callback that says nothing (the default of the export and bundle functions)."""
    return None


def sha256_file(path: Path) -> str:
    """Hex sha256 of one file, streamed (about 0.3 s per 250 MB here)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def sha256_files(paths: list[Path]) -> str:
    """Hex sha256 of several files' bytes read one after the other (the IR's .xml then its .bin)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def artifact_sha256(fmt: str, path: Path) -> str:
    """The digest that names one artifact: the .onnx file's sha256, or for an IR the .xml and .bin together."""
    if fmt == "openvino":
        return sha256_files([path, path.with_suffix(".bin")])
    return sha256_file(path)


def library_versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """Installed distribution versions, read from package metadata so that nothing heavy is imported."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(libraries: tuple[str, ...], timings: Mapping[str, float]) -> dict[str, Any]:
    """What a manifest records of how an entry was made (not in its fingerprint): the versions of effbench, Python
    and `libraries`, when, how long each step took (seconds) and on what machine."""
    import platform
    from datetime import UTC, datetime

    from bench import __version__

    return {
        "versions": {"effbench": __version__, "python": platform.python_version(), **library_versions(libraries)},
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "export_seconds": {k: round(v, 4) for k, v in timings.items()},
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine()},
    }


def compute_fingerprint(inputs: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of everything that determines an entry's bytes."""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def slugify(name: str) -> str:
    """A file-system-safe form of a model name ("efficientnet_b0:r=32" -> "efficientnet_b0_r_32")."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    return slug[:80] or "model"


def entry_folder_name(model_name: str, fingerprint: str) -> str:
    """Cache folder of one entry: readable model name plus the fingerprint's first 16 hex digits."""
    return f"{slugify(model_name)}-{fingerprint[:16]}"


def write_json(path: Path, data: Any) -> None:
    """Atomically write `data` as indented JSON at `path` (a manifest or a bundle index), umask permissions."""
    replace_file(path, json.dumps(data, indent=2) + "\n")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The entry's manifest read through bench.formats (upgraded to MANIFEST_VERSION, unknown keys kept), or None
    when it is missing, unreadable or not an effbench manifest: such an entry is exported again. A manifest of a
    newer effbench is NewerFormatError: this one cannot tell whether the entry is what it needs."""
    try:
        return load_json(folder / MANIFEST_NAME, MANIFEST)
    except NewerFormatError:
        raise
    except EffbenchError:
        return None


def describe_files(folder: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """sha256 and size of each named file in `folder`, as the manifest records them."""
    return {name: {"sha256": sha256_file(folder / name), "size": (folder / name).stat().st_size} for name in names}


def verify_entry(folder: Path, manifest: Mapping[str, Any], formats: tuple[str, ...]) -> str | None:
    """Why the entry cannot be trusted for `formats` (None when every file matches its recorded sha256).

    Every file is re-hashed on every check rather than trusting size and mtime: a copy that kept mtimes or a
    bit flip would slip past a stat check, and hashing costs ~0.3 s per 250 MB, small next to a benchmark.
    """
    artifacts = manifest.get("artifacts") or {}
    files = manifest.get("files") or {}
    for fmt in formats:
        if fmt not in artifacts:
            return f"it has no {fmt} artifact"
    for name, info in files.items():
        path = folder / name
        try:
            size = path.stat().st_size
            if size != info.get("size"):
                return f"{name} is {size} bytes, the manifest says {info.get('size')}"
            if sha256_file(path) != info.get("sha256"):
                return f"{name} does not match its sha256 in the manifest"
        except OSError as exc:
            return f"{name} cannot be read ({exc.strerror or exc})"
    return None


def ensure_writable_folder(folder: Path, what: str, fix: str) -> None:
    """Create `folder` (and parents) or raise one clear EffbenchError saying why it cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        make_staging_dir(folder, ".probe-").rmdir()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise EffbenchError(f"{what} {folder} is not writable ({reason}): {fix}") from None


def _entry_filelock(cache_dir: Path, folder_name: str) -> Any:
    import filelock

    locks = cache_dir / LOCKS_FOLDER
    try:
        locks.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EffbenchError(
            f"cache folder {cache_dir} is not writable ({exc.strerror or exc}): pass --cache-dir DIR "
            "or set [paths] cache_dir in bench.toml"
        ) from None
    # Lock files stay after release: deleting one while another process waits on it would let a third take
    # the "same" lock on a new file (filelock before 4.0 does not detect that).
    return filelock.FileLock(str(locks / f"{folder_name}.lock"))


@contextlib.contextmanager
def entry_lock(cache_dir: Path, folder_name: str, say: Callable[[str], None]) -> Iterator[None]:
    """Hold the per-fingerprint lock, so that concurrent exports of the same thing run one after the other."""
    import filelock

    lock = _entry_filelock(cache_dir, folder_name)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        say(f"waiting for another process exporting the same artifacts ({lock.lock_file})")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def try_entry_lock(cache_dir: Path, folder_name: str) -> Iterator[bool]:
    """Hold the per-fingerprint lock if nobody does: yields False at once, without waiting, while an export
    holds it (so `effbench cache prune` never removes an entry being written or read under the lock)."""
    import filelock

    lock = _entry_filelock(cache_dir, folder_name)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def new_staging_folder(parent: Path, folder_name: str) -> Path:
    """A fresh staging folder for entry `folder_name` inside `parent` (a cache or a bundle: the same file system,
    so the final rename is atomic), with the permissions the umask gives, as the published entry will have."""
    return make_staging_dir(parent, f"{STAGING_PREFIX}{folder_name}-")


def remove_leftover_staging(cache_dir: Path, folder_name: str) -> None:
    """Delete temp folders of this entry left by a killed export (call only while holding its lock)."""
    for leftover in cache_dir.glob(f"{STAGING_PREFIX}{folder_name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in cache_dir.glob(f"{TRASH_PREFIX}{folder_name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def publish_folder(staging: Path, final: Path) -> None:
    """Move a complete staging folder into place, replacing an older entry (call while holding its lock).

    A reader either sees the old complete folder, no folder (and then waits on the lock), or the new one.
    """
    if final.exists():
        trash = _trash_path(final)
        os.rename(final, trash)
        os.rename(staging, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(staging, final)


def discard_folder(folder: Path) -> None:
    """Remove an entry (call while holding its lock): renamed aside first, so a reader sees it whole or not at
    all, then deleted. OSError propagates when it cannot be moved."""
    trash = _trash_path(folder)
    os.rename(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _trash_path(folder: Path) -> Path:
    return folder.parent / f"{TRASH_PREFIX}{folder.name}-{uuid.uuid4().hex[:8]}"
