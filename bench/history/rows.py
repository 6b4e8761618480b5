"""The one mapping from a typed result document (bench.document.ResultDocument, as bench.results.load_result
returns it) to the rows the history database stores: a RunRow per document, a CellRow per cell, a ProcessRow per
worker process.

The history reads the document's typed attributes, here and nowhere else, so a change of the document's shape
touches bench.document and this module only. The typed records keep whatever value a file held, so every value
read is type-checked here: a malformed one is an error naming the file and the key, never a half-written row.
Raw samples are not copied: the JSON documents stay the source of truth; the rows hold the per-run estimates
trends are made of.
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

from bench.document import CellRecord, ResultDocument, document_from_json
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
    arm: str | None = None  # "base" | "new" in an `effbench ab` document, None in any other


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


class _Check:
    """Type checks of the values a typed record holds; a wrong one is an error naming the file and key."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, expected: str, value: Any) -> EffbenchError:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return EffbenchError(
            f"{self.path} is not a valid effbench result: {where} is {shown}, expected {expected}; "
            "re-run the measurement or move the file out of the results folder"
        )

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(where, "an object", value)
        return value

    def text(self, value: Any, where: str) -> str | None:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise self.fail(where, "a string", value)

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

    def items(self, value: Any, where: str) -> Sequence[Any]:
        if value is None:
            return ()
        if not isinstance(value, (list, tuple)):
            raise self.fail(where, "a list", value)
        return value

    def strings(self, value: Any, where: str) -> str:
        """A list of messages (warnings) as canonical JSON text."""
        return canonical_json([str(w) for w in self.items(value, where)])


def _created_utc(value: Any, check: _Check) -> str:
    try:
        created = _dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise check.fail("'created'", "an ISO 8601 time", value) from None
    if created.tzinfo is None:  # effbench always writes UTC; a naive time is taken as UTC, not local time
        created = created.replace(tzinfo=_dt.UTC)
    return created.astimezone(_dt.UTC).isoformat(timespec="seconds")


def _environment(doc: ResultDocument, check: _Check) -> dict[str, Any]:
    machine = doc.machine
    values = {key: machine.get(key) for key in ENVIRONMENT_KEYS}
    values["os_name"] = check.mapping(machine.get("os"), "machine.os").get("name")
    python = machine.python  # {} when absent or not an object
    python_text = " ".join(str(v) for v in (python.get("implementation"), python.get("version")) if v)
    values["python"] = python_text or None
    return values


def _quantile(ordered: Sequence[float], q: float) -> float:
    """numpy's default ("linear") quantile of sorted values: the same figure bench.engine.stats gives for a cell."""
    h = (len(ordered) - 1) * q
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


def _quantiles(samples: Sequence[Any], check: _Check, where: str) -> tuple[float | None, float | None]:
    """Median and p90 in ms. Plain Python: for a few hundred samples per process, sorted() beats numpy's
    per-call overhead, and indexing spends most of its time here."""
    if not samples:
        return None, None
    try:
        ordered = sorted(samples)  # mixed types raise TypeError; a list of one other type is caught below
    except TypeError:
        ordered = []
    if not ordered or not all(isinstance(v, (int, float)) for v in (ordered[0], ordered[-1])):
        raise check.fail(where, "a list of integer nanoseconds", "a list with non-numbers")
    return _quantile(ordered, 0.5) / 1e6, _quantile(ordered, 0.9) / 1e6


def _effective_precision(cell: CellRecord, check: _Check, where: str) -> str:
    # The latency table's own rule (first process's report, OpenVINO's per-layer mix), not a second copy of it.
    from bench.views.latency import effective_precision

    try:
        return str(effective_precision(cell))
    except (AttributeError, TypeError, KeyError, ValueError):
        raise check.fail(f"{where}.processes[0].effective", "an object of settings", "malformed") from None


def _cell_rows(index: int, cell: CellRecord, check: _Check) -> tuple[CellRow, list[ProcessRow]]:
    where = f"cells[{index}]"
    model = check.text(cell.model, f"{where}.model")
    backend = check.text(cell.backend, f"{where}.backend")
    if not model or not backend:
        raise check.fail(f"{where}.model/backend", "names", (model, backend))
    artifact = cell.artifact
    summary = cell.summary
    ci = summary.median_ci95_ms if summary is not None else None
    ci_low = ci_high = None
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        ci_low = check.number(ci[0], f"{where}.summary.median_ci95_ms[0]")
        ci_high = check.number(ci[1], f"{where}.summary.median_ci95_ms[1]")
    processes: list[ProcessRow] = []
    versions: dict[str, Any] = {}
    for position, process in enumerate(cell.processes):
        pwhere = f"{where}.processes[{position}]"
        samples = check.items(process.samples_ns, f"{pwhere}.samples_ns")
        median, p90 = _quantiles(samples, check, f"{pwhere}.samples_ns")
        ok = process.ok is not False
        if ok and not versions:
            versions = dict(check.mapping(process.versions, f"{pwhere}.versions"))
        processes.append(
            ProcessRow(
                cell_index=index,
                process_index=position,
                ok=ok,
                median_ms=median,
                p90_ms=p90,
                n_samples=len(samples),
                warnings=check.strings(process.warnings, f"{pwhere}.warnings"),
            )
        )
    swhere = f"{where}.summary"
    n_samples = check.integer(summary.n, f"{swhere}.n") if summary is not None else None
    n_processes = check.integer(summary.processes, f"{swhere}.processes") if summary is not None else None
    row = CellRow(
        cell_index=index,
        model=model,
        model_fingerprint=check.text(cell.fingerprint, f"{where}.fingerprint"),
        artifact_format=check.text(artifact.format, f"{where}.artifact.format") if artifact else None,
        artifact_sha256=check.text(artifact.sha256, f"{where}.artifact.sha256") if artifact else None,
        backend=backend,
        precision=check.text(cell.precision, f"{where}.precision") or "fp32",
        effective_precision=_effective_precision(cell, check, where),
        threads=check.integer(cell.threads, f"{where}.threads"),
        cpus=canonical_json(list(check.items(cell.cpus, f"{where}.cpus"))),
        status=check.text(cell.status, f"{where}.status") or "unknown",
        median_ms=check.number(summary.median_ms, f"{swhere}.median_ms") if summary is not None else None,
        ci_low_ms=ci_low,
        ci_high_ms=ci_high,
        p90_ms=check.number(summary.p90_ms, f"{swhere}.p90_ms") if summary is not None else None,
        n_samples=n_samples if n_samples is not None else sum(p.n_samples for p in processes),
        n_processes=n_processes if n_processes is not None else sum(1 for p in processes if p.n_samples),
        versions=canonical_json(versions),
        warnings=check.strings(cell.warnings, f"{where}.warnings"),
        arm=check.text(cell.arm, f"{where}.arm") or None,
    )
    return row, processes


def _suite_name(doc: ResultDocument, check: _Check) -> str | None:
    """The `effbench run --suite` name the document records, or None."""
    if doc.suite is None:
        return None
    return check.text(doc.suite.name, "suite.name") or None


def document_rows(
    doc: ResultDocument | Mapping[str, Any], path: str, sha256: str, source: str | None = None
) -> DocumentRows:
    """The rows of one loaded document (load_result's ResultDocument, or a JSON dict, read the same way),
    recorded under `path`; EffbenchError naming `source` (the file as the user knows it; default `path`) if a
    value is malformed."""
    check = _Check(source or path)
    if not isinstance(doc, ResultDocument):
        doc = document_from_json(dict(doc), check.path)  # the loader's own checks and upgrades: one reader
    info = doc.effbench
    machine_id = check.text(doc.machine.id, "machine.id")
    if not machine_id:
        from bench.machine import machine_id as compute_machine_id

        machine_id = compute_machine_id(doc.machine.to_dict())
    environment_json = canonical_json(_environment(doc, check))
    dirty = info.git_dirty
    run = RunRow(
        run_id=check.text(info.run_id, "effbench.run_id") or sha256[:32],
        sha256=sha256,
        path=path,
        created=_created_utc(doc.created, check),
        status=check.text(doc.status, "status"),
        effbench_version=check.text(info.version, "effbench.version"),
        effbench_commit=check.text(info.git_commit, "effbench.git_commit"),
        effbench_dirty=dirty if isinstance(dirty, bool) else None,
        commit_under_test=check.text(info.commit_under_test, "effbench.commit_under_test") or None,
        label=check.text(info.label, "effbench.label") or None,
        suite=_suite_name(doc, check),
        machine_id=machine_id,
        machine_fingerprint=hashlib.sha256(environment_json.encode()).hexdigest()[:16],
        environment=environment_json,
        runtimes=canonical_json(dict(check.mapping(doc.machine.get("runtimes"), "machine.runtimes"))),
        warnings=check.strings(doc.warnings, "warnings"),
    )
    cells: list[CellRow] = []
    processes: list[ProcessRow] = []
    for index, cell in enumerate(doc.cells):
        row, rows = _cell_rows(index, cell, check)
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
