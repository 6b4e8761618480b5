"""What a cache folder holds, whether this code and these versions would still hit each entry, and pruning the
entries they cannot (torch-free: it reads manifests and recomputes fingerprints, it exports nothing).

Every change to the model code, the export recipe or an installed runtime changes the fingerprint of the
entries it would produce, so the entries made before are never hit again and pile up under models/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.errors import EffbenchError
from bench.export.cache import (
    STAGING_PREFIX,
    TRASH_PREFIX,
    artifact_sha256,
    compute_fingerprint,
    discard_folder,
    entry_folder_name,
    read_manifest,
    try_entry_lock,
)
from bench.formats import NewerFormatError

# An entry folder is <model slug>-<first 16 hex digits of its fingerprint> (cache.entry_folder_name).
_ENTRY_NAME = re.compile(r".-[0-9a-f]{16}$")
# A staging folder younger than this may belong to an export still running (a B7 export takes minutes); prune
# also takes the entry's lock before removing one, so the age is a second guard, not the only one.
STALE_STAGING_AGE_S = 3600.0

CURRENT = "current"  # this code and these versions give this fingerprint (a user file: still there, same bytes)
STALE = "stale"  # they give another fingerprint: no export will hit this entry again
UNKNOWN = "unknown"  # cannot tell (a user file moved or changed, a newer manifest format): kept by prune
BROKEN = "broken"  # an entry folder without a readable manifest: never hit, exported again instead
PRUNABLE = (STALE, BROKEN)


@dataclass(frozen=True)
class CacheEntry:
    """One entry folder and whether it can still be hit."""

    folder: str
    path: Path
    model: str | None
    source: str | None  # "pytorch" | "onnx-file" | "openvino-ir" | "aot-inductor" (bench.export.aot)
    size: int  # bytes, all files
    age_s: float  # since it was exported (else since the folder changed)
    status: str  # CURRENT | STALE | UNKNOWN | BROKEN
    why: str  # what changed, or why it cannot be told; "" when current


@dataclass(frozen=True)
class Leftover:
    """A staging (or trash) folder left by an export that was killed, or by one still running."""

    folder: str
    path: Path
    entry: str | None  # the entry folder it was building
    size: int
    age_s: float

    @property
    def stale(self) -> bool:
        return self.age_s > STALE_STAGING_AGE_S


@dataclass(frozen=True)
class CacheInventory:
    cache_dir: Path
    entries: tuple[CacheEntry, ...]
    leftovers: tuple[Leftover, ...]


@dataclass(frozen=True)
class PruneOutcome:
    removed: tuple[tuple[str, int, str], ...]  # (folder, bytes, why), or would be removed with dry_run
    skipped: tuple[tuple[str, str], ...]  # (folder, why)
    dry_run: bool

    @property
    def freed(self) -> int:
        return sum(size for _, size, _ in self.removed)


def inspect_cache(cache_dir: Path) -> CacheInventory:
    """Every entry and leftover staging folder in `cache_dir`, with its status (see CURRENT, STALE...)."""
    cache_dir = Path(cache_dir)
    fix = "pass --cache-dir DIR (the folder 'effbench export' writes to) or set [paths] cache_dir in bench.toml"
    if not cache_dir.exists():
        raise EffbenchError(f"cache folder {cache_dir} does not exist: {fix}")
    if not cache_dir.is_dir():
        raise EffbenchError(f"cache folder {cache_dir} is not a folder: {fix}")
    try:
        children = sorted(cache_dir.iterdir())
    except OSError as exc:
        raise EffbenchError(f"cannot read cache folder {cache_dir} ({exc.strerror or exc}): {fix}") from None
    now = time.time()
    entries, leftovers = [], []
    for path in children:
        if not path.is_dir() or path.is_symlink():
            continue
        if path.name.startswith((STAGING_PREFIX, TRASH_PREFIX)):
            prefix = STAGING_PREFIX if path.name.startswith(STAGING_PREFIX) else TRASH_PREFIX
            entry = path.name[len(prefix) :].rpartition("-")[0] or None
            leftovers.append(Leftover(path.name, path, entry, _size(path), now - _mtime(path)))
        elif _ENTRY_NAME.search(path.name):
            entries.append(entry_status(path, now))
    return CacheInventory(cache_dir, tuple(entries), tuple(leftovers))


def entry_status(path: Path, now: float | None = None) -> CacheEntry:
    """Whether this code and the installed versions would still hit the entry in `path`, and why not."""
    now = time.time() if now is None else now
    size = _size(path)
    try:
        manifest = read_manifest(path)
    except NewerFormatError as exc:
        return CacheEntry(path.name, path, None, None, size, now - _mtime(path), UNKNOWN, f"its manifest was "
                          f"written by a newer effbench ({exc.versions})")  # fmt: skip
    if manifest is None:
        return CacheEntry(path.name, path, None, None, size, now - _mtime(path), BROKEN, "no readable manifest.json")
    model = manifest.get("model_name")
    recorded = manifest.get("fingerprint_inputs") or {}
    source = recorded.get("source")
    age = now - _exported_at(manifest, path)
    status, why = _status(path, manifest, recorded)
    return CacheEntry(path.name, path, model, source, size, age, status, why)


def _status(path: Path, manifest: Mapping[str, Any], recorded: Mapping[str, Any]) -> tuple[str, str]:
    from bench.export import aot
    from bench.export.plans import SOURCES, current_fingerprint_inputs

    package = recorded.get("source") == aot.SOURCE  # an AOTInductor package (bench.export.aot)
    if recorded.get("source") not in SOURCES and not package:
        return UNKNOWN, f"its source {recorded.get('source')!r} is not one this effbench exports"
    fingerprint = str(manifest.get("fingerprint"))
    # AOTInductor packages and int8 entries (bench.export.quantize) carry a suffix in their folder names.
    suffix = "-inductor" if package else "-int8" if manifest.get("precision") == "int8" else ""
    if path.name != entry_folder_name(f"{manifest.get('model_name')}{suffix}", fingerprint):
        return STALE, "its folder name does not match its fingerprint, so no export looks it up"
    if package:
        try:
            current = aot.current_package_inputs(recorded, aot.local_compiler())
        except EffbenchError as exc:
            return UNKNOWN, f"cannot tell without a C++ compiler ({exc})"
    else:
        current = current_fingerprint_inputs(recorded)
    if current is None:
        return STALE, "its model spec is not one this effbench's zoo reads"
    if compute_fingerprint(current) != fingerprint:
        return STALE, describe_changes(recorded, current)
    user_file = manifest.get("source") or {}
    if user_file.get("kind") in ("onnx-file", "openvino-ir"):
        # The fingerprint holds the file's sha256, not its path: a copy of the file elsewhere still hits the
        # entry, so a moved or edited file makes it unknown, not stale.
        file = Path(str(user_file.get("path")))
        fmt = "openvino" if user_file["kind"] == "openvino-ir" else "onnx"
        try:
            same = artifact_sha256(fmt, file) == user_file.get("sha256")
        except OSError:
            return UNKNOWN, f"its source file {file} is gone (a copy of it would still hit this entry)"
        if not same:
            return UNKNOWN, f"its source file {file} has changed (the old bytes would still hit this entry)"
    return CURRENT, ""


def describe_changes(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> str:
    """What differs between an entry's fingerprint inputs and the ones this code gives, in a few words."""

    def same(a: Any, b: Any) -> bool:
        return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)

    changes = []
    for key in sorted(set(recorded) | set(current)):
        old, new = recorded.get(key), current.get(key)
        if same(old, new):
            continue
        if key == "versions" and isinstance(old, dict) and isinstance(new, dict):
            for lib in sorted(set(old) | set(new)):
                if old.get(lib) != new.get(lib):
                    changes.append(f"{lib} {old.get(lib) or 'not installed'} -> {new.get(lib) or 'not installed'}")
        elif key == "recipe":
            changes.append(f"export recipe {old} -> {new}")
        elif key == "model_code_sha256":
            changes.append("model code changed")
        else:
            changes.append(f"{key} changed")
    return ", ".join(changes) or "another fingerprint"


def prune_cache(inventory: CacheInventory, dry_run: bool = False) -> PruneOutcome:
    """Remove the entries this code cannot hit (STALE, BROKEN) and staging folders older than an hour.

    Each removal holds the entry's lock (as an export does), so an export running at the same time is never
    pulled from under: an entry whose lock is held is skipped, and its status is checked again under the lock.
    With `dry_run`, nothing is locked or removed: the outcome lists what would be.
    """
    removed: list[tuple[str, int, str]] = []
    skipped: list[tuple[str, str]] = []
    cache_dir = inventory.cache_dir
    for entry in inventory.entries:
        if entry.status not in PRUNABLE:
            continue
        if dry_run:
            removed.append((entry.folder, entry.size, entry.why))
            continue
        with try_entry_lock(cache_dir, entry.folder) as held:
            if not held:
                skipped.append((entry.folder, "an export holds its lock; run prune again when it is done"))
                continue
            again = entry_status(entry.path) if entry.path.is_dir() else None
            if again is None or again.status not in PRUNABLE:
                skipped.append((entry.folder, "it changed while prune waited; run prune again"))
                continue
            try:
                discard_folder(entry.path)
            except OSError as exc:
                skipped.append((entry.folder, f"cannot remove it ({exc.strerror or exc})"))
                continue
            removed.append((entry.folder, again.size, again.why))
    for leftover in inventory.leftovers:
        if not leftover.stale:
            continue
        why = "staging folder left by a killed export"
        if dry_run:
            removed.append((leftover.folder, leftover.size, why))
            continue
        with try_entry_lock(cache_dir, leftover.entry or leftover.folder) as held:
            if not held:
                skipped.append((leftover.folder, "an export of its entry is running"))
                continue
            shutil.rmtree(leftover.path, ignore_errors=True)
            if leftover.path.exists():
                skipped.append((leftover.folder, "cannot remove it (permissions?)"))
                continue
            removed.append((leftover.folder, leftover.size, why))
    return PruneOutcome(tuple(removed), tuple(skipped), dry_run)


def _size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def _exported_at(manifest: Mapping[str, Any], path: Path) -> float:
    try:
        return datetime.fromisoformat(str(manifest.get("exported_at"))).timestamp()
    except ValueError:
        return _mtime(path)
