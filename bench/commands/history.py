"""`effbench history index|show|changes|publish`: index result documents into SQLite, show a series, find its steps,
publish the history as a static site."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.commands.options import add_format, add_threads, command_config, parse_fraction
from bench.errors import EffbenchError
from bench.views.tables import FORMATS, format_markdown_table

# "term" is the terminal table, as the issue names it; "table" as in `effbench models`.
OUTPUT_FORMATS = ("term", *FORMATS)
ORDERS = ("time", "commit")  # bench.history.order.ORDERS, spelled here too: no history import at startup


def _db_path(args: argparse.Namespace) -> Path:
    return Path(args.db) if args.db else command_config(args).history_db


def _say_skipped(name: str, why: str) -> None:
    # load_result's messages already name the file; do not say it twice on the one line.
    print(f"effbench: skipped: {why}" if name in why else f"effbench: skipped {name}: {why}", file=sys.stderr)


def run_history(args: argparse.Namespace) -> int:
    """`effbench history` without a subcommand: its help, exit code 2."""
    args.history_parser.print_help()
    return 2


def run_history_index(args: argparse.Namespace) -> int:
    """Index the result documents under the given folders (default: bench.toml's results_dir) into the history."""
    from bench.history.db import index_documents

    sources = [Path(p) for p in args.results_dirs] or [command_config(args).results_dir]
    db = _db_path(args)
    report = index_documents(db, sources, rebuild=args.rebuild, on_skip=_say_skipped)
    print(
        f"{'rebuilt' if args.rebuild else 'indexed'} {db}: {len(report.added)} added, {len(report.replaced)} "
        f"replaced (saved again since), {report.unchanged} already indexed, {len(report.skipped)} skipped"
    )
    return 0


def _filter(conn: Any, args: argparse.Namespace, since: str | None = None) -> Any:
    from bench.history.query import resolve_filter

    return resolve_filter(
        conn,
        model=args.model,
        backend=args.backend,
        precision=args.precision,
        threads=args.threads,
        machine=args.machine,
        since=since,
        arm=args.arm,
    )


def _commit_order(args: argparse.Namespace) -> Any:
    """The git history of the current folder for --order commit (read before anything else: a folder without
    one fails at once), or None for --order time."""
    if args.order != "commit":
        return None
    from bench.history.order import read_commit_order

    return read_commit_order()


def _in_order(series: Any, commit_order: Any) -> Any:
    """The series as group_series gives them (time order), or in commit order with a note on the runs that
    have no place in the git history."""
    if commit_order is None:
        return series
    from bench.history.order import order_by_commit, unplaced_note

    ordered, unplaced = order_by_commit(series, commit_order)
    if unplaced:
        print(f"effbench: {unplaced_note(unplaced)}", file=sys.stderr)
    return ordered


def _render(rows: list[dict[str, Any]], columns: Any, fmt: str, title: str | None) -> None:
    from bench.views.console import print_rows

    if fmt == "md" and title:
        sys.stdout.write(f"\n**{title}**\n\n" + format_markdown_table(rows, columns))
    else:
        print_rows(rows, columns, "table" if fmt == "term" else fmt, title=title)


def run_history_show(args: argparse.Namespace) -> int:
    """Print each matching series run by run (--plot also draws it), with the change points marked."""
    from bench.history.changes import find_changes
    from bench.history.db import open_database
    from bench.history.query import group_series, query_points
    from bench.history.views import SERIES_COLUMNS, SERIES_CSV_COLUMNS, series_rows

    if args.last is not None and args.last < 1:
        raise EffbenchError(f"invalid --last {args.last}: give a positive number of runs")
    commit_order = _commit_order(args)
    conn = open_database(_db_path(args))
    try:
        series = _in_order(group_series(query_points(conn, _filter(conn, args))), commit_order)
    finally:
        conn.close()
    if not series:
        raise EffbenchError("no runs match these filters: drop --precision/--threads/--machine or index more results")
    # Changes are found on the whole series; --last only trims what is shown.
    changes = find_changes(series)
    changes_at = {(c.key, c.after.run_id): c for c in changes}
    shown = {key: points[-args.last :] if args.last else points for key, points in series.items()}
    if args.format in ("csv", "json"):
        rows = [row for key, points in shown.items() for row in series_rows(key, points, changes_at)]
        _render(rows, SERIES_CSV_COLUMNS, args.format, None)
    else:
        for key, points in shown.items():
            _render(series_rows(key, points, changes_at), SERIES_COLUMNS, args.format, key.title())
    if args.plot:
        from bench.history.plot import plot_series

        marked = [c for c in changes if any(p.run_id == c.after.run_id for p in shown[c.key])]
        written = plot_series(shown, marked, Path(args.plot), commit_order)
        print(f"plot written to {written}", file=sys.stderr)
    return 0


def run_history_changes(args: argparse.Namespace) -> int:
    """Print the change points of every matching series; exit code 1 on a slowdown above --threshold."""
    from bench.history.changes import find_changes
    from bench.history.db import open_database
    from bench.history.query import group_series, parse_since, query_points
    from bench.history.views import CHANGE_COLUMNS, CHANGE_CSV_COLUMNS, change_rows, change_text

    threshold = parse_fraction(args.threshold, "--threshold", below=10.0)
    since = parse_since(args.since) if args.since else None
    commit_order = _commit_order(args)
    conn = open_database(_db_path(args))
    try:
        series = _in_order(group_series(query_points(conn, _filter(conn, args))), commit_order)
    finally:
        conn.close()
    if not series:
        raise EffbenchError("no runs match these filters: drop a filter or index more results")
    changes = find_changes(series, since=since)
    rows = change_rows(changes, threshold)
    slowdowns = [c for c in changes if c.is_slowdown(threshold)]
    if args.format in ("csv", "json"):
        _render(rows, CHANGE_CSV_COLUMNS, args.format, None)
    elif args.format == "md":
        if rows:
            _render(rows, CHANGE_COLUMNS, args.format, f"changes in {len(series)} series")
    else:
        sys.stdout.write("".join(change_text(change, threshold) for change in changes))
    runs = sum(len(points) for points in series.values())
    print(
        f"{len(changes)} change(s) in {len(series)} series ({runs} runs){' since ' + since if since else ''}; "
        f"{len(slowdowns)} slowdown(s) above {threshold:.1%}",
        file=sys.stderr,
    )
    return 1 if slowdowns else 0


def run_history_publish(args: argparse.Namespace) -> int:
    """Write the history's static site into OUT_DIR (bench.history.site) and say where to open it."""
    from bench.history.site import publish_site
    from bench.views.format import format_size

    report = publish_site(
        _db_path(args), Path(args.out_dir), threshold=parse_fraction(args.threshold, "--threshold", below=10.0)
    )
    print(
        f"published {report.series} series from {report.runs} runs ({report.regressions} regression(s) above "
        f"{args.threshold}) to {report.folder}: {report.files} files, {format_size(report.size_bytes)}; open "
        f"{(report.folder / 'index.html').resolve().as_uri()}"
    )
    return 0


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="history database (default: bench.toml's [paths] history_db, results/history.sqlite)",
    )


def _add_filters(parser: argparse.ArgumentParser, model_required: bool) -> None:
    parser.add_argument("--model", "-m", required=model_required, help="model name or alias (b1 = efficientnet_b1)")
    parser.add_argument("--backend", "-b", help="torch, onnxruntime (ort), openvino (ov)")
    parser.add_argument("--precision", help="requested precision, e.g. fp32 or bf16")
    add_threads(parser, help="threads per runtime")
    parser.add_argument("--machine", metavar="ID", help="machine id, or the start of one (effbench system shows it)")
    parser.add_argument(
        "--arm",
        metavar="base|new|none",  # checked by bench.history.query.resolve_filter: no history import at startup
        help="only that arm of `effbench ab` documents, or none: only other runs (default: all, an arm's runs "
        "forming series of their own)",
    )
    parser.add_argument(
        "--order",
        choices=ORDERS,
        default="time",
        help="order each series by run time, or by the commit under test's place in the git history of the "
        "current folder (runs of one commit in time order; runs of other commits last)",
    )
    add_format(parser, OUTPUT_FORMATS, default="term")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "history",
        help="index results into SQLite; show a series; find its changes; publish a site",
        description="A history of every result document in an SQLite file (default results/history.sqlite): "
        "the JSON documents stay the source of truth and the index can be rebuilt from them at any time.",
    )
    sub = parser.add_subparsers(dest="history_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=run_history, history_parser=parser)

    index = sub.add_parser(
        "index",
        help="add new result documents to the history",
        description="Add the result documents under RESULTS_DIR (default: results/) to the history: documents "
        "already there (same sha256) are skipped without being read, a broken or newer-format one is reported "
        "on stderr and skipped, each document goes in whole or not at all.",
    )
    index.add_argument("results_dirs", nargs="*", metavar="RESULTS_DIR", help="folders (searched recursively) or files")
    index.add_argument("--rebuild", action="store_true", help="empty the history and index everything again")
    _add_common(index)
    index.set_defaults(func=run_history_index)

    show = sub.add_parser(
        "show",
        help="one row per run of a model's series, with its CI; --plot draws it",
        description="The runs of each series (model, backend, precision, threads, machine, A/B arm) in time "
        "order, or in commit order (--order commit): median "
        "and 95% CI, processes, runtime versions, and the change points `history changes` finds.",
    )
    _add_filters(show, model_required=True)
    show.add_argument("--last", type=int, metavar="N", help="only the last N runs of each series")
    show.add_argument("--plot", metavar="FILE", help="also draw the series into FILE (.svg or .png)")
    _add_common(show)
    show.set_defaults(func=run_history_show)

    changes = sub.add_parser(
        "changes",
        help="steps in the series (exit code 1 on a slowdown above --threshold)",
        description="Change points of every series (binary segmentation with a permutation test on the per-run "
        "medians), with the step's size and 95% CI and what else changed between the runs on either side. "
        "Exit code 1 when a slowdown larger than --threshold is found, 0 otherwise, 2 on bad input.",
    )
    _add_filters(changes, model_required=False)
    changes.add_argument("--since", metavar="DATE", help="only changes whose first new run is at or after DATE")
    changes.add_argument("--threshold", default="5%", help="slowdown that fails the command (default: 5%%)")
    _add_common(changes)
    changes.set_defaults(func=run_history_changes)

    publish = sub.add_parser(
        "publish",
        help="write a static site of the history (opens from file://, no server)",
        description="Write OUT_DIR/index.html (every series with its latest median, trend and last change point, "
        "filtered by machine, model and runtime), a page per series (trend with each run's CI, change points and "
        "what changed, links to the result documents), regressions.html and its Atom feed regressions.atom. The "
        "pages need no server and no network. OUT_DIR must be new, empty, or a site publish wrote before (replaced "
        "whole).",
    )
    publish.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the site into")
    publish.add_argument("--threshold", default="5%", help="slowdown listed as a regression (default: 5%%)")
    _add_common(publish)
    publish.set_defaults(func=run_history_publish)
