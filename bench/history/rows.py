"""The one mapping from a result document (format version 1, as bench.results.load_result returns it, or its
JSON dict) to the rows the history database stores: a RunRow per document, a CellRow per cell, a ProcessRow per
worker process.

Every key of the result document the history reads is spelled here and nowhere else, so a change of the
document's shape (a typed document class, a new format version) touches this module only. Raw samples are not
copied: the JSON documents stay the source of truth; the rows hold the per-run estimates trends are made of.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.document import ResultDocument
from bench.errors import EffbenchError

# The machine settings that can change on one machine (same machine id) and move latency; their hash is the
# run's machine fingerprint and their values say *what* changed when a series steps.
ENVIRONMENT_KEYS = (
    "kernel",
    "os_name",
    "python",
    "governor",
    "scaling_driver",
    "boost",
    "isolated_cpus",
    "cgroup_cpu_quota",
    "aslr",
)


@dataclass(frozen=True)
class RunRow:
    """One result document. JSON-valued fields are canonical JSON text (sorted keys), ready to store."""

    run_id: str  # effbench.run_id, or the first 32 hex digits of the file's sha256 when it has none
    sha256: str
    path: str
    created: str  # ISO 8601 in UTC, seconds: sorts as text
    status: str | None
    effbench_version: str | None
    effbench_commit: str | None
    effbench_dirty: bool | None
    commit_under_test: str | None
    label: str | None
    suite: str | None
    machine_id: str
    machine_fingerprint: str
    environment: str  # JSON object of ENVIRONMENT_KEYS
    runtimes: str  # JSON object: runtime versions installed on the machine
    warnings: str  # JSON list


@dataclass(frozen=True)
class CellRow:
    cell_index: int
    model: str
    model_fingerprint: str | None
    artifact_format: str | None
    artifact_sha256: str | None
    backend: str
    precision: str  # as asked
    effective_precision: str  # as the runtime reported it (first process)
    threads: int | None
    cpus: str  # JSON list
    status: str
    median_ms: float | None
    ci_low_ms: float | None
    ci_high_ms: float | None
    p90_ms: float | None
    n_samples: int
    n_processes: int
    versions: str  # JSON object: the runtime versions the cell's worker loaded
    warnings: str  # JSON list


@dataclass(frozen=True)
class ProcessRow:
    cell_index: int
    process_index: int  # position in the cell's list (the worker's own process_index, written in that order)
    ok: bool
    median_ms: float | None
    p90_ms: float | None
    n_samples: int
    warnings: str  # JSON list


@dataclass(frozen=True)
class DocumentRows:
    run: RunRow
    cells: tuple[CellRow, ...]
    processes: tuple[ProcessRow, ...]


def canonical_json(value: Any) -> str:
    """JSON text that is the same for equal values: the database content must not depend on key order."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Reader:
    """Typed access to a document's values; a value of the wrong type is an error naming the file and key."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, expected: str, value: Any) -> EffbenchError:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return EffbenchError(
            f"{self.path} is not a valid effbench result: {where} is {shown}, expected {expected}; "
            "re-run the measurement or move the file out of the results folder"
        )

    def mapping(self, parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
        value = parent.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(f"{where}.{key}", "an object", value)
        return value

    def text(self, parent: Mapping[str, Any], key: str, where: str) -> str | None:
        value = parent.get(key)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise self.fail(f"{where}.{key}", "a string", value)

    def number(self, value: Any, where: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, "a number", value)
        return float(value) if math.isfinite(value) else None

    def integer(self, value: Any, where: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, "an integer", value)
        return value

    def items(self, parent: Mapping[str, Any], key: str, where: str) -> Sequence[Any]:
        value = parent.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(f"{where}.{key}", "a list", value)
        return value


def _created_utc(value: Any, reader: _Reader) -> str:
    try:
        created = _dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise reader.fail("'created'", "an ISO 8601 time", value) from None
    if created.tzinfo is None:  # effbench always writes UTC; a naive time is taken as UTC, not local time
        created = created.replace(tzinfo=_dt.UTC)
    return created.astimezone(_dt.UTC).isoformat(timespec="seconds")


def _environment(machine: Mapping[str, Any], reader: _Reader) -> dict[str, Any]:
    python = reader.mapping(machine, "python", "machine")
    system = reader.mapping(machine, "os", "machine")
    values = {key: machine.get(key) for key in ENVIRONMENT_KEYS if key in machine}
    values["os_name"] = system.get("name")
    python_text = " ".join(str(v) for v in (python.get("implementation"), python.get("version")) if v)
    values["python"] = python_text or None
    return {key: values.get(key) for key in ENVIRONMENT_KEYS}


def _quantile(ordered: Sequence[float], q: float) -> float:
    """numpy's default ("linear") quantile of sorted values: the same figure bench.stats gives for a cell."""
    h = (len(ordered) - 1) * q
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


def _quantiles(samples: Sequence[Any], reader: _Reader, where: str) -> tuple[float | None, float | None]:
    """Median and p90 in ms. Plain Python: for a few hundred samples per process, sorted() beats numpy's
    per-call overhead, and indexing spends most of its time here."""
    if not samples:
        return None, None
    try:
        ordered = sorted(samples)  # mixed types raise TypeError; a list of one other type is caught below
    except TypeError:
        ordered = []
    if not ordered or not all(isinstance(v, (int, float)) for v in (ordered[0], ordered[-1])):
        raise reader.fail(where, "a list of integer nanoseconds", "a list with non-numbers")
    return _quantile(ordered, 0.5) / 1e6, _quantile(ordered, 0.9) / 1e6


def _effective_precision(cell: Mapping[str, Any]) -> str:
    # The latency table's own rule (first process's report, OpenVINO's per-layer mix), not a second copy of it.
    from bench.document import CellRecord
    from bench.views.latency import effective_precision

    return effective_precision(CellRecord.from_dict(cell))


def _checked_effective_precision(cell: Mapping[str, Any], reader: _Reader, where: str) -> str:
    from bench.document import DocumentError

    try:
        return _effective_precision(cell)
    except (AttributeError, TypeError, KeyError, DocumentError):
        raise reader.fail(f"{where}.processes[0].effective", "an object of settings", "malformed") from None


def _cell_rows(index: int, cell: Any, reader: _Reader) -> tuple[CellRow, list[ProcessRow]]:
    where = f"cells[{index}]"
    if not isinstance(cell, Mapping):
        raise reader.fail(where, "an object", cell)
    model = reader.text(cell, "model", where)
    backend = reader.text(cell, "backend", where)
    if not model or not backend:
        raise reader.fail(f"{where}.model/backend", "names", (model, backend))
    artifact = reader.mapping(cell, "artifact", where)
    summary = reader.mapping(cell, "summary", where)
    ci = summary.get("median_ci95_ms")
    ci_low = ci_high = None
    if isinstance(ci, list) and len(ci) == 2:
        ci_low = reader.number(ci[0], f"{where}.summary.median_ci95_ms[0]")
        ci_high = reader.number(ci[1], f"{where}.summary.median_ci95_ms[1]")
    processes: list[ProcessRow] = []
    versions: dict[str, Any] = {}
    for position, process in enumerate(reader.items(cell, "processes", where)):
        pwhere = f"{where}.processes[{position}]"
        if not isinstance(process, Mapping):
            raise reader.fail(pwhere, "an object", process)
        samples = reader.items(process, "samples_ns", pwhere)
        median, p90 = _quantiles(samples, reader, f"{pwhere}.samples_ns")
        ok = process.get("ok", True) is not False
        if ok and not versions:
            versions = dict(reader.mapping(process, "versions", pwhere))
        processes.append(
            ProcessRow(
                cell_index=index,
                process_index=position,
                ok=ok,
                median_ms=median,
                p90_ms=p90,
                n_samples=len(samples),
                warnings=canonical_json([str(w) for w in reader.items(process, "warnings", pwhere)]),
            )
        )
    n_samples = reader.integer(summary.get("n"), f"{where}.summary.n")
    n_processes = reader.integer(summary.get("processes"), f"{where}.summary.processes")
    row = CellRow(
        cell_index=index,
        model=model,
        model_fingerprint=reader.text(cell, "fingerprint", where),
        artifact_format=reader.text(artifact, "format", f"{where}.artifact"),
        artifact_sha256=reader.text(artifact, "sha256", f"{where}.artifact"),
        backend=backend,
        precision=reader.text(cell, "precision", where) or "fp32",
        effective_precision=_checked_effective_precision(cell, reader, where),
        threads=reader.integer(cell.get("threads"), f"{where}.threads"),
        cpus=canonical_json(list(reader.items(cell, "cpus", where))),
        status=reader.text(cell, "status", where) or "unknown",
        median_ms=reader.number(summary.get("median_ms"), f"{where}.summary.median_ms"),
        ci_low_ms=ci_low,
        ci_high_ms=ci_high,
        p90_ms=reader.number(summary.get("p90_ms"), f"{where}.summary.p90_ms"),
        n_samples=n_samples if n_samples is not None else sum(p.n_samples for p in processes),
        n_processes=n_processes if n_processes is not None else sum(1 for p in processes if p.n_samples),
        versions=canonical_json(versions),
        warnings=canonical_json([str(w) for w in reader.items(cell, "warnings", where)]),
    )
    return row, processes


def _suite(doc: Mapping[str, Any], settings: Mapping[str, Any]) -> str | None:
    for value in (doc.get("suite"), settings.get("suite")):
        if isinstance(value, Mapping):
            value = value.get("name")
        if isinstance(value, str) and value:
            return value
    return None


def document_rows(
    doc: Mapping[str, Any] | ResultDocument, path: str, sha256: str, source: str | None = None
) -> DocumentRows:
    """The rows of one loaded document (load_result's, or its JSON dict), recorded under `path`; EffbenchError
    naming `source` (the file as the user knows it; default `path`) if a value is malformed."""
    if isinstance(doc, ResultDocument):
        doc = doc.to_dict()
    reader = _Reader(source or path)
    info = reader.mapping(doc, "effbench", "document")
    machine = reader.mapping(doc, "machine", "document")
    settings = reader.mapping(doc, "settings", "document")
    machine_id = reader.text(machine, "id", "machine")
    if not machine_id:
        from bench.machine import machine_id as compute_machine_id

        machine_id = compute_machine_id(dict(machine))
    environment = _environment(machine, reader)
    environment_json = canonical_json(environment)
    run_id = reader.text(info, "run_id", "effbench") or sha256[:32]
    dirty = info.get("git_dirty")
    run = RunRow(
        run_id=run_id,
        sha256=sha256,
        path=path,
        created=_created_utc(doc.get("created"), reader),
        status=reader.text(doc, "status", "document"),
        effbench_version=reader.text(info, "version", "effbench"),
        effbench_commit=reader.text(info, "git_commit", "effbench"),
        effbench_dirty=dirty if isinstance(dirty, bool) else None,
        commit_under_test=reader.text(info, "commit_under_test", "effbench"),
        label=reader.text(info, "label", "effbench"),
        suite=_suite(doc, settings),
        machine_id=machine_id,
        machine_fingerprint=hashlib.sha256(environment_json.encode()).hexdigest()[:16],
        environment=environment_json,
        runtimes=canonical_json(dict(reader.mapping(machine, "runtimes", "machine"))),
        warnings=canonical_json([str(w) for w in reader.items(doc, "warnings", "document")]),
    )
    cells: list[CellRow] = []
    processes: list[ProcessRow] = []
    for index, cell in enumerate(reader.items(doc, "cells", "document")):
        row, rows = _cell_rows(index, cell, reader)
        cells.append(row)
        processes.extend(rows)
    return DocumentRows(run, tuple(cells), tuple(processes))


def read_document(path: Path, stored_path: str, data: bytes | None = None) -> DocumentRows:
    """Load `path` with bench.results.load_result (all its checks, upgrades of older formats) and map it to rows.

    `data` is the file's bytes when the caller has read them already (for the sha256); `stored_path` is the
    path as the database records it.
    """
    from bench.results import load_result

    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise EffbenchError(f"cannot read {path}: {exc.strerror or exc}") from None
    doc = load_result(Path(path))
    return document_rows(doc, stored_path, file_sha256(data), source=str(path))
