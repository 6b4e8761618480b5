"""Reading series out of the history database: filters, name resolution (b1 == efficientnet_b1) and one
point per run per series (model, backend, precision, threads, machine, A/B arm), in time order."""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.errors import EffbenchError


@dataclass(frozen=True, order=True)
class SeriesKey:
    """What makes runs comparable: the same cell settings on the same machine, and the same A/B arm.

    The arm keeps the two arms of `effbench ab` documents in series of their own ("base", "new"), apart from
    each other and from ordinary runs (arm ""): an A/B's arms differ by design (another build, runtime or
    model), so interleaving them with ordinary runs would make steps that are not changes.
    """

    model: str
    backend: str
    precision: str
    threads: int
    machine_id: str
    arm: str = ""  # "" for an ordinary run, "base" | "new" for an arm of an `effbench ab` document

    def title(self) -> str:
        plural = "" if self.threads == 1 else "s"
        arm = f" · A/B {self.arm}" if self.arm else ""
        return (
            f"{self.model} · {self.backend} · {self.precision} · {self.threads} thread{plural} · {self.machine_id}{arm}"
        )


@dataclass(frozen=True)
class SeriesPoint:
    """One cell of one run, with what the run recorded about its context."""

    key: SeriesKey
    run_id: str
    created: str  # ISO 8601, UTC
    path: str
    run_status: str | None
    label: str | None
    commit_under_test: str | None
    effbench_version: str | None
    effbench_commit: str | None
    machine_fingerprint: str
    environment: dict[str, Any]
    runtimes: dict[str, Any]
    cell_index: int
    status: str
    model_fingerprint: str | None
    artifact_sha256: str | None
    effective_precision: str
    cpus: tuple[int, ...]
    median_ms: float | None
    ci_low_ms: float | None
    ci_high_ms: float | None
    p90_ms: float | None
    n_samples: int
    n_processes: int
    versions: dict[str, Any] = field(default_factory=dict)

    @property
    def run_name(self) -> str:
        """How a run is named in tables: its label, else the commit under test, else its time."""
        if self.label:
            return self.label
        if self.commit_under_test:
            return self.commit_under_test[:12]
        return self.created[:16].replace("T", " ")

    @property
    def measured(self) -> bool:
        return self.status == "ok" and self.median_ms is not None and self.median_ms > 0


@dataclass(frozen=True)
class SeriesFilter:
    model: str | None = None  # canonical names (see resolve_filter)
    backend: str | None = None
    precision: str | None = None
    threads: int | None = None
    machine: str | None = None  # a machine id or the start of one
    since: str | None = None  # ISO 8601 UTC: runs created at or after
    arm: str | None = None  # "base" | "new": that arm of A/B documents; "none": ordinary runs only; None: all


# --arm: an arm of `effbench ab` documents, or "none" for the cells of every other document.
ARM_CHOICES = ("base", "new", "none")


def parse_since(text: str) -> str:
    """A date (2026-11-01) or ISO time as an ISO 8601 UTC string; EffbenchError otherwise."""
    try:
        when = _dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise EffbenchError(
            f"invalid --since {text!r}: give a date or time, e.g. 2026-11-01 or 2026-11-01T12:00"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return when.astimezone(_dt.UTC).isoformat(timespec="seconds")


def _distinct(conn: sqlite3.Connection, column: str) -> list[str]:
    table = "runs" if column == "machine_id" else "cells"
    return [str(r[0]) for r in conn.execute(f"SELECT DISTINCT {column} FROM {table} ORDER BY 1")]


def _known(values: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(values[:limit])
    return (shown + ", …") if len(values) > limit else (shown or "none")


def resolve_filter(
    conn: sqlite3.Connection,
    *,
    model: str | None = None,
    backend: str | None = None,
    precision: str | None = None,
    threads: int | None = None,
    machine: str | None = None,
    since: str | None = None,
    arm: str | None = None,
) -> SeriesFilter:
    """A filter from user input: models through bench.zoo (b1 → efficientnet_b1), backend aliases (ort →
    onnxruntime), a date for `since`; a name the history does not hold is an error listing those it does."""
    if threads is not None and threads < 1:
        raise EffbenchError(f"invalid --threads {threads}: give a positive number")
    if model is not None:
        models = _distinct(conn, "model")
        if model not in models:
            from bench.zoo import resolve_model

            try:
                model = resolve_model(model).name
            except EffbenchError:
                raise EffbenchError(f"model '{model}' is not in the history; models there: {_known(models)}") from None
            if model not in models:
                raise EffbenchError(f"no runs of {model} in the history; models there: {_known(models)}")
    if backend is not None:
        backends = _distinct(conn, "backend")
        if backend not in backends:
            from bench.backends import canonical_name

            try:
                backend = canonical_name(backend)
            except EffbenchError:
                raise EffbenchError(f"backend '{backend}' is not in the history; there: {_known(backends)}") from None
            if backend not in backends:
                raise EffbenchError(f"no runs on {backend} in the history; backends there: {_known(backends)}")
    if machine is not None:
        machines = _distinct(conn, "machine_id")
        if not any(m.startswith(machine) for m in machines):
            raise EffbenchError(f"machine '{machine}' is not in the history; machines there: {_known(machines)}")
    if arm is not None and arm not in ARM_CHOICES:
        raise EffbenchError(f"invalid --arm {arm!r}: give {', '.join(ARM_CHOICES[:-1])} or {ARM_CHOICES[-1]}")
    return SeriesFilter(model, backend, precision, threads, machine, parse_since(since) if since else None, arm)


_SELECT = """
SELECT c.model, c.backend, c.precision, c.threads, r.machine_id, r.run_id, r.created, r.path, r.status, r.label,
       r.commit_under_test, r.effbench_version, r.effbench_commit, r.machine_fingerprint, r.environment,
       r.runtimes, c.cell_index, c.status, c.model_fingerprint, c.artifact_sha256, c.effective_precision, c.cpus,
       c.median_ms, c.ci_low_ms, c.ci_high_ms, c.p90_ms, c.n_samples, c.n_processes, c.versions, c.arm
FROM cells AS c JOIN runs AS r ON r.run_id = c.run_id
"""


def query_points(conn: sqlite3.Connection, flt: SeriesFilter) -> list[SeriesPoint]:
    """Every cell matching `flt`, ordered by series, then run time (then run id, so ties are stable)."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("c.model", flt.model), ("c.backend", flt.backend), ("c.precision", flt.precision),
                          ("c.threads", flt.threads)):  # fmt: skip
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if flt.machine is not None:
        where.append("substr(r.machine_id, 1, ?) = ?")
        params.extend([len(flt.machine), flt.machine])
    if flt.since is not None:
        where.append("r.created >= ?")
        params.append(flt.since)
    if flt.arm == "none":
        where.append("c.arm IS NULL")
    elif flt.arm is not None:
        where.append("c.arm = ?")
        params.append(flt.arm)
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
    sql += (
        " ORDER BY c.model, c.backend, c.precision, c.threads, r.machine_id, coalesce(c.arm, ''), r.created, "
        "r.run_id, c.cell_index"
    )
    points = []
    for row in conn.execute(sql, params):
        key = SeriesKey(str(row[0]), str(row[1]), str(row[2]), int(row[3] or 0), str(row[4]), row[29] or "")
        points.append(
            SeriesPoint(
                key,
                run_id=str(row[5]),
                created=str(row[6]),
                path=str(row[7]),
                run_status=row[8],
                label=row[9],
                commit_under_test=row[10],
                effbench_version=row[11],
                effbench_commit=row[12],
                machine_fingerprint=str(row[13]),
                environment=json.loads(row[14]),
                runtimes=json.loads(row[15]),
                cell_index=int(row[16]),
                status=str(row[17]),
                model_fingerprint=row[18],
                artifact_sha256=row[19],
                effective_precision=str(row[20]),
                cpus=tuple(json.loads(row[21])),
                median_ms=row[22],
                ci_low_ms=row[23],
                ci_high_ms=row[24],
                p90_ms=row[25],
                n_samples=int(row[26]),
                n_processes=int(row[27]),
                versions=json.loads(row[28]),
            )
        )
    return points


def group_series(points: Sequence[SeriesPoint], last: int | None = None) -> dict[SeriesKey, list[SeriesPoint]]:
    """Points per series in time order, one per run (a run that measured the same cell twice gives its first);
    with `last`, only each series' last N runs."""
    series: dict[SeriesKey, list[SeriesPoint]] = {}
    seen: set[tuple[SeriesKey, str]] = set()
    for point in points:
        if (point.key, point.run_id) in seen:
            continue
        seen.add((point.key, point.run_id))
        series.setdefault(point.key, []).append(point)
    if last is not None:
        series = {key: runs[-last:] for key, runs in series.items()}
    return dict(sorted(series.items()))
