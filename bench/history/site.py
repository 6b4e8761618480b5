"""`effbench history publish`: the history as a static site that opens from file:// with no server and no network.

    report = publish_site(Path("results/history.sqlite"), Path("site"))   # SiteReport(folder, series, …)

index.html lists every series (machine × model × backend × precision × threads, and A/B arm) with its latest median,
a sparkline and its last change point, filtered by machine, model and runtime; series/<slug>.html draws its trend
(matplotlib SVG, inline) with each run's CI and the change points, says what changed at each and links every run's
result document; regressions.html and regressions.atom list the slowdowns above the threshold, newest first
(bench.history.site_pages renders them, bench.history.site_plots draws). Every figure a page shows is in the page:
browsers refuse a page's fetch of local files under file://. The one stylesheet and script are files beside the
pages. The same database gives the same bytes: no page says when it was made.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from bench.errors import EffbenchError
from bench.fsio import make_staging_dir
from bench.history.changes import Change, find_changes
from bench.history.db import open_database
from bench.history.query import SeriesFilter, SeriesKey, SeriesPoint, group_series, query_points

ASSETS = ("effbench.css", "effbench.js")  # package data in bench/history/assets/, copied into every site
# A published folder holds this file, so publishing again may replace the folder; any other non-empty folder is
# the user's, and publish refuses to touch it.
SITE_MARKER = ".effbench-site"


@dataclass(frozen=True)
class SeriesView:
    """One series as the site shows it."""

    key: SeriesKey
    slug: str  # its page is series/<slug>.html
    points: tuple[SeriesPoint, ...]  # every run, in time order
    changes: tuple[Change, ...]  # oldest first

    @property
    def measured(self) -> list[SeriesPoint]:
        return [p for p in self.points if p.measured]


@dataclass(frozen=True)
class SiteReport:
    """What a publish wrote."""

    folder: Path
    series: int
    runs: int
    regressions: int
    files: int
    size_bytes: int


def _slug(key: SeriesKey) -> str:
    parts = [key.model, key.backend, key.precision, f"t{key.threads}", key.machine_id, key.arm]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(p for p in parts if p)).strip("-.") or "series"


def series_views(series: Mapping[SeriesKey, Sequence[SeriesPoint]]) -> list[SeriesView]:
    """Each series with a page name of its own and its change points (found on the whole series)."""
    changes: dict[SeriesKey, list[Change]] = {}
    for change in find_changes(series):
        changes.setdefault(change.key, []).append(change)
    views, taken = [], set()
    for key, points in series.items():
        slug = base = _slug(key)
        n = 1
        while slug.lower() in taken:  # names that differ only in case or punctuation (case-blind filesystems)
            n += 1
            slug = f"{base}-{n}"
        taken.add(slug.lower())
        views.append(SeriesView(key, slug, tuple(points), tuple(changes.get(key, ()))))
    return views


def document_links(views: Sequence[SeriesView], db_path: Path, out_dir: Path) -> dict[str, str]:
    """run id -> the link from the site's folder to its result document (the database stores each path relative to
    its own folder): relative, so the site and the results can move together."""
    base = Path(os.path.abspath(db_path)).parent
    site = os.path.abspath(out_dir)
    links = {}
    for point in (p for view in views for p in view.points):
        target = os.path.normpath(base / point.path)
        links[point.run_id] = quote(Path(os.path.relpath(target, site)).as_posix())
    return links


def render_site(
    views: Sequence[SeriesView], links: Mapping[str, str], threshold: float, feed_id: str
) -> dict[str, str]:
    """Every text file of the site, by its path inside the site's folder."""
    from bench.history.site_pages import atom_feed, index_page, regressions_page, series_page

    slow = [(c, v) for v in views for c in v.changes if c.is_slowdown(threshold)]
    slow.sort(key=lambda item: (item[0].after.created, item[1].slug), reverse=True)
    newest = max((p.created for v in views for p in v.points), default="1970-01-01T00:00:00+00:00")
    files = {
        "index.html": index_page(views, threshold, len(slow)),
        "regressions.html": regressions_page(slow, threshold, sum(len(v.changes) for v in views)),
        "regressions.atom": atom_feed(slow, feed_id, slow[0][0].after.created if slow else newest),
    }
    for view in views:
        files[f"series/{view.slug}.html"] = series_page(view, threshold, links)
    for name in ASSETS:
        files[name] = resources.files("bench.history").joinpath("assets", name).read_text(encoding="utf-8")
    files[SITE_MARKER] = "A site written by `effbench history publish`, which replaces this folder when run again.\n"
    return files


def _write_site(out_dir: Path, files: Mapping[str, str]) -> int:
    """Write the site into a staging folder beside `out_dir`, then swap it in: a reader sees the old site or the
    new one, never a mix. Returns the bytes written."""
    if out_dir.exists() and (
        not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / SITE_MARKER).is_file())
    ):
        raise EffbenchError(
            f"{out_dir} exists and is not a site effbench published: give a new or empty folder (publish replaces "
            "only a folder it wrote itself)"
        )
    try:
        staging = make_staging_dir(out_dir.parent, f".{out_dir.name}.")
    except OSError as exc:
        raise EffbenchError(f"cannot write the site into {out_dir}: {exc.strerror or exc}") from None
    try:
        size = 0
        for name, text in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            size += path.write_bytes(text.encode("utf-8"))
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f"{staging.name}.old")
            out_dir.rename(old)
        staging.rename(out_dir)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise EffbenchError(f"cannot write the site into {out_dir}: {exc.strerror or exc}") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return size


def publish_site(db_path: Path, out_dir: Path, *, threshold: float = 0.05) -> SiteReport:
    """Write the site of the history at `db_path` into `out_dir` (created, or replaced if publish wrote it).
    Regressions are change points slower by more than `threshold` (0.05 = 5%), as `history changes` counts them."""
    db_path, out_dir = Path(db_path), Path(out_dir)
    conn = open_database(db_path)
    try:
        series = group_series(query_points(conn, SeriesFilter()))
    finally:
        conn.close()
    if not series:
        raise EffbenchError(f"the history {db_path} holds no runs: add result documents with 'effbench history index'")
    views = series_views(series)
    feed_id = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'effbench-history:{os.path.abspath(db_path)}')}"
    files = render_site(views, document_links(views, db_path, out_dir), threshold, feed_id)
    size = _write_site(out_dir, files)
    regressions = sum(1 for v in views for c in v.changes if c.is_slowdown(threshold))
    runs = len({p.run_id for v in views for p in v.points})
    return SiteReport(out_dir, len(views), runs, regressions, len(files), size)
