"""Bundles: exported entries copied into one self-contained folder (entries + index.json + README.md) that a
machine without torch can benchmark."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import __version__
from bench.document import BUNDLE_ROOT, CACHE_ROOT, FOLDER_ROOT
from bench.errors import EffbenchError
from bench.export.cache import (
    MANIFEST_NAME,
    STAGING_PREFIX,
    TRASH_PREFIX,
    ArtifactSet,
    ensure_writable_folder,
    entry_folder_name,
    new_staging_folder,
    publish_folder,
    quiet,
    read_manifest,
    slugify,
    verify_entry,
    write_json,
)
from bench.formats import Format, load_json
from bench.fsio import replace_file

BUNDLE_INDEX_NAME = "index.json"
BUNDLE_FORMAT = "effbench-bundle"
# Bundle index format history:
#   1: first version (entries: model_name, folder, fingerprint, files per format, input).
BUNDLE_VERSION = 1
BUNDLE = Format(
    name=BUNDLE_FORMAT,
    version=BUNDLE_VERSION,
    title="effbench bundle index",
    label="bundle format",
    fix="remove it or pick another --bundle folder",
    noun="bundle index",
    wanted="pick another --bundle folder",
)
# The lock file earlier versions kept inside the bundle; removed when a bundle is updated.
_LEGACY_LOCK = ".index.lock"


def read_bundle_index(bundle: Path) -> dict[str, Any]:
    """The bundle's index.json read through bench.formats (upgraded to BUNDLE_VERSION, unknown keys kept; a newer
    or broken one is an EffbenchError), or an empty index when there is none yet."""
    path = bundle / BUNDLE_INDEX_NAME
    if not path.exists():
        return {"format": BUNDLE_FORMAT, "format_version": BUNDLE_VERSION, "entries": []}
    return load_json(path, BUNDLE)


def artifact_location(file: Path, cache_dir: Path) -> tuple[str, str]:
    """Where an exported file is, as a result document records it: (root, path relative to that root). The root is
    the folder holding the file's entry folder: a bundle (it has an index), the cache, or a folder of the user's."""
    entry = Path(file).parent
    holder = entry.parent
    if (holder / BUNDLE_INDEX_NAME).is_file():
        root = BUNDLE_ROOT
    elif holder.resolve() == Path(cache_dir).resolve():
        root = CACHE_ROOT
    else:
        root = FOLDER_ROOT
    return root, f"{entry.name}/{Path(file).name}"


def bundle_entry_folder(bundle: Path, model_name: str) -> Path:
    """The folder of the bundle's entry for the zoo model `model_name` (EffbenchError naming the model and the
    bundle when it holds none, or several that differ)."""
    bundle = Path(bundle)
    if not (bundle / BUNDLE_INDEX_NAME).is_file():
        raise EffbenchError(f"{bundle} is not an effbench bundle (no {BUNDLE_INDEX_NAME}): make one with "
                            "'effbench export --bundle DIR'")  # fmt: skip
    # An int8 entry is found from its fp32 entry (bench.export.quantize), never by the model's name.
    entries = [
        e
        for e in read_bundle_index(bundle).get("entries", [])
        if e.get("model_name") == model_name and e.get("precision") != "int8"
    ]
    if not entries:
        raise EffbenchError(
            f"the bundle {bundle} has no {model_name}: add it with 'effbench export --model {model_name} "
            f"--bundle {bundle}' on a machine with torch, or drop it from the suite"
        )
    if len(entries) > 1:
        folders = ", ".join(str(bundle / e["folder"]) for e in entries)
        raise EffbenchError(f"the bundle {bundle} holds {len(entries)} exports of {model_name} ({folders}): "
                            "name one of these folders in the suite's models")  # fmt: skip
    return bundle / entries[0]["folder"]


def write_bundle(
    artifact_sets: Sequence[ArtifactSet], bundle: Path, progress: Callable[[str], None] | None = None
) -> Path:
    """Copy entries into a self-contained folder (entry folders + index.json + README.md) that a machine
    without torch can benchmark: point --model at BUNDLE/<entry>/model.onnx, model.xml or BUNDLE/<entry>."""
    say = progress or quiet
    bundle = Path(bundle)
    ensure_writable_folder(bundle, "bundle folder", "pass --bundle a folder you can write to")
    with _folder_lock(bundle):
        # Left by a killed bundle write (writers hold this lock), and the lock file older versions kept here.
        for leftover in [*bundle.glob(f"{STAGING_PREFIX}*"), *bundle.glob(f"{TRASH_PREFIX}*")]:
            shutil.rmtree(leftover, ignore_errors=True)
        (bundle / _LEGACY_LOCK).unlink(missing_ok=True)
        index = read_bundle_index(bundle)
        entries = {e["folder"]: e for e in index.get("entries", [])}
        for arts in artifact_sets:
            source = next(iter(arts.files.values())).parent
            folder = slugify(arts.model_name)
            if arts.manifest.get("precision") == "int8":  # named as in the cache, where the int8 step looks for it
                folder = entry_folder_name(f"{arts.model_name}-int8", arts.fingerprint)
            if folder in entries and entries[folder]["fingerprint"] != arts.fingerprint:
                folder = entry_folder_name(arts.model_name, arts.fingerprint)
            dest = bundle / folder
            current = read_manifest(dest)
            if current and current.get("fingerprint") == arts.fingerprint and not verify_entry(dest, current, ()):
                say(f"{arts.model_name}: already in the bundle as {dest}")
            else:
                staging = new_staging_folder(bundle, folder)
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
                **({"precision": "int8"} if arts.manifest.get("precision") == "int8" else {}),
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
        write_json(bundle / BUNDLE_INDEX_NAME, index)
        replace_file(bundle / "README.md", _bundle_readme(index))
    return bundle


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder` itself, so that two processes adding to one bundle take turns.

    flock on the folder's own descriptor leaves no lock file in the bundle, which is meant to be copied to other
    machines. Where the file system refuses flock on a folder (NFS emulates flock with byte-range locks, which
    need a file open for writing), the lock is a file beside the bundle, never inside it.
    """
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            import filelock

            with filelock.FileLock(str(folder.parent / f".{folder.name}.lock")):
                yield
            return
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


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
