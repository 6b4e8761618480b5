"""Result history: an SQLite index of every result document, series per machine and cell, change points.

    from bench.history import index_documents, open_database, resolve_filter, query_points, group_series
    report = index_documents(Path("results/history.sqlite"), [Path("results")])   # incremental
    conn = open_database(Path("results/history.sqlite"))
    series = group_series(query_points(conn, resolve_filter(conn, model="b1", backend="ort")))
    series, unplaced = order_by_commit(series, read_commit_order())   # optional: git history order
    changes = find_changes(series)                      # [Change(key, before, after, step, p_value, context)]
    plot_series(series, changes, Path("trend.svg"))

The mapping from a result document to rows lives in bench.history.rows alone. No heavy import at package
import: numpy/scipy load on the first detection, matplotlib on the first plot.
"""

from bench.history.changepoint import ChangePoint, StepSize, detect_change_points, step_size
from bench.history.changes import Change, find_changes, series_changes, what_changed
from bench.history.db import (
    SCHEMA_VERSION,
    IndexReport,
    default_db_path,
    dump_database,
    find_documents,
    index_documents,
    insert_document,
    open_database,
)
from bench.history.order import CommitOrder, order_by_commit, read_commit_order
from bench.history.plot import plot_series
from bench.history.query import (
    SeriesFilter,
    SeriesKey,
    SeriesPoint,
    group_series,
    parse_since,
    query_points,
    resolve_filter,
)
from bench.history.rows import CellRow, DocumentRows, ProcessRow, RunRow, document_rows, read_document

__all__ = [
    "SCHEMA_VERSION",
    "CellRow",
    "Change",
    "ChangePoint",
    "CommitOrder",
    "DocumentRows",
    "IndexReport",
    "ProcessRow",
    "RunRow",
    "SeriesFilter",
    "SeriesKey",
    "SeriesPoint",
    "StepSize",
    "default_db_path",
    "detect_change_points",
    "document_rows",
    "dump_database",
    "find_changes",
    "find_documents",
    "group_series",
    "index_documents",
    "insert_document",
    "open_database",
    "order_by_commit",
    "parse_since",
    "plot_series",
    "query_points",
    "read_commit_order",
    "read_document",
    "resolve_filter",
    "series_changes",
    "step_size",
    "what_changed",
]
