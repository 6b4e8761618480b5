"""Trend plot of history series (matplotlib, imported only here): one line per series, its CI band, change
points marked; SVG output is byte-for-byte reproducible so a committed plot only changes when its data does."""

from __future__ import annotations

import datetime as _dt
import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bench.errors import EffbenchError
from bench.fsio import replace_file
from bench.history.changes import Change
from bench.history.query import SeriesKey, SeriesPoint

if TYPE_CHECKING:
    from bench.history.order import CommitOrder

PLOT_FORMATS = ("svg", "png")
MAX_COMMIT_TICKS = 12  # more short hashes than this under a 9-inch axis overlap


def _commit_axis(
    drawn: Mapping[SeriesKey, Sequence[SeriesPoint]], order: CommitOrder
) -> tuple[Callable[[SeriesPoint], float], list[float], list[str]]:
    """x of a run on a commit axis (its commit's place in the git history, so the gaps count the commits in
    between; runs the history lacks after the last one, in time order), and the tick positions and labels."""
    places = {p.commit_under_test: order.position(p.commit_under_test) for ps in drawn.values() for p in ps}
    last = max((x for x in places.values() if x is not None), default=-1)
    unplaced = sorted(
        {p.created + p.run_id for ps in drawn.values() for p in ps if places[p.commit_under_test] is None}
    )
    extra = {name: last + 1 + i for i, name in enumerate(unplaced)}

    def x_of(point: SeriesPoint) -> float:
        place = places[point.commit_under_test]
        return float(place if place is not None else extra[point.created + point.run_id])

    labelled = sorted({(x_of(p), (p.commit_under_test or "?")[:7]) for ps in drawn.values() for p in ps})
    step = max(1, -(-len(labelled) // MAX_COMMIT_TICKS))
    shown = labelled[::step]
    return x_of, [x for x, _ in shown], [label for _, label in shown]


def _series_label(key: SeriesKey, varying: set[str]) -> str:
    parts = [key.machine_id]
    if "model" in varying:
        parts.insert(0, key.model)
    if "backend" in varying:
        parts.append(key.backend)
    if "precision" in varying:
        parts.append(key.precision)
    if "threads" in varying:
        parts.append(f"{key.threads} thr.")
    if key.arm:
        parts.append(f"A/B {key.arm}")
    return " · ".join(parts)


def _title(keys: Sequence[SeriesKey], varying: set[str]) -> str:
    first = keys[0]
    parts = [value for name, value in (("model", first.model), ("backend", first.backend),
                                       ("precision", first.precision)) if name not in varying]  # fmt: skip
    if "threads" not in varying:
        parts.append(f"{first.threads} thread{'' if first.threads == 1 else 's'}")
    return " · ".join(parts) + ": median latency per run, 95% CI"


def plot_series(
    series: Mapping[SeriesKey, Sequence[SeriesPoint]],
    changes: Sequence[Change],
    path: Path,
    commit_order: CommitOrder | None = None,
) -> Path:
    """Draw `series` (measured runs only) with `changes` marked into `path` (.svg or .png); returns the path.
    The x axis is run time, or with `commit_order` the commit under test's place in the git history.

    The SVG has no date and fixed element ids (svg.hashsalt), so the same data gives the same bytes.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in PLOT_FORMATS:
        raise EffbenchError(f"cannot write a plot to {path}: give a file name ending in .svg or .png")
    drawn = {key: [p for p in points if p.measured] for key, points in series.items()}
    drawn = {key: points for key, points in drawn.items() if points}
    if not drawn:
        raise EffbenchError("nothing to plot: no run of the selected series has a measured median")

    import matplotlib
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figure state

    keys = list(drawn)
    if commit_order is not None:
        x_of, ticks, tick_labels = _commit_axis(drawn, commit_order)
    else:
        x_of = lambda p: float(date2num(_dt.datetime.fromisoformat(p.created)))  # noqa: E731
    varying = {name for name in ("model", "backend", "precision", "threads")
               if len({getattr(k, name) for k in keys}) > 1}  # fmt: skip
    with matplotlib.rc_context({"svg.hashsalt": "effbench", "svg.fonttype": "path", "font.size": 9}):
        fig = Figure(figsize=(9.0, 4.5), dpi=110, layout="constrained")
        ax = fig.add_subplot()
        colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, key in enumerate(keys):
            points = drawn[key]
            color = colors[i % len(colors)]
            times = [x_of(p) for p in points]
            medians = [float(p.median_ms or 0.0) for p in points]
            low = [p.ci_low_ms if p.ci_low_ms is not None else float("nan") for p in points]
            high = [p.ci_high_ms if p.ci_high_ms is not None else float("nan") for p in points]
            ax.fill_between(times, low, high, color=color, alpha=0.18, linewidth=0)
            ax.plot(times, medians, marker="o", markersize=3, linewidth=1.2, color=color,
                    label=_series_label(key, varying))  # fmt: skip
            for change in (c for c in changes if c.key == key):
                when = x_of(change.after)
                ax.axvline(when, color=color, linestyle="--", linewidth=0.9)
                ax.annotate(f"{change.percent:+.1f}%", (when, float(change.after.median_ms or 0.0)),
                            xytext=(4, 8), textcoords="offset points", color=color)  # fmt: skip
        if commit_order is not None:
            ax.set_xticks(ticks, tick_labels, rotation=45, ha="right", fontfamily="monospace")
            ax.set_xlabel("commit under test, in git history order; dashed: change point")
        else:
            locator = AutoDateLocator()
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
            ax.set_xlabel("run time (UTC); dashed: change point")
        ax.set_ylabel("latency (ms)")
        ax.set_title(_title(keys, varying))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", title="machine")
        buffer = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(buffer, format=fmt, metadata=metadata)
    try:
        replace_file(path, buffer.getvalue())
    except OSError as exc:
        raise EffbenchError(f"cannot write the plot {path}: {exc.strerror or exc}") from None
    return path
