"""The one file writer: atomic writes (temp file + rename), never-overwrite creation, staging folders.

Everything effbench writes (result documents, cache manifests, bundle files, pyperf exports, worker records)
goes through here, so every file and folder gets the permissions the umask gives (tempfile.mkstemp and mkdtemp
would make them private to the owner: 0600 and 0700), appears complete or not at all, and a result is never
overwritten. Standard library only: the worker imports it before any runtime.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from bench.errors import EffbenchError

TEMP_PREFIX = ".effbench-"


def _write_temp(folder: Path, data: str | bytes) -> Path:
    """Write `data` to a new temporary file in `folder`, flushed to disk, mode 0o666 less the umask."""
    name = folder / f"{TEMP_PREFIX}{uuid.uuid4().hex}.tmp"
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fp:
            fp.write(data.encode("utf-8") if isinstance(data, str) else data)
            fp.flush()
            os.fsync(fp.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return name


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (best effort: some filesystems refuse to open a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_file(path: Path, data: str | bytes) -> None:
    """Atomically write `data` at `path`, replacing what is there (readers see the old or the new file).

    OSError propagates: callers that can be handed a bad path turn it into an EffbenchError of their own.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path.parent, data)
    try:
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    fsync_dir(path.parent)


def _candidates(path: Path) -> Iterator[Path]:
    yield path
    stem, suffix = (path.name[: -len(".json")], ".json") if path.name.endswith(".json") else (path.name, "")
    n = 1
    while True:
        yield path.with_name(f"{stem}-{n}{suffix}")
        n += 1


def write_new_file(path: Path, data: str | bytes) -> Path:
    """Atomically create a file with `data` at `path`, or at `path` with -1, -2... if that name is taken.

    Never overwrites: the complete temporary file is hard-linked to the new name, which fails if the name
    exists (even if another process creates it meanwhile). Returns the path written.
    """
    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = _write_temp(folder, data)
    except OSError as exc:
        raise EffbenchError(f"cannot write {path}: {exc.strerror or exc}; choose a writable folder") from None
    try:
        for candidate in _candidates(path):
            try:
                os.link(tmp, candidate)
            except FileExistsError:
                continue
            except OSError:
                # A filesystem without hard links: exclusive check then atomic rename, racy only against a
                # concurrent writer choosing the same new name in the same instant.
                if candidate.exists():
                    continue
                os.replace(tmp, candidate)
            fsync_dir(folder)
            return candidate
        raise AssertionError("unreachable")  # pragma: no cover
    except OSError as exc:
        raise EffbenchError(f"cannot write {path}: {exc.strerror or exc}; choose a writable folder") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def make_staging_dir(parent: Path, prefix: str) -> Path:
    """A new empty folder under `parent` named `prefix` + a random suffix, mode 0o777 less the umask.

    Used to build a cache entry or a bundle entry completely before renaming it into place: unlike
    tempfile.mkdtemp (mode 0700), the renamed folder is then readable by whoever the umask allows.
    """
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        folder = parent / f"{prefix}{uuid.uuid4().hex[:12]}"
        try:
            os.mkdir(folder, 0o777)
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        return folder
