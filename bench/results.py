"""The result document on disk: build a new one, write it atomically (never overwriting), save progress, load.

The records and their JSON keys are in bench.document, the format history and upgrades too; this module turns
them into files and back. A document keeps every raw sample (integer ns, per worker process); machine metadata
and settings common to all cells are stored once at the top, as pyperf does.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import __version__
from bench.document import RESULT_FORMAT, EffbenchInfo, ResultDocument, Settings, document_from_json
from bench.document import read_run_id as _read_run_id
from bench.errors import EffbenchError
from bench.formats import decode_json, read_bytes
from bench.fsio import replace_file, write_new_file
from bench.machine.info import MachineInfo

# ------------------------------------------------------------------------------------------ the document


def new_document(machine: dict[str, Any], settings: Settings, command: Sequence[str]) -> ResultDocument:
    """A new result document with no cells yet.

    Its status starts as "interrupted", so that a file saved in progress by a run that is then killed says
    so; the harness sets "complete" before its final save. `machine` is collect_machine_metadata()'s dict
    (an "id" is added if missing).
    """
    info = MachineInfo(_without_local_paths(machine))
    if not info.id:
        from bench.machine import machine_id

        info = MachineInfo({**info.data, "id": machine_id(info.data)})
    versions = info.effbench
    if not versions:
        from bench.machine import effbench_version_info

        versions = effbench_version_info()
    return ResultDocument(
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        effbench=EffbenchInfo(
            version=versions.get("version", __version__),
            git_commit=versions.get("git_commit"),
            git_dirty=versions.get("git_dirty"),
            run_id=uuid.uuid4().hex,
            command=tuple(str(c) for c in command),
        ),
        machine=info,
        settings=settings,
    )


def _without_local_paths(machine: dict[str, Any]) -> dict[str, Any]:
    """The machine facts a document keeps: the interpreter by its file name (python3.11), not its path under the
    measuring user's folders. Documents travel between machines and people; version and build say which Python."""
    python = machine.get("python")
    if not isinstance(python, dict) or not isinstance(python.get("executable"), str):
        return dict(machine)
    return {**machine, "python": {**python, "executable": Path(python["executable"]).name}}


def _plain(obj: Any) -> Any:
    """A JSON scalar for `obj`: non-finite floats become null (strict JSON has no NaN), paths and numpy
    scalars their plain value. Anything else unknown is a bug in the caller and raises TypeError."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    item = getattr(obj, "item", None)  # numpy scalars, without importing numpy
    if callable(item) and type(obj).__module__ == "numpy":
        return _plain(item())
    raise TypeError(f"cannot store a {type(obj).__name__} in a result document: {obj!r}")


def _dumps(obj: Any, indent: int = 0) -> str:
    """JSON with nested objects indented but lists of scalars on one line.

    Raw samples are long lists of numbers: one number per line would make files 5x longer and unreadable,
    while compact JSON hides the structure.
    """
    pad = " " * (indent + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad}{json.dumps(str(k))}: {_dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(obj, (list, tuple, set, frozenset)):
        values = sorted(obj) if isinstance(obj, (set, frozenset)) else list(obj)
        if all(not isinstance(v, (dict, list, tuple, set, frozenset)) for v in values):
            return json.dumps([_plain(v) for v in values], allow_nan=False, separators=(", ", ": "))
        items = [f"{pad}{_dumps(v, indent + 1)}" for v in values]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    return json.dumps(_plain(obj), allow_nan=False)


def document_text(doc: ResultDocument) -> str:
    """The document as written to disk (bench.results' layout: samples on one line per process)."""
    return _dumps(doc.to_dict()) + "\n"


def default_result_path(doc: ResultDocument, results_dir: Path) -> Path:
    """results_dir/<machine id>/<UTC creation time>.json, e.g. results/intel-xeon-bf96a8ca/20261126T063000Z.json."""
    mid = doc.machine.id
    if not mid:
        from bench.machine import machine_id

        mid = machine_id(doc.machine.data)
    try:
        created = _dt.datetime.fromisoformat(str(doc.created))
    except ValueError:
        created = _dt.datetime.now(_dt.UTC)
    if created.tzinfo is not None:
        created = created.astimezone(_dt.UTC)
    return results_dir / str(mid) / f"{created.strftime('%Y%m%dT%H%M%SZ')}.json"


def write_result(doc: ResultDocument, path: Path | None, results_dir: Path) -> Path:
    """Write a new result file; return where it went.

    Default name: default_result_path(). An existing name is never overwritten: the file gets the next free
    name with -1, -2... and, when the name was chosen by the user (`path`), a note on stderr says so.
    The write is atomic: the file appears complete or not at all.
    """
    target = path if path is not None else default_result_path(doc, results_dir)
    written = write_new_file(target, document_text(doc))
    if path is not None and written != path:
        print(
            f"effbench: note: {path} already exists; the result was written to {written} (results are never "
            "overwritten)",
            file=sys.stderr,
        )
    return written


def save_progress(doc: ResultDocument, path: Path) -> None:
    """Atomically replace `path`, a file this run created with write_result, with the current document.

    Refuses (EffbenchError) to replace a file that belongs to another run: only a file whose
    effbench.run_id matches this document's is replaced. If the file has disappeared it is created again.
    """
    run_id = doc.effbench.run_id
    if not run_id:
        raise ValueError("document has no effbench.run_id: build it with new_document()")
    text = document_text(doc)
    if path.exists():
        try:
            owner = _read_run_id(path.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            raise EffbenchError(f"cannot read {path} before updating it: {exc.strerror or exc}") from None
        if owner != run_id:
            raise EffbenchError(
                f"{path} belongs to another effbench run; refusing to overwrite it (results are never "
                "overwritten): write this run's results to a new file"
            )
        try:
            replace_file(path, text)
        except OSError as exc:
            raise EffbenchError(f"cannot update {path}: {exc.strerror or exc}") from None
        return
    written = write_new_file(path, text)
    if written != path:  # pragma: no cover - lost a race against another writer of that very name
        raise EffbenchError(f"{path} was created by someone else meanwhile; this run's results are in {written}")


# ----------------------------------------------------------------------------------------------- loading


def load_result(path: Path) -> ResultDocument:
    """Read a result file through bench.formats (format checked, an older one upgraded, a newer one refused) into
    the typed document, its numbers checked; EffbenchError with the way out on any problem."""
    where = str(path)
    return document_from_json(decode_json(read_bytes(Path(path), RESULT_FORMAT), RESULT_FORMAT, where), where)
