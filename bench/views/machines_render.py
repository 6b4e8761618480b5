"""Renders the hardware report (bench.views.machines_data) as Markdown with plot files, self-contained HTML,
or JSON; plots compare machines: grouped latency bars, latency vs MACs, % of peak per model family, scaling."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bench.views.machines_data import MachinesReport, SeriesTable
from bench.views.report_render import Rendered, _html_table, ms, table4_rows
from bench.views.tables import Column, format_markdown_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MACHINES_FORMATS = ("md", "html", "json")


def _num(value: float | None, fmt: str) -> str | None:
    return None if value is None else fmt.format(value)


MACHINE_COLUMNS = [
    Column("id", "machine", align="left"),
    Column("brand", "CPU", align="left"),
    Column("family_model", "vendor family/model", align="left"),
    Column("cpus_used", "CPUs used (threads)", align="left"),
    Column("isa", "ISA", align="left"),
    Column("peak_fp32", "peak fp32 GFLOP/s"),
    Column("peak_bf16", "peak bf16 GFLOP/s"),
    Column("ghz", "GHz advertised"),
    Column("ghz_implied", "GHz implied by the peak"),
    Column("virtual", "VM", align="left"),
    Column("governor", "governor / boost", align="left"),
    Column("runtimes", "runtimes", align="left"),
]


def machine_rows(report: MachinesReport) -> list[dict[str, Any]]:
    return [
        {
            "id": m.id + (" (reference)" if m.id == report.reference else ""),
            "brand": m.brand,
            "family_model": m.family_model,
            "cpus_used": m.cpus_used,
            "isa": " ".join(m.isa) or None,
            "peak_fp32": _num(m.peak_fp32_gflops, "{:.0f}"),
            "peak_bf16": _num(m.peak_bf16_gflops, "{:.0f}"),
            "ghz": _num(m.ghz_advertised, "{:.2f}"),
            "ghz_implied": _num(m.ghz_implied, "{:.2f}"),
            "virtual": m.virtual,
            "governor": f"{m.governor} / {m.boost}",
            "runtimes": ", ".join(f"{k} {v}" for k, v in m.runtimes.items()) or None,
        }
        for m in report.machines
    ]


def _table_machines(table: SeriesTable, report: MachinesReport) -> list[str]:
    """The machines with at least one cell in `table`, in the report's order: a machine whose cells here were all
    listed apart (other model bytes) or never measured gets no empty columns, only a line under the table."""
    present = {mid for row in table.rows for mid in row.cells}
    return [m.id for m in report.machines if m.id in present]


def _series_columns(table: SeriesTable, report: MachinesReport) -> list[Column]:
    columns = [Column("model", "model", align="left")]
    shown = set(_table_machines(table, report))
    for m in report.machines:
        if m.id not in shown:
            continue
        columns.append(Column(f"lat:{m.id}", f"{m.id} ms [95% CI]"))
        if m.id != report.reference:
            columns.append(Column(f"x:{m.id}", f"{m.id} speedup"))
        columns.append(Column(f"peak:{m.id}", f"{m.id} GFLOP/s (% peak)"))
    return columns


def series_rows(table: SeriesTable, report: MachinesReport) -> list[dict[str, Any]]:
    rows = []
    for model_row in table.rows:
        row: dict[str, Any] = {"model": model_row.model}
        for mid, cell in model_row.cells.items():
            mark = " †" if cell.marked else ""
            ci = f" [{ms(cell.ci_low_ms)}–{ms(cell.ci_high_ms)}]" if cell.ci_low_ms is not None else ""
            row[f"lat:{mid}"] = f"{ms(cell.median_ms)}{ci}{mark}"
            if mid != report.reference and cell.speedup is not None:
                s = cell.speedup
                ci_text = f" [{s.ci_low:.2f}–{s.ci_high:.2f}]" if s.ci_low is not None and s.ci_high is not None else ""
                row[f"x:{mid}"] = f"{s.value:.2f}x{ci_text}"
            if cell.gflops is not None:
                pct = f" ({cell.pct_peak:.0f}%)" if cell.pct_peak is not None else ""
                row[f"peak:{mid}"] = f"{cell.gflops:.1f}{pct}"
        rows.append(row)
    return rows


SCALING_COLUMNS = [
    Column("machine", "machine", align="left"),
    Column("model", "model", align="left"),
    Column("series", "runtime", align="left"),
    Column("threads", "threads"),
    Column("median", "median ms"),
    Column("speedup", "speedup"),
    Column("efficiency", "efficiency"),
]


def scaling_rows(report: MachinesReport) -> list[dict[str, Any]]:
    return [
        {
            "machine": r.machine_id,
            "model": r.model,
            "series": r.series,
            "threads": r.threads,
            "median": ms(r.median_ms),
            "speedup": f"{r.speedup:.2f}x",
            "efficiency": f"{100 * r.efficiency:.0f}%",
        }
        for r in report.scaling
    ]


LAYER_KIND_COLUMNS = [
    Column("machine", "machine", align="left"),
    Column("model", "model", align="left"),
    Column("kind", "layer kind", align="left"),
    Column("share_time", "% of time", "{:.1f}"),
    Column("share_macs", "% of MACs", "{:.1f}"),
    Column("gflops", "GFLOP/s", "{:.1f}"),
    Column("pct_peak", "% of peak", "{:.1f}"),
]

LAYER_KIND_NOTE = (
    "From `effbench layers` documents: the runtime's profiler (ONNX Runtime, or OpenVINO's per-node counters), each "
    "kind's median kernel time against its multiply-adds and the peak of the same precision measured just before; "
    "'other' (activations, the SE scale, pooling, layout reorders) has time but no multiply-adds."
)


def layer_kind_rows(report: MachinesReport) -> list[dict[str, Any]]:
    """bench.views.layers' rows of every profile, with its machine and runtime."""
    from bench.views.layers import layer_rows

    return [
        {**row, "machine": f"{mid} ({profile.threads} thread(s))", "model": f"{profile.model} · {profile.series}"}
        for mid, profile in report.layers
        for row in layer_rows(profile)
    ]


INCOMPARABLE_COLUMNS = [
    Column("machine", "machine", align="left"),
    Column("series", "runtime", align="left"),
    Column("threads", "threads"),
    Column("model", "model", align="left"),
    Column("latency", "ms [95% CI]"),
    Column("reason", "why not compared", align="left"),
]

INCOMPARABLE_NOTE = (
    "Measured, but not the model the reference ran, so not put in its column. To compare machines, run the same "
    "artifacts everywhere: one bundle (`effbench export --bundle DIR`, then `effbench run --bundle DIR`), or "
    "exports of the same effbench (export recipe 3 or later), torch, onnx and openvino versions, which give the "
    "same bytes on every CPU."
)


def incomparable_rows(report: MachinesReport) -> list[dict[str, Any]]:
    rows = []
    for i in report.incomparable:
        ci = f" [{ms(i.ci_low_ms)}–{ms(i.ci_high_ms)}]" if i.ci_low_ms is not None else ""
        rows.append({"machine": i.machine_id, "series": i.series, "threads": i.threads, "model": i.model,
                     "latency": f"{ms(i.median_ms)}{ci}", "reason": i.reason})  # fmt: skip
    return rows


def _notes(report: MachinesReport) -> list[str]:
    """One line per thing a reader should know of a † cell: version labels, then the cell's own warnings."""
    lines: list[str] = []
    for table in report.tables:
        for row in table.rows:
            for mid, cell in row.cells.items():
                where = f"† {row.model} · {table.series} · {table.threads} thread(s) · {mid}"
                lines.extend(f"{where}: {text}" for text in (*cell.labels, *cell.warnings))
    return lines


def _sections(report: MachinesReport) -> list[tuple[str, list[dict[str, Any]], list[Column], str]]:
    sections = [("Machines", machine_rows(report), MACHINE_COLUMNS,
                 "Peaks are measured (best sustained matrix multiply on the cells' CPUs and threads); the advertised "
                 "frequency of a VM is not its real one. The implied clock is the fp32 peak / (threads x the ISA's "
                 "FLOP per cycle, e.g. 64 for AVX-512 with two FMA units): the clock the core sustained if it has "
                 "that many FMA units (twice that on a part with one).")]  # fmt: skip
    for table in report.tables:
        sections.append(
            (
                f"{table.series}, {table.threads} thread(s)",
                series_rows(table, report),
                _series_columns(table, report),
                f"Median batch-1 latency; speedup = {report.reference}'s latency / the machine's (>1: faster), "
                "95% CI from process medians; † see the notes." + _absent_note(table, report),
            )
        )
    for mid, rows in report.table4.items():
        if rows:
            sections.append((f"Paper Table 4 ratios on {mid}", table4_rows(rows), _table4_columns(), ""))
    if report.scaling:
        note = "Speedup against the fewest threads measured; efficiency = speedup / thread ratio."
        sections.append(("Thread scaling", scaling_rows(report), SCALING_COLUMNS, note))
    if report.layers:
        sections.append(("Layer kinds", layer_kind_rows(report), LAYER_KIND_COLUMNS, LAYER_KIND_NOTE))
    if report.incomparable:
        sections.append(("Listed, not compared", incomparable_rows(report), INCOMPARABLE_COLUMNS, INCOMPARABLE_NOTE))
    return sections


def _absent_note(table: SeriesTable, report: MachinesReport) -> str:
    shown = set(_table_machines(table, report))
    absent = [m.id for m in report.machines if m.id not in shown]
    if not absent:
        return ""
    listed = {(i.machine_id, i.series, i.threads) for i in report.incomparable}
    apart = [mid for mid in absent if (mid, table.series, table.threads) in listed]
    missing = [mid for mid in absent if mid not in apart]
    parts = []
    if apart:
        parts.append(f'{", ".join(apart)}: cells of other model bytes only, see "Listed, not compared"')
    if missing:
        parts.append(f"{', '.join(missing)}: not measured")
    return " Not in this table: " + "; ".join(parts) + "."


def _table4_columns() -> list[Column]:
    from bench.views.report_render import TABLE4_COLUMNS

    return TABLE4_COLUMNS


# ----------------------------------------------------------------------------------------------------- plots


def _grouped_bars(report: MachinesReport, table: SeriesTable) -> Figure | None:
    from matplotlib.figure import Figure

    models = [r.model for r in table.rows]
    ids = _table_machines(table, report)  # as in the table: no bars, no legend entry for a machine not in it
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

    from bench.probes.layers import KINDS

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


def _figures(report: MachinesReport) -> list[tuple[str, str, Figure]]:
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


# --------------------------------------------------------------------------------------------------- formats


def _provenance(report: MachinesReport) -> list[str]:
    return [f"{s.name} (sha256 {s.sha256}): `{s.command}`" for s in report.sources] + report.layer_sources


def render_machines_markdown(report: MachinesReport, stem: str | None) -> Rendered:
    from bench.views.plots import drawn_with, figure_bytes

    out = [f"# effbench hardware report ({len(report.machines)} machines, reference {report.reference})", ""]
    for title, rows, columns, note in _sections(report):
        if rows:
            out += [f"## {title}", ""] + ([note, ""] if note else []) + [format_markdown_table(rows, columns)]
    notes = _notes(report)
    if notes:
        out += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    files: dict[str, bytes] = {}
    if stem is not None:
        figures = _figures(report)
        if figures:
            out += ["## Figures", "", drawn_with(), ""]
        for slug, caption, fig in figures:
            for fmt in ("svg", "png"):
                files[f"{stem}-{slug}.{fmt}"] = figure_bytes(fig, fmt)
            out += [f"![{caption}]({stem}-{slug}.svg)", ""]
    out += ["## Provenance", ""] + [f"- {line}" for line in _provenance(report)]
    return Rendered("\n".join(out).rstrip() + "\n", files)


def render_machines_html(report: MachinesReport) -> Rendered:
    from bench.views.plots import figure_bytes
    from bench.views.report_render import _CSS

    title = f"effbench hardware report ({len(report.machines)} machines, reference {report.reference})"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]  # fmt: skip
    for section, rows, columns, note in _sections(report):
        if rows:
            parts.append(f"<h2>{html.escape(section)}</h2><p>{html.escape(note)}</p>{_html_table(rows, columns)}")
    notes = _notes(report)
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    for slug, caption, fig in _figures(report):
        svg = figure_bytes(fig, "svg").decode("utf-8")
        png = base64.b64encode(figure_bytes(fig, "png")).decode("ascii")
        parts.append(
            f"<figure id='{slug}'>{svg[svg.index('<svg') :]}<figcaption>{html.escape(caption)} "
            f"(<a download='{slug}.png' href='data:image/png;base64,{png}'>PNG</a>)</figcaption></figure>"
        )
    parts.append("<h2>Provenance</h2><ul>" + "".join(f"<li>{html.escape(p)}</li>" for p in _provenance(report)))
    parts.append("</ul></body></html>\n")
    return Rendered("".join(parts), {})


def render_machines(report: MachinesReport, fmt: str, stem: str | None = None) -> Rendered:
    if fmt == "md":
        return render_machines_markdown(report, stem)
    if fmt == "html":
        return render_machines_html(report)
    return Rendered(json.dumps(report.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n", {})


def machines_in(report: MachinesReport) -> Sequence[str]:
    return [m.id for m in report.machines]
