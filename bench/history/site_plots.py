"""The history site's plots: a hand-drawn sparkline per series for the index, and the trend of one series drawn by
matplotlib (imported only here, on the first trend) as SVG to inline in its page."""

from __future__ import annotations

import html
import itertools
import statistics
from typing import TYPE_CHECKING

from bench.views.format import format_ms

if TYPE_CHECKING:
    from bench.history.site import SeriesView

SPARK_RUNS = 60  # a sparkline draws the last runs only: 120 px wide, more would be under a pixel each
SPARK_W, SPARK_H = 120, 24
SPARK_MIN_SPAN = 0.2


def sparkline(view: SeriesView) -> str:
    """The last SPARK_RUNS medians as a tiny inline SVG, change points as ticks. Drawn by hand: matplotlib's SVG of
    the same 60-point line is about 30 times larger, and the index holds one per series."""
    runs = view.measured[-SPARK_RUNS:]
    if not runs:
        return ""
    values = [float(p.median_ms or 0.0) for p in runs]
    fastest, slowest = min(values), max(values)
    # At least SPARK_MIN_SPAN of the level from bottom to top: a flat series looks flat, not like its noise magnified.
    span = max(slowest - fastest, SPARK_MIN_SPAN * slowest) or 1.0
    low = (fastest + slowest - span) / 2
    step = (SPARK_W - 4) / max(len(values) - 1, 1)
    xy = [(2 + i * step, SPARK_H - 2 - (v - low) / span * (SPARK_H - 4)) for i, v in enumerate(values)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    index = {p.run_id: i for i, p in enumerate(runs)}
    ticks = "".join(
        f'<line class="cp" x1="{xy[index[c.after.run_id]][0]:.1f}" x2="{xy[index[c.after.run_id]][0]:.1f}" '
        f'y1="0" y2="{SPARK_H}"/>'
        for c in view.changes
        if c.after.run_id in index
    )
    last_x, last_y = xy[-1]
    label = f"last {len(runs)} runs: {format_ms(fastest)} to {format_ms(slowest)} ms"
    return (
        f'<svg class="spark" viewBox="0 0 {SPARK_W} {SPARK_H}" width="{SPARK_W}" height="{SPARK_H}" role="img" '
        f'aria-label="{html.escape(label)}"><title>{html.escape(label)}</title>{ticks}<polyline points="{line}"/>'
        f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2"/></svg>'
    )


def trend_svg(view: SeriesView) -> str:
    """The series' trend as inline SVG: each run's median and 95% CI in run order, each level's median, change
    points dashed and labelled with their step. The markers (group id "trend-points") come in run order, so the
    page's script pairs marker i with the table row of measured run i."""
    import io

    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figure state

    runs = view.measured
    xs = list(range(len(runs)))
    medians = [float(p.median_ms or 0.0) for p in runs]
    lows = [m - (p.ci_low_ms if p.ci_low_ms is not None else m) for m, p in zip(medians, runs, strict=True)]
    highs = [(p.ci_high_ms if p.ci_high_ms is not None else m) - m for m, p in zip(medians, runs, strict=True)]
    index = {p.run_id: i for i, p in enumerate(runs)}
    # svg.fonttype "none": text stays text (the page's font, selectable, a tenth of the size of glyph paths).
    with matplotlib.rc_context({"svg.hashsalt": "effbench", "svg.fonttype": "none", "font.size": 9}):
        fig = Figure(figsize=(8.0, 3.4), layout="constrained")
        ax = fig.add_subplot()
        ax.errorbar(xs, medians, yerr=[lows, highs], fmt="none", ecolor="#9ab", elinewidth=1.2)
        ax.plot(xs, medians, marker="o", markersize=3.5, linewidth=0.8, color="#1f5f99", gid="trend-points")
        cuts = [0, *(index[c.after.run_id] for c in view.changes), len(runs)]
        for start, stop in itertools.pairwise(cuts):
            ax.hlines(
                statistics.median(medians[start:stop]), start - 0.3, stop - 0.7, color="#555", linewidth=1.0, alpha=0.6
            )
        for change in view.changes:
            x = index[change.after.run_id] - 0.5
            color = "#b3261e" if change.step.ratio > 1 else "#1b7a3a"
            ax.axvline(x, color=color, linestyle="--", linewidth=1.0)
            ax.annotate(f"{change.percent:+.1f}%", (x, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -12),
                        textcoords="offset points", color=color)  # fmt: skip
        ticks = xs[:: max(1, -(-len(xs) // 8))]
        ax.set_xticks(ticks, [runs[i].created[5:16].replace("T", " ") for i in ticks], rotation=20, ha="right")
        ax.set_xlim(-0.8, max(len(runs) - 0.2, 0.8))
        ax.set_ylabel("latency (ms)")
        ax.set_xlabel("runs in time order (UTC); bars: 95% CI; grey: level; dashed: change point")
        ax.grid(True, axis="y", alpha=0.3)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: no XML prolog or DOCTYPE inside HTML
