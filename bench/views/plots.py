"""Report plots with matplotlib: the paper's Figure 1 on measured latency, latency vs MACs, Table 4 speedups.

Each plot function returns a matplotlib Figure built without pyplot (no global state, no display needed);
`figure_bytes` renders it reproducibly: SVG with a fixed hash salt and no date, PNG without the software tag,
so the same report data give the same bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bench.views.report_data import MeasuredCell, Table4Row

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _figure(width: float = 7.0, height: float = 4.5) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _series_style(series: Sequence[str]) -> dict[str, tuple[str, str]]:
    colors = [f"C{i}" for i in range(10)]
    return {s: (colors[i % len(colors)], MARKERS[i % len(MARKERS)]) for i, s in enumerate(series)}


def _per_series(points: Sequence[MeasuredCell]) -> list[tuple[str, list[MeasuredCell], tuple[str, str]]]:
    """Per runtime and precision (sorted): one cell per model (the last document's when several measured it),
    and the series' colour and marker."""
    series = sorted({c.series for c in points})
    style = _series_style(series)
    return [(s, list({c.model: c for c in points if c.series == s}.values()), style[s]) for s in series]


def _plain_log_ticks(axis: Any) -> None:
    """Log-axis tick labels as plain numbers (20, 50, 100), not 2x10^1."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    axis.set_minor_formatter(FuncFormatter(lambda _value, _pos: ""))


def figure1(cells: Sequence[MeasuredCell], title: str) -> Figure | None:
    """The paper's Figure 1 with measured batch-1 latency on x: paper top-1 on y, one series per runtime."""
    from bench.views.report_data import PAPER_THREADS
    from bench.zoo.paper import PAPER

    points = [
        c
        for c in cells
        if c.measured and c.threads == PAPER_THREADS and c.model in PAPER and PAPER[c.model].top1 is not None
    ]
    if not points:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    fastest: dict[str, float] = {}  # model -> its lowest latency over the series: where its one label goes
    for s, latest, (color, marker) in _per_series(points):
        # The EfficientNets joined by a line as in the paper's figure, the baselines as single points; one legend
        # entry per series (the line's when it has one).
        mine = sorted(latest, key=lambda c: c.median_ms or 0.0)
        line = [c for c in mine if c.model.startswith("efficientnet_")]
        if line:
            ax.plot([c.median_ms or 0.0 for c in line], [PAPER[c.model].top1 or 0.0 for c in line], marker=marker,
                    color=color, label=s)  # fmt: skip
        others = [c for c in mine if not c.model.startswith("efficientnet_")]
        if others:
            ax.plot([c.median_ms or 0.0 for c in others], [PAPER[c.model].top1 or 0.0 for c in others],
                    marker=marker, color=color, linestyle="", fillstyle="none", label=None if line else s)  # fmt: skip
        for c in mine:
            fastest[c.model] = min(fastest.get(c.model, math.inf), c.median_ms or 0.0)
    for model, ms in sorted(fastest.items()):
        # Each model named once, left of its fastest point, so the series' points of one model share one label.
        ax.annotate(model.replace("efficientnet_", ""), (ms, PAPER[model].top1 or 0.0), textcoords="offset points",
                    xytext=(-5, 0), ha="right", va="center", fontsize=7, color="0.25")  # fmt: skip
    ax.set_xscale("log")
    slowest = max(c.median_ms or 0.0 for c in points)
    ax.set_xlim(min(fastest.values()) / 3.0, slowest * 1.4)  # room for the labels left of the fastest points
    _plain_log_ticks(ax.xaxis)
    ax.set_xlabel("measured batch-1 latency (ms, log scale)")
    ax.set_ylabel("ImageNet top-1 (%, as printed in the paper)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def latency_vs_macs(cells: Sequence[MeasuredCell], title: str) -> Figure | None:
    """Median latency against multiply-adds on log axes, one series per runtime and precision."""
    from bench.views.report_data import PAPER_THREADS

    points = [c for c in cells if c.measured and c.macs and c.threads == PAPER_THREADS]
    if not points:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for s, latest, (color, marker) in _per_series(points):
        mine = sorted(latest, key=lambda c: c.macs or 0)
        ax.scatter([(c.macs or 0) / 1e9 for c in mine], [c.median_ms or 0.0 for c in mine], color=color, marker=marker,
                   label=s)  # fmt: skip
        for c in mine:
            ax.annotate(c.model.replace("efficientnet_", ""), ((c.macs or 0) / 1e9, c.median_ms or 0.0),
                        textcoords="offset points", xytext=(4, 2), fontsize=6, color=color)  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_ticks(ax.xaxis)
    _plain_log_ticks(ax.yaxis)
    ax.set_xlabel("multiply-adds (G MACs)")
    ax.set_ylabel("median batch-1 latency, one thread (ms)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def speedup_bars(rows: Sequence[Table4Row], title: str) -> Figure | None:
    """Measured Table 4 speedups (with 95% CI) per runtime and precision, the paper's figure as a line."""
    measured = [r for r in rows if r.speedup is not None]
    if not measured:
        return None
    fig = _figure(7.0, 3.8)
    ax = fig.add_subplot()
    labels = [f"{r.slower}/{r.faster.replace('efficientnet_', '')}\n{r.series}" for r in measured]
    values = [r.speedup.value for r in measured if r.speedup is not None]
    low = [r.speedup.value - (r.speedup.ci_low or r.speedup.value) for r in measured if r.speedup is not None]
    high = [(r.speedup.ci_high or r.speedup.value) - r.speedup.value for r in measured if r.speedup is not None]
    xs = list(range(len(measured)))
    ax.bar(xs, values, yerr=[low, high], capsize=4, color=[f"C{i % 10}" for i in xs])
    for paper in sorted({r.paper_speedup for r in measured}):
        ax.axhline(paper, color="black", linestyle="--", linewidth=1)
        ax.annotate(f"paper {paper:g}x", (xs[-1] + 0.4, paper), fontsize=8, va="bottom", ha="right")
    ax.set_xticks(xs, labels, fontsize=7)
    ax.set_ylabel("speedup (x)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def drawn_with() -> str:
    """The line a report prints under its figures: plot bytes repeat only with the same matplotlib."""
    import matplotlib

    return f"Drawn with matplotlib {matplotlib.__version__}: the same documents and version give the same bytes."


def figure_bytes(fig: Figure, fmt: str) -> bytes:
    """The figure as SVG or PNG bytes, identical for identical figures (no dates, fixed SVG ids)."""
    import matplotlib

    buffer = io.BytesIO()
    metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {"Software": None}
    with matplotlib.rc_context({"svg.hashsalt": "effbench", "svg.fonttype": "none"}):
        fig.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()
