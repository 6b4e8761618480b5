"""The history database (SQLite, standard library): its versioned schema, opening and upgrading it, and
indexing result documents into it incrementally, safely beside other indexers and readers.

The database is an index, never a source of truth: every row comes from a result document and
`index --rebuild` makes it again from the documents with the same content (dump_database is equal).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from bench.config import HISTORY_DB_NAME as DB_NAME
from bench.errors import EffbenchError
from bench.formats import Format, upgrade_steps
from bench.fsio import TEMP_PREFIX
from bench.history.rows import CellRow, DocumentRows, ProcessRow, RunRow, file_sha256, read_document

# Schema history (bump SCHEMA_VERSION and add an upgrade function to _UPGRADES for each change; the version is
# SQLite's PRAGMA user_version):
#
# 1 - (effbench 0.1.0) first version: runs (one per result document, keyed by effbench.run_id), cells,
#     processes; JSON-valued columns hold canonical JSON text.
# 2 - (effbench 0.2.0) cells.arm: "base" | "new" for a cell of an `effbench ab` document (result format 2),
#     NULL for any other; the arm is part of a series' key (bench.history.query.SeriesKey). The upgrade adds
#     the column as NULL: every effbench that wrote schema 1 predates `effbench ab`, the only writer of arms,
#     so none of the cells it indexed was one.
SCHEMA_VERSION = 2


# Upgrades of older databases, keyed by the version they read: _UPGRADES[n] turns a version-n database into a
# version-(n + 1) one inside the caller's transaction. A database without an upgrade step can always be made
# again from the documents with `effbench history index --rebuild`.
def _add_arm_column(conn: sqlite3.Connection) -> None:
    # SQLite writes the new column right after the last one in the stored CREATE TABLE text, where _SCHEMA has
    # it: an upgraded database and a new one have the same schema and dump_database text.
    conn.execute("ALTER TABLE cells ADD COLUMN arm TEXT")


_UPGRADES: dict[int, Callable[[sqlite3.Connection], None]] = {1: _add_arm_column}
# The schema version follows the rule of every versioned file (bench.formats): a newer one is refused, an older
# one is upgraded one step at a time. Version 0 is SQLite's default: an empty file, or someone else's database.
HISTORY_SCHEMA = Format(
    name=None,
    version=SCHEMA_VERSION,
    title="effbench history database",
    label="history schema",
    fix="make it again with 'effbench history index --rebuild'",
    upgrades=_UPGRADES,
    version_key="user_version",
    newer="upgrade effbench, or pass another --db, or make it again with 'effbench history index --rebuild'",
)

# WITHOUT ROWID tables are stored in primary-key order, so a database built incrementally and one rebuilt from
# scratch hold their rows in the same order, not in the order documents happened to arrive.
_SCHEMA = (
    """CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, path TEXT NOT NULL, created TEXT NOT NULL,
    status TEXT, effbench_version TEXT, effbench_commit TEXT, effbench_dirty INTEGER,
    commit_under_test TEXT, label TEXT, suite TEXT, machine_id TEXT NOT NULL, machine_fingerprint TEXT NOT NULL,
    environment TEXT NOT NULL, runtimes TEXT NOT NULL, warnings TEXT NOT NULL
) WITHOUT ROWID""",
    "CREATE INDEX runs_by_machine ON runs (machine_id, created)",
    """CREATE TABLE cells (
    run_id TEXT NOT NULL REFERENCES runs (run_id), cell_index INTEGER NOT NULL, model TEXT NOT NULL,
    model_fingerprint TEXT, artifact_format TEXT, artifact_sha256 TEXT, backend TEXT NOT NULL,
    precision TEXT NOT NULL, effective_precision TEXT NOT NULL, threads INTEGER, cpus TEXT NOT NULL,
    status TEXT NOT NULL, median_ms REAL, ci_low_ms REAL, ci_high_ms REAL, p90_ms REAL,
    n_samples INTEGER NOT NULL, n_processes INTEGER NOT NULL, versions TEXT NOT NULL, warnings TEXT NOT NULL,
    arm TEXT,
    PRIMARY KEY (run_id, cell_index)
) WITHOUT ROWID""",
    "CREATE INDEX cells_by_series ON cells (model, backend, precision, threads)",
    """CREATE TABLE processes (
    run_id TEXT NOT NULL REFERENCES runs (run_id), cell_index INTEGER NOT NULL, process_index INTEGER NOT NULL,
    ok INTEGER NOT NULL, median_ms REAL, p90_ms REAL, n_samples INTEGER NOT NULL, warnings TEXT NOT NULL,
    PRIMARY KEY (run_id, cell_index, process_index)
) WITHOUT ROWID""",
)
TABLES = ("runs", "cells", "processes")
_KEYS = {"runs": "run_id", "cells": "run_id, cell_index", "processes": "run_id, cell_index, process_index"}

# How long a writer waits for another one's transaction (one document: milliseconds; a rebuild of thousands:
# seconds) before giving up with a message instead of failing on the first "database is locked".
BUSY_TIMEOUT_S = 60.0


def default_db_path(results_dir: Path) -> Path:
    """results/history.sqlite: beside the documents it indexes (ignored by git); bench.toml's [paths] history_db
    (bench.config.Config.history_db) chooses another."""
    return Path(results_dir) / DB_NAME


def _columns(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def _insert_sql(table: str, names: Sequence[str], prefix: str = "INSERT") -> str:
    return f"{prefix} INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"


_COLUMNS = {cls: tuple(_columns(cls)) for cls in (RunRow, CellRow, ProcessRow)}


def _values(row: RunRow | CellRow | ProcessRow) -> tuple[object, ...]:
    # Not dataclasses.astuple: it deep-copies every value, a third of the indexing time on 1,000 documents.
    return tuple(getattr(row, name) for name in _COLUMNS[type(row)])


_RUN_SQL = _insert_sql("runs", _columns(RunRow), "INSERT OR IGNORE")
_CELL_SQL = _insert_sql("cells", ["run_id", *_columns(CellRow)])
_PROCESS_SQL = _insert_sql("processes", ["run_id", *_columns(ProcessRow)])


def _locked(path: Path, exc: sqlite3.Error) -> EffbenchError:
    if "locked" in str(exc) or "busy" in str(exc):
        return EffbenchError(
            f"the history database {path} stayed locked by another writer for {BUSY_TIMEOUT_S:.0f} s: "
            "retry when the other 'effbench history index' has finished"
        )
    return EffbenchError(f"history database {path}: {exc}; rebuild it with 'effbench history index --rebuild'")


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _user_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return sorted(str(r[0]) for r in rows)


def _create_schema(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _drop_everything(conn: sqlite3.Connection) -> None:
    for name in _user_tables(conn):  # a list, not a live cursor: SQLite refuses DROP under an open SELECT
        conn.execute(f'DROP TABLE IF EXISTS "{name}"')  # drops the table's indexes too
    conn.execute("PRAGMA user_version = 0")


def _check_and_upgrade(conn: sqlite3.Connection, path: Path, create: bool) -> None:
    """Create the schema in an empty database, upgrade an older one, refuse a newer one (inside a write lock)."""
    version = _user_version(conn)
    if version == SCHEMA_VERSION:
        return
    if version == 0:
        if _user_tables(conn):
            raise EffbenchError(
                f"{path} is an SQLite database but not an effbench history: pass another --db "
                "(or make it one with 'effbench history index --rebuild')"
            )
        if not create:
            raise EffbenchError(f"{path} holds no history yet: build it with 'effbench history index'")
        _create_schema(conn)
        return
    for step in upgrade_steps(HISTORY_SCHEMA, version, str(path)):  # refuses a newer schema
        step(conn)
        version += 1
        conn.execute(f"PRAGMA user_version = {version}")


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL, once. The switch needs the file to itself and SQLite may answer "locked" at once,
    without waiting out busy_timeout, when a second indexer opens a new file at the same moment: retry then."""
    import time

    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def open_database(path: Path, *, create: bool = False, rebuild: bool = False) -> sqlite3.Connection:
    """A connection to the history at `path`, its schema current (created when `create`, emptied and created
    again when `rebuild`, which the caller must commit). EffbenchError for a missing, foreign or newer file.

    The connection is in autocommit mode: writers open their own `BEGIN IMMEDIATE` transactions, so two
    indexers never both read "not indexed yet" and then both insert.
    """
    path = Path(path)
    if not create and not rebuild and not path.is_file():
        raise EffbenchError(f"no history database at {path}: build it with 'effbench history index' (or pass --db)")
    if path.is_dir():
        raise EffbenchError(f"{path} is a folder: --db takes a database file, e.g. {default_db_path(path)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise EffbenchError(f"cannot open the history database {path}: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        # WAL: readers never wait for an indexer, and a commit costs no fsync of the main file. The index can
        # always be rebuilt, so synchronous=NORMAL (a power cut may lose the last commits, never corrupt) is enough.
        if create or rebuild:  # the journal mode is stored in the file: readers leave it alone
            _use_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
        if rebuild:
            conn.execute("BEGIN IMMEDIATE")
            _drop_everything(conn)
            _create_schema(conn)
        elif _user_version(conn) != SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                _check_and_upgrade(conn, path, create)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        if "not a database" in str(exc) or "malformed" in str(exc):
            raise EffbenchError(
                f"{path} is not an SQLite database: pass another --db, or remove the file (the history is made "
                "again from the result documents)"
            ) from None
        raise _locked(path, exc) from None
    except BaseException:
        conn.close()
        raise
    return conn


# ---------------------------------------------------------------------------------------------- indexing


@dataclass(frozen=True)
class IndexReport:
    """What one `index` did: documents added, replaced (the same run saved again), already there, skipped."""

    added: tuple[str, ...]
    replaced: tuple[str, ...]
    unchanged: int
    skipped: tuple[tuple[str, str], ...]  # (file, why)


def find_documents(sources: Iterable[Path]) -> list[Path]:
    """The result documents under `sources` (folders searched recursively, or files), sorted, each once.

    pyperf exports (*.pyperf.json) and effbench's own temporary files are not result documents and are left out.
    """
    found: dict[Path, Path] = {}
    for source in sources:
        source = Path(source)
        if source.is_file():
            candidates: Iterable[Path] = [source]
        elif source.is_dir():
            candidates = source.rglob("*.json")
        else:
            raise EffbenchError(f"{source} does not exist: pass a results folder (e.g. results/) or a .json result")
        for candidate in candidates:
            if candidate.name.endswith(".pyperf.json") or candidate.name.startswith(TEMP_PREFIX):
                continue
            if candidate.is_file():
                found.setdefault(candidate.resolve(), candidate)
    return [found[key] for key in sorted(found)]


def stored_path(document: Path, db_path: Path) -> str:
    """The path the database records: relative to the database's folder, so a moved checkout keeps its history."""
    return Path(os.path.relpath(Path(document).resolve(), Path(db_path).resolve().parent)).as_posix()


def insert_document(conn: sqlite3.Connection, rows: DocumentRows) -> str:
    """Insert one document's rows atomically: "added", "replaced", "unchanged", or "duplicate <path>".

    In a caller's transaction (rebuild) it uses a savepoint; otherwise its own BEGIN IMMEDIATE transaction.
    A run already indexed from the same path with other content (an in-progress document saved again by
    save_progress) is replaced; the same run from another path (a copy) is left as it is.
    """
    nested = conn.in_transaction
    conn.execute("SAVEPOINT document" if nested else "BEGIN IMMEDIATE")
    try:
        outcome = "added"
        run = rows.run
        existing = conn.execute(
            "SELECT sha256, path FROM runs WHERE run_id = ? OR sha256 = ?", (run.run_id, run.sha256)
        ).fetchone()
        if existing is not None:
            if existing[0] == run.sha256:
                outcome = "unchanged"
            elif existing[1] != run.path:
                outcome = f"duplicate {existing[1]}"
            else:
                for table in ("processes", "cells", "runs"):
                    conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run.run_id,))
                outcome = "replaced"
        if outcome in ("added", "replaced") and conn.execute(_RUN_SQL, _values(run)).rowcount == 1:
            conn.executemany(_CELL_SQL, [(run.run_id, *_values(cell)) for cell in rows.cells])
            conn.executemany(_PROCESS_SQL, [(run.run_id, *_values(p)) for p in rows.processes])
        elif outcome in ("added", "replaced"):
            outcome = "unchanged"  # another indexer got there first
    except BaseException:
        if nested:
            conn.execute("ROLLBACK TO document")
            conn.execute("RELEASE document")
        else:
            conn.execute("ROLLBACK")
        raise
    conn.execute("RELEASE document" if nested else "COMMIT")
    return outcome


def index_documents(
    db_path: Path,
    sources: Sequence[Path],
    *,
    rebuild: bool = False,
    on_skip: Callable[[str, str], None] | None = None,
) -> IndexReport:
    """Index the result documents under `sources` into the database at `db_path` (created if missing).

    Incremental: a file whose sha256 is already indexed is not even parsed. A broken, truncated, foreign or
    newer-format document found in a folder is reported through `on_skip(file, why)` and skipped, never
    half-inserted; one named as a file in `sources` is an EffbenchError (the documents before it stay indexed).
    With `rebuild` the database is emptied and filled again in one transaction: readers see the old history or
    the new one, never a part.
    """
    documents = find_documents(sources)
    named = {Path(source).resolve() for source in sources if Path(source).is_file()}
    conn = open_database(db_path, create=True, rebuild=rebuild)
    added: list[str] = []
    replaced: list[str] = []
    skipped: list[tuple[str, str]] = []
    unchanged = 0

    def skip(name: str, why: str) -> None:
        skipped.append((name, why))
        if on_skip is not None:
            on_skip(name, why)

    try:
        known = {str(r[0]) for r in conn.execute("SELECT sha256 FROM runs")}
        for document in documents:
            try:
                data = document.read_bytes()
            except OSError as exc:
                skip(str(document), f"cannot read it: {exc.strerror or exc}")
                continue
            if file_sha256(data) in known:
                unchanged += 1
                continue
            try:
                rows = read_document(document, stored_path(document, db_path), data)
            except EffbenchError as exc:
                if document.resolve() in named:
                    raise
                skip(str(document), str(exc))
                continue
            outcome = insert_document(conn, rows)
            if outcome == "added":
                added.append(str(document))
            elif outcome == "replaced":
                replaced.append(str(document))
            elif outcome == "unchanged":
                unchanged += 1
            else:
                skip(str(document), f"the same run (effbench.run_id {rows.run.run_id}) is indexed from "
                     f"{outcome.removeprefix('duplicate ')}")  # fmt: skip
            known.add(rows.run.sha256)
        if conn.in_transaction:
            conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise _locked(Path(db_path), exc) from None
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
    return IndexReport(tuple(added), tuple(replaced), unchanged, tuple(skipped))


def dump_database(conn: sqlite3.Connection) -> str:
    """The whole content as text, rows in primary-key order: equal for two builds from the same documents."""
    lines = [f"user_version {_user_version(conn)}"]
    for kind, name, sql in conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
    ):
        lines.append(f"{kind} {name}: {' '.join(str(sql).split())}")
    for table in _user_tables(conn):
        order = _KEYS.get(table, "1")
        for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}'):
            lines.append(f"{table} {row!r}")
    return "\n".join(lines) + "\n"
