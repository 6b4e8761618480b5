"""Renders the hardware report (bench.views.machines_data) as Markdown with plot files, self-contained HTML,
or JSON: one table per runtime and thread count with every machine's latency, speedup and % of peak, then the
machines' Table 4 ratios, thread scaling, layer kinds and the cells not compared (plots: bench.views.machines_plots)."""

from __future__ import annotations

import json
import math
from typing import Any

from bench.views.machines_data import MachinesReport, SeriesTable
from bench.views.machines_plots import machine_figures
from bench.views.plots import drawn_with, figure_bytes
from bench.views.report_html import html_figure, html_heading, html_list, html_page, html_table
from bench.views.report_render import TABLE4_COLUMNS, Rendered, ms, table4_rows
from bench.views.report_summary import anchor, build_summary, inline_html, without_links
from bench.views.tables import Column, format_markdown_table

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
    Column("peak_int8", "peak int8 GOP/s"),
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
            "peak_int8": _num(m.peak_int8_gops, "{:.0f}"),
            "ghz": _num(m.ghz_advertised, "{:.2f}"),
            "ghz_implied": _num(m.ghz_implied, "{:.2f}"),
            "virtual": m.virtual,
            "governor": f"{m.governor} / {m.boost}",
            "runtimes": ", ".join(f"{k} {v}" for k, v in m.runtimes.items()) or None,
        }
        for m in report.machines
    ]


def _series_columns(table: SeriesTable, report: MachinesReport) -> list[Column]:
    columns = [Column("model", "model", align="left")]
    shown = set(report.machines_in(table))
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
            sections.append((f"Paper Table 4 ratios on {mid}", table4_rows(rows), TABLE4_COLUMNS, ""))
    if report.scaling:
        note = "Speedup against the fewest threads measured; efficiency = speedup / thread ratio."
        sections.append(("Thread scaling", scaling_rows(report), SCALING_COLUMNS, note))
    if report.layers:
        sections.append(("Layer kinds", layer_kind_rows(report), LAYER_KIND_COLUMNS, LAYER_KIND_NOTE))
    if report.incomparable:
        sections.append(("Listed, not compared", incomparable_rows(report), INCOMPARABLE_COLUMNS, INCOMPARABLE_NOTE))
    return sections


def _absent_note(table: SeriesTable, report: MachinesReport) -> str:
    shown = set(report.machines_in(table))
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


# --------------------------------------------------------------------------------------------------- formats


def _provenance(report: MachinesReport) -> list[str]:
    return [f"{s.name} (sha256 {s.sha256}): `{s.command}`" for s in report.sources] + report.layer_sources


def machines_summary(report: MachinesReport) -> list[str]:
    """The findings first: each machine's speed against the reference per runtime (geometric mean of the speedups
    of the cells both measured), each machine's Table 4 beside the paper, and its noisy or capped cells."""
    lines = []
    for table in report.tables:
        link = f"[{table.series}, {table.threads} thread(s)](#{anchor(f'{table.series}, {table.threads} thread(s)')})"
        parts = []
        for machine in report.machines_in(table):
            ratios = [
                row.cells[machine].speedup.value  # type: ignore[union-attr]
                for row in table.rows
                if machine in row.cells and row.cells[machine].speedup is not None
            ]
            if machine != report.reference and ratios:
                mean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
                spread = f"{min(ratios):.2f}-{max(ratios):.2f}x over {len(ratios)} models"
                parts.append(f"`{machine}` {mean:.2f}x ({spread})")
        if parts:
            lines.append(f"Against `{report.reference}` on {table.series}, {table.threads} thread(s): "
                         f"{'; '.join(parts)} (>1: faster; {link})")  # fmt: skip
    for machine, data in report.per_machine.items():
        # its own report's links lead nowhere here: the text alone
        lines += [f"`{machine}`: {without_links(line)}" for line in build_summary(data).lines]
    return lines


def render_machines_markdown(report: MachinesReport, stem: str | None) -> Rendered:
    """Markdown, opening with the summary; with `stem` the plots are written beside it."""
    out = [f"# effbench hardware report ({len(report.machines)} machines, reference {report.reference})", ""]
    out += ["## Summary", ""] + [f"- {line}" for line in machines_summary(report)] + [""]
    for title, rows, columns, note in _sections(report):
        if rows:
            out += [f"## {title}", ""] + ([note, ""] if note else []) + [format_markdown_table(rows, columns)]
    notes = _notes(report)
    if notes:
        out += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    files: dict[str, bytes] = {}
    if stem is not None:
        figures = machine_figures(report)
        if figures:
            out += ["## Figures", "", drawn_with(), ""]
        for slug, caption, fig in figures:
            for fmt in ("svg", "png"):
                files[f"{stem}-{slug}.{fmt}"] = figure_bytes(fig, fmt)
            out += [f"![{caption}]({stem}-{slug}.svg)", ""]
    out += ["## Provenance", ""] + [f"- {line}" for line in _provenance(report)]
    return Rendered("\n".join(out).rstrip() + "\n", files)


def render_machines_html(report: MachinesReport) -> Rendered:
    """One self-contained page, opening with the summary; plots inline."""
    title = f"effbench hardware report ({len(report.machines)} machines, reference {report.reference})"
    parts = [html_heading("Summary"), html_list(machines_summary(report))]
    for section, rows, columns, note in _sections(report):
        if rows:
            parts += [html_heading(section), f"<p>{inline_html(note)}</p>", html_table(rows, columns)]
    notes = _notes(report)
    if notes:
        parts += [html_heading("Notes"), html_list(notes)]
    figures = machine_figures(report)
    if figures:
        parts += [html_heading("Figures")] + [html_figure(*figure) for figure in figures]
    parts += [html_heading("Provenance"), html_list(_provenance(report))]
    return Rendered(html_page(title, parts), {})


def render_machines(report: MachinesReport, fmt: str, stem: str | None = None) -> Rendered:
    if fmt == "md":
        return render_machines_markdown(report, stem)
    if fmt == "html":
        return render_machines_html(report)
    return Rendered(json.dumps(report.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n", {})
