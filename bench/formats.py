"""Versioned formats: typed records that keep unknown keys, and the one reader of every versioned file.

Two rules for every file effbench writes and reads again (result documents, calibration records, layers files,
artifact manifests, bundle indexes, and the history database's schema through the same version rule):
- A record read from a file is written back byte for byte: its keys are its field names, in field order; keys
  this version does not know are kept in `extra`; a key that was absent stays absent; the file's key order is kept.
- A file is read through `load_json` (or `upgrade` for JSON already parsed): its format name is checked, a newer
  version is refused with one line saying to upgrade effbench, and an older one is brought up to date by the
  format's upgrade steps, one version at a time (asv's `load_json(path, api_version)` with its `update_to_N`
  steps). Nothing is dropped on the way. Every problem is one EffbenchError line naming the file.
Standard library only: the worker writes its record with these (through bench.document) before it imports a runtime.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from bench.errors import EffbenchError

# ------------------------------------------------------------------------------------ versioned files


class NewerFormatError(EffbenchError):
    """A file written by a newer effbench: this one must not guess what its new keys mean."""

    def __init__(self, message: str, versions: str) -> None:
        super().__init__(message)
        self.versions = versions  # "manifest format 2 > 1"


@dataclass(frozen=True)
class Format:
    """One versioned format: its name and version, the upgrade steps that reach the version, and how its errors
    read ("X is not a valid <title> …; <fix>", "X was written by a newer effbench (<label> 3 > 2): upgrade …")."""

    name: str | None  # the value of the "format" key; None for a record without one (a calibration record)
    version: int
    title: str  # "effbench result": "X is not a valid effbench result"
    label: str  # "format", "layers format", "history schema": "(format 3 > 2)"
    fix: str  # what to do about a broken file: "re-run the measurement"
    # upgrades[n] turns a version-n file (a JSON dict, or for the history an open database) into version n + 1
    upgrades: Mapping[int, Callable[[Any], Any]] = field(default_factory=dict)
    version_key: str = "format_version"
    noun: str = "file"  # "result file X does not exist"
    missing: str = "check the path"  # what to do when the file does not exist
    wanted: str = ""  # what to pass instead of a file of another format
    newer: str = "upgrade effbench"


def upgrade_steps(fmt: Format, version: Any, where: str) -> list[Callable[[Any], Any]]:
    """The steps from `version` up to fmt.version, in order: an EffbenchError for an invalid or newer version
    or a version no chain of steps reaches."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise EffbenchError(
            f"{where} has an invalid {fmt.version_key} {version!r}: expected an integer from 1 to {fmt.version}"
        )
    if version > fmt.version:
        versions = f"{fmt.label} {version} > {fmt.version}"
        raise NewerFormatError(f"{where} was written by a newer effbench ({versions}): {fmt.newer}", versions)
    steps = []
    for n in range(version, fmt.version):
        step = fmt.upgrades.get(n)
        if step is None:
            raise EffbenchError(
                f"{where} has {fmt.label} {version}, which this effbench cannot upgrade (no step from {n} to "
                f"{n + 1}): {fmt.fix}"
            )
        steps.append(step)
    return steps


def upgrade(raw: Any, fmt: Format, where: str, *, restamp: bool = True) -> dict[str, Any]:
    """`raw` (parsed JSON) checked and brought up to fmt.version, as a new dict that keeps every unknown key.

    `restamp=False` leaves the version key as written: a record inside a document (a calibration) keeps its own
    stamp, so that the document is written back byte for byte; the document's version is the one upgraded.
    """
    if fmt.name is not None and (not isinstance(raw, dict) or raw.get("format") != fmt.name):
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise EffbenchError(
            f"{where} is not an {fmt.title}: format is {found!r}, expected {fmt.name!r}; {fmt.wanted or fmt.fix}"
        )
    if not isinstance(raw, dict):
        raise EffbenchError(f"{where} is not a valid {fmt.title}: it is not an object; {fmt.fix}")
    data = dict(raw)
    steps = upgrade_steps(fmt, data.get(fmt.version_key), where)
    for step in steps:
        data = step(data)
    if restamp and steps:
        data[fmt.version_key] = fmt.version
    return data


def read_bytes(path: Path, fmt: Format) -> bytes:
    """A versioned file's bytes: one EffbenchError line for a missing or unreadable file, or a folder."""
    path = Path(path)
    if not path.exists():
        raise EffbenchError(f"{fmt.noun} {path} does not exist: {fmt.missing}")
    if path.is_dir():
        raise EffbenchError(f"{path} is a folder, not a {fmt.noun}: pass one of the .json files in it")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise EffbenchError(f"cannot read {path}: {exc.strerror or exc}") from None


def decode_json(data: bytes, fmt: Format, where: str) -> Any:
    """The JSON value of a versioned file's bytes; text that is not UTF-8 or not JSON is one line naming `where`."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise EffbenchError(f"{where} is not a valid {fmt.title} (not UTF-8 text): {fmt.fix}") from None
    except json.JSONDecodeError as exc:
        raise EffbenchError(
            f"{where} is not a valid {fmt.title} (JSON error at line {exc.lineno}): it may be truncated; {fmt.fix}"
        ) from None


def load_json(path: Path, fmt: Format) -> dict[str, Any]:
    """The versioned file at `path`, read, checked and upgraded to fmt.version, unknown keys kept (asv's load_json)."""
    return upgrade(decode_json(read_bytes(path, fmt), fmt, str(path)), fmt, str(path))


# -------------------------------------------------------------------------------------- typed records

R = TypeVar("R", bound="Record")


class DocumentError(ValueError):
    """A document (or worker record) that does not have the shape of its contract; says where."""


def nested(record: type, *, many: bool = False, keyed_by: str | None = None) -> dict[str, Any]:
    """Field metadata: the field holds a nested record, or a tuple of them (`many`: a JSON list; `keyed_by`: a
    JSON object of the records keyed by that field), read with the record's from_dict."""
    return {"record": record, "many": many or keyed_by is not None, "keyed_by": keyed_by}


# Field metadata of optional keys added after a format's first version: written only when they hold something,
# so that a record that does not use them keeps the older shape.
OMIT_EMPTY: dict[str, Any] = {"omit_empty": True}


def _default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def _to_json(value: Any, f: Field[Any] | None = None) -> Any:
    keyed_by = f.metadata.get("keyed_by") if f is not None else None
    if keyed_by and isinstance(value, tuple):
        return {getattr(item, keyed_by): _to_json(item) for item in value}
    if callable(getattr(value, "to_dict", None)):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return value


@dataclass(frozen=True, kw_only=True)
class Record:
    """Base of every record: keys = field names; unknown keys kept in `extra`; absent keys stay absent."""

    extra: dict[str, Any] = field(default_factory=dict)
    # The keys the record was read with, in their order (empty for a record built in code).
    loaded_keys: tuple[str, ...] = field(default=(), compare=False, repr=False)

    _bookkeeping: ClassVar[frozenset[str]] = frozenset({"extra", "loaded_keys"})
    # Keys written from a property (derived from the fields): not kept in `extra` when read back.
    _derived: ClassVar[tuple[str, ...]] = ()
    # The record's own versioned format, checked (and upgraded, keeping its stamp) before it is read.
    _format: ClassVar[Format | None] = None

    @classmethod
    def _data_fields(cls) -> list[Field[Any]]:
        return [f for f in fields(cls) if f.name not in cls._bookkeeping]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self._data_fields():
            value = getattr(self, f.name)
            if self.loaded_keys and f.name not in self.loaded_keys and value == _default(f):
                continue  # absent in the file it came from, and still nothing to say
            if f.metadata.get("omit_empty") and value in (None, (), {}):
                continue
            out[f.name] = _to_json(value, f)
        out.update({name: getattr(self, name) for name in self._derived})
        out.update(self.extra)
        if self.loaded_keys:
            rank = {key: i for i, key in enumerate(self.loaded_keys)}
            out = dict(sorted(out.items(), key=lambda item: rank.get(item[0], len(rank))))  # stable: new keys last
        return out

    @classmethod
    def from_dict(cls: type[R], data: Any, where: str = "") -> R:
        where = where or cls.__name__
        if not isinstance(data, Mapping):
            raise DocumentError(f"{where} is not an object")
        if cls._format is not None:
            try:
                data = upgrade(dict(data), cls._format, where, restamp=False)
            except NewerFormatError:
                raise
            except EffbenchError as exc:
                raise DocumentError(str(exc)) from None
        values: dict[str, Any] = {}
        known = set(cls._derived)
        for f in cls._data_fields():
            known.add(f.name)
            if f.name not in data:
                if _default(f) is MISSING:
                    raise DocumentError(f"{where}: '{f.name}' is missing")
                continue
            values[f.name] = _from_json(data[f.name], f, f"{where}.{f.name}")
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**values, extra=extra, loaded_keys=tuple(data))

    @classmethod
    def _where(cls, data: Any, where: str) -> str:
        """How an error names this record in a list (a cell adds its model and backend)."""
        return where


def _from_json(value: Any, f: Field[Any], where: str) -> Any:
    record = f.metadata.get("record")
    if record is None:
        check = f.metadata.get("check")
        if check is not None:
            check(value, where)
        return tuple(value) if isinstance(value, list) else value
    if value is None:
        return None
    if not f.metadata.get("many"):
        return record.from_dict(value, where)
    if f.metadata.get("keyed_by"):
        if not isinstance(value, Mapping):
            raise DocumentError(f"{where} is not an object")
        return tuple(record.from_dict(item, f"{where}.{key}") for key, item in value.items())
    if not isinstance(value, list):
        raise DocumentError(f"{where} is not a list")
    return tuple(record.from_dict(item, record._where(item, f"{where}[{i}]")) for i, item in enumerate(value))


# ------------------------------------------------------------------------------------ numeric checks
# Views compute with these values (compare bootstraps the samples, reports divide by the medians): a string, a
# bool or a negative count read from a damaged file is refused when the file is read, as one line naming the value.


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _item_rule(integer: bool, minimum: float | None) -> tuple[Callable[[Any], bool], str]:
    """Whether a value is a finite number (an integer) >= `minimum`, and how an error says so."""

    def ok(value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return False
        return (not integer or isinstance(value, int)) and (minimum is None or value >= minimum)

    return ok, ("an integer" if integer else "a number") + (f" >= {minimum:g}" if minimum is not None else "")


def number(*, optional: bool = False, minimum: float | None = None, integer: bool = False) -> dict[str, Any]:
    """Field metadata: the value is a finite number (an integer) >= `minimum`, or null when `optional`."""
    ok, expected = _item_rule(integer, minimum)

    def check(value: Any, where: str) -> None:
        if not (ok(value) or (optional and value is None)):
            raise DocumentError(f"{where} is {_shown(value)}, expected {expected}{' or null' if optional else ''}")

    return {"check": check}


def numbers(
    *, length: int | None = None, optional: bool = False, minimum: float | None = None, integer: bool = False
) -> dict[str, Any]:
    """Field metadata: a list of finite numbers (integers) >= `minimum` (`length` of them when given), or null
    when `optional`."""
    ok, expected = _item_rule(integer, minimum)

    def check(value: Any, where: str) -> None:
        if optional and value is None:
            return
        if not isinstance(value, list | tuple) or (length is not None and len(value) != length):
            size = f"{length} " if length is not None else ""
            raise DocumentError(f"{where} is {_shown(value)}, expected a list of {size}numbers")
        for i, item in enumerate(value):
            if not ok(item):
                raise DocumentError(f"{where}[{i}] is {_shown(item)}, expected {expected}")

    return {"check": check}


def relative_path(path: str, folder: Path) -> str:
    """`path` relative to `folder` (with `..` where needed) when it is absolute; a relative path as it is."""
    if not Path(path).is_absolute():
        return path
    return Path(os.path.relpath(Path(path).resolve(), Path(folder).resolve())).as_posix()


@dataclass(frozen=True)
class FilePaths:
    """Where a record's dict holds file paths: single keys, and lists whose entries with these suffixes are files."""

    keys: tuple[str, ...]
    lists: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()


def map_file_paths(data: dict[str, Any], where: FilePaths, change: Callable[[str], str]) -> dict[str, Any]:
    """`data` with `change` applied to each path named by `where` (other values left alone)."""
    out = dict(data)
    for key in where.keys:
        if isinstance(out.get(key), str):
            out[key] = change(out[key])
    for key in where.lists:
        if isinstance(out.get(key), list):
            out[key] = [change(v) if isinstance(v, str) and v.endswith(where.suffixes) else v for v in out[key]]
    return out
