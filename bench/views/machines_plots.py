"""The hardware report's plots, one figure per question across machines: grouped latency bars per runtime table,
latency vs MACs, % of the measured peak per model family and per layer kind, thread scaling."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.views.machines_data import MachinesReport, SeriesTable

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _grouped_bars(report: MachinesReport, table: SeriesTable) -> Figure | None:
    from matplotlib.figure import Figure

    models = [r.model for r in table.rows]
    ids = report.machines_in(table)  # as in the table: no bars, no legend entry for a machine not in it
    if not models or not ids:
        return None
    color = {m.id: f"C{i % 10}" for i, m in enumerate(report.machines)}  # one colour per machine in every plot
    fig = Figure(figsize=(max(6.0, 0.9 * len(models) + 2), 4.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(ids)
    for i, mid in enumerate(ids):
        xs, ys = [], []
        for j, row in enumerate(table.rows):
            cell = row.cells.get(mid)
            if cell is not None and cell.median_ms:
                xs.append(j + (i - (len(ids) - 1) / 2) * width)
                ys.append(cell.median_ms)
        ax.bar(xs, ys, width=width, label=mid, color=color[mid])
    ax.set_yscale("log")
    ax.set_xticks(range(len(models)), [m.replace("efficientnet_", "") for m in models], fontsize=7, rotation=30)
    ax.set_ylabel("median latency (ms, log)")
    ax.set_title(f"{table.series}, {table.threads} thread(s)", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def _latency_vs_macs(report: MachinesReport, table: SeriesTable) -> Figure | None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    drawn = False
    for i, m in enumerate(report.machines):
        points = [(r.macs / 1e9, r.cells[m.id].median_ms or 0.0) for r in table.rows if r.macs and m.id in r.cells]
        points = [(x, y) for x, y in points if y > 0]
        if points:
            drawn = True
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", linestyle="", color=f"C{i % 10}",
                    label=m.id)  # fmt: skip
    if not drawn:
        return None
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("multiply-adds (G MACs)")
    ax.set_ylabel("median latency (ms)")
    ax.set_title(f"Latency vs MACs: {table.series}, {table.threads} thread(s)", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return fig


def _family(model: str) -> str:
    for prefix in ("efficientnet", "resnet", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3"):
        if model.startswith(prefix):
            return prefix
    return "other"


def _peak_by_family(report: MachinesReport) -> Figure | None:
    """Median % of the measured peak per model family and machine: depthwise/SE-heavy families run far below
    peak, dense 3x3 convolutions near it. (Per-layer figures need a profiler; this is per family.)"""
    from matplotlib.figure import Figure

    values: dict[tuple[str, str], list[float]] = {}
    for table in report.tables:
        for row in table.rows:
            for mid, cell in row.cells.items():
                if cell.pct_peak is not None:
                    values.setdefault((_family(row.model), mid), []).append(cell.pct_peak)
    if not values:
        return None
    families = sorted({f for f, _ in values})
    ids = [m.id for m in report.machines if any(mid == m.id for _, mid in values)]  # calibrated machines only
    fig = Figure(figsize=(6.5, 3.8), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(ids)
    for i, mid in enumerate(ids):
        xs, ys = [], []
        for j, fam in enumerate(families):
            pct = sorted(values.get((fam, mid), []))
            if pct:
                xs.append(j + (i - (len(ids) - 1) / 2) * width)
                ys.append(pct[len(pct) // 2])
        ax.bar(xs, ys, width=width, label=mid, color=f"C{i % 10}")
    ax.set_xticks(range(len(families)), families, fontsize=8)
    ax.set_ylabel("% of measured peak (median over cells)")
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def _peak_by_layer_kind(report: MachinesReport) -> Figure | None:
    """% of the measured peak per layer kind, one bar per (machine, model): which layers hold a model back."""
    from matplotlib.figure import Figure

    from bench.probes.layer_kinds import KINDS

    series = [(mid, p) for mid, p in report.layers if any(r.pct_peak is not None for r in p.kinds)]
    kinds = [k for k in KINDS if any(r.kind == k and r.pct_peak is not None for _m, p in series for r in p.kinds)]
    if not series or not kinds:
        return None
    from matplotlib.patches import Patch

    fig = Figure(figsize=(7.5, 4.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(series)
    # Colour per model, hatching per runtime and machine: up to 10 models and 5 runtimes stay readable.
    models = list(dict.fromkeys(p.model for _m, p in series))
    runs = list(dict.fromkeys(f"{p.series} · {mid}" for mid, p in series))
    hatches = ["", "//", "..", "xx", "\\\\"]
    for i, (mid, profile) in enumerate(series):
        pct = {r.kind: r.pct_peak for r in profile.kinds}
        xs = [j + (i - (len(series) - 1) / 2) * width for j, k in enumerate(kinds) if pct.get(k) is not None]
        ys = [pct[k] or 0.0 for k in kinds if pct.get(k) is not None]
        run = runs.index(f"{profile.series} · {mid}")
        ax.bar(xs, ys, width=width, color=f"C{models.index(profile.model) % 10}", hatch=hatches[run % len(hatches)],
               edgecolor="white", linewidth=0.3)  # fmt: skip
    handles = [Patch(color=f"C{i % 10}", label=m.replace("efficientnet_", "")) for i, m in enumerate(models)]
    handles += [Patch(facecolor="lightgray", hatch=hatches[i % len(hatches)], label=r) for i, r in enumerate(runs)]
    ax.set_xticks(range(len(kinds)), [k.replace(" (SE)", "\n(SE)") for k in kinds], fontsize=7)
    ax.set_ylabel("% of the measured peak of its precision")
    ax.set_title("% of peak per layer kind (runtime profiles)", fontsize=10)
    ax.legend(handles=handles, fontsize=6)
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def _scaling_plot(report: MachinesReport) -> Figure | None:
    from matplotlib.figure import Figure

    if not report.scaling:
        return None
    fig = Figure(figsize=(6.5, 4.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    keys = sorted({(r.machine_id, r.model, r.series) for r in report.scaling})
    top = max(r.threads for r in report.scaling)
    for i, key in enumerate(keys):
        rows = [r for r in report.scaling if (r.machine_id, r.model, r.series) == key]
        ax.plot([r.threads for r in rows], [r.speedup for r in rows], marker="o", color=f"C{i % 10}",
                label=" · ".join(key))  # fmt: skip
    ax.plot([1, top], [1, top], linestyle=":", color="gray", label="linear")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("threads")
    ax.set_ylabel("speedup vs fewest threads")
    ax.legend(fontsize=6)
    ax.grid(True, which="both", alpha=0.3)
    return fig


def machine_figures(report: MachinesReport) -> list[tuple[str, str, Figure]]:
    """(slug, caption, figure) of every plot the report has data for, in the order the report shows them."""
    figures: list[tuple[str, str, Figure | None]] = []
    main = [t for t in report.tables if len(t.rows) > 1]
    for table in main:
        slug = f"{table.series.replace(' ', '-')}-t{table.threads}"
        figures.append((f"bars-{slug}", f"Latency per model and machine: {table.series}, {table.threads} thread(s)",
                        _grouped_bars(report, table)))  # fmt: skip
    if main:
        widest = max(main, key=lambda t: len(t.rows))
        figures.append(("latency-vs-macs", "Latency vs MACs per machine", _latency_vs_macs(report, widest)))
    figures.append(("peak-by-family", "% of measured peak per model family", _peak_by_family(report)))
    figures.append(("peak-by-layer-kind", "% of measured peak per layer kind", _peak_by_layer_kind(report)))
    figures.append(("thread-scaling", "Thread scaling", _scaling_plot(report)))
    return [(slug, caption, fig) for slug, caption, fig in figures if fig is not None]
