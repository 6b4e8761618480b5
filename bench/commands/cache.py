"""`effbench cache list|prune`: the artifact cache's entries, whether this code still hits them, and pruning."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from bench.commands.options import add_cache_dir, add_format, cache_dir
from bench.views.console import print_rows
from bench.views.format import format_size
from bench.views.tables import Column

if TYPE_CHECKING:
    from bench.export.inventory import CacheInventory

COLUMNS = (
    Column("folder", "entry", align="left"),
    Column("model", "model", align="left"),
    Column("size", "size"),
    Column("age", "age"),
    Column("current", "still hit by this code?", align="left"),
)


def format_age(seconds: float) -> str:
    """A rough age: 40 s, 12 min, 5 h, 3 d."""
    seconds = max(seconds, 0.0)
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds / length:.0f} {unit}"
    return f"{seconds:.0f} s"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _answer(status: str, why: str) -> str:
    words = {"current": "yes", "stale": "no", "broken": "no", "unknown": "unknown"}[status]
    return f"{words} ({status}: {why})" if why else words


def _inventory_json(inventory: CacheInventory) -> dict[str, Any]:
    return {
        "cache_dir": str(inventory.cache_dir),
        "entries": [
            {
                "folder": e.folder,
                "model": e.model,
                "source": e.source,
                "size_bytes": e.size,
                "age_s": round(e.age_s, 1),
                "status": e.status,
                "why": e.why,
            }
            for e in inventory.entries
        ],
        "leftovers": [
            {"folder": s.folder, "entry": s.entry, "size_bytes": s.size, "age_s": round(s.age_s, 1), "stale": s.stale}
            for s in inventory.leftovers
        ],
    }


def run_cache_list(args: argparse.Namespace) -> int:
    """List the cache's entries (model, size, age, whether this code still hits them) and staging leftovers."""
    from bench.export.inventory import PRUNABLE, inspect_cache

    inventory = inspect_cache(cache_dir(args))
    if args.format == "json":
        print(json.dumps(_inventory_json(inventory), indent=2))
        return 0
    if not inventory.entries and not inventory.leftovers:
        print(f"no entries in {inventory.cache_dir}")
        return 0
    rows: list[dict[str, Any]] = [
        {
            "folder": e.folder,
            "model": e.model or "?",
            "size": format_size(e.size),
            "age": format_age(e.age_s),
            "current": _answer(e.status, e.why),
        }
        for e in inventory.entries
    ]
    if rows:
        print_rows(rows, COLUMNS, "table", title=f"effbench cache {inventory.cache_dir}")
    for s in inventory.leftovers:
        state = "left by a killed export" if s.stale else "recent: an export may be writing it"
        print(f"staging folder {s.folder} ({format_size(s.size)}, {format_age(s.age_s)} old): {state}")
    prunable = [e for e in inventory.entries if e.status in PRUNABLE]
    stale_leftovers = [s for s in inventory.leftovers if s.stale]
    total = sum(e.size for e in inventory.entries)
    summary = f"{_count(len(inventory.entries), 'entry', 'entries')}, {format_size(total)}"
    if prunable or stale_leftovers:
        freed = sum(e.size for e in prunable) + sum(s.size for s in stale_leftovers)
        summary += (
            f"; {len(prunable)} no longer hit and {_count(len(stale_leftovers), 'stale staging folder')}, "
            f"{format_size(freed)}: 'effbench cache prune' removes them"
        )
    print(summary)
    return 0


def run_cache_prune(args: argparse.Namespace) -> int:
    """Remove (or with --dry-run list) the entries this code no longer hits and stale staging folders."""
    from bench.export.inventory import inspect_cache, prune_cache

    inventory = inspect_cache(cache_dir(args))
    outcome = prune_cache(inventory, dry_run=args.dry_run)
    verb = "would remove" if outcome.dry_run else "removed"
    for folder, size, why in outcome.removed:
        print(f"{verb} {folder} ({format_size(size)}): {why}")
    for folder, why in outcome.skipped:
        print(f"skipped {folder}: {why}")
    if not outcome.removed and not outcome.skipped:
        entries = _count(len(inventory.entries), "entry", "entries")
        print(f"nothing to prune in {inventory.cache_dir} ({entries}, none stale)")
    else:
        freed = "would free" if outcome.dry_run else "freed"
        print(f"{freed} {format_size(outcome.freed)} in {inventory.cache_dir}")
    sys.stdout.flush()
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "cache",
        help="list the artifact cache's entries; prune those this code no longer hits",
        description="Every change to the model code, the export recipe or an installed runtime changes the "
        "fingerprint of the artifacts it produces, so older cache entries are never hit again. 'list' shows each "
        "entry and whether this code and the installed versions still produce it; 'prune' removes those they "
        "cannot, and staging folders left by killed exports.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    list_parser = actions.add_parser("list", help="each entry: model, size, age, whether it is still hit")
    add_format(list_parser, ("table", "json"), default="table")
    list_parser.set_defaults(func=run_cache_list)
    prune_parser = actions.add_parser(
        "prune",
        help="remove the entries this code no longer hits, and stale staging folders",
        description="Remove the entries the current code and installed versions can no longer hit, entry "
        "folders without a readable manifest, and staging folders older than an hour. Each removal takes the "
        "entry's lock, as an export does: an entry being exported is skipped.",
    )
    prune_parser.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    prune_parser.set_defaults(func=run_cache_prune)
    add_cache_dir(list_parser)
    add_cache_dir(prune_parser)
