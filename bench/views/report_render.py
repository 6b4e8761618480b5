"""Renders ReportData as a terminal text, Markdown (with plot files beside it), CSV, self-contained HTML or JSON.

Every format is deterministic: numbers are formatted here with fixed rules, and nothing reads a clock.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.probes.calibrate import rate_unit
from bench.views.format import format_ms
from bench.views.int8 import INT8_COLUMNS, LATENCY_ONLY, int8_table_rows, int8_warnings
from bench.views.report_data import MeasuredCell, ReportData, Table2Row, Table4Row
from bench.views.report_html import html_figure, html_heading, html_list, html_page, html_table
from bench.views.report_summary import (
    FASTEST_COLUMNS,
    Summary,
    build_summary,
    format_ratio,
    inline_html,
    plain_text,
)
from bench.views.tables import Column, format_csv, format_markdown_table, rich_table

REPORT_FORMATS = ("term", "md", "csv", "html", "json")


@dataclass(frozen=True)
class Rendered:
    """A rendered report: the main text and the files that go beside it (name relative to the main file)."""

    text: str
    files: dict[str, bytes]


# ------------------------------------------------------------------------------------------------ numbers


ms = format_ms


def _num(value: float | None, fmt: str) -> str | None:
    return None if value is None else fmt.format(value)


# ------------------------------------------------------------------------------------------------- tables

LATENCY_COLUMNS = [
    Column("model", "model", align="left"),
    Column("resolution", "res"),
    Column("params_m", "params (M)"),
    Column("macs_g", "MACs (G)"),
    Column("backend", "backend", align="left"),
    Column("precision", "precision", align="left"),
    Column("threads", "threads"),
    Column("median_ms", "median ms"),
    Column("ci", "95% CI"),
    Column("p90_ms", "p90 ms"),
    Column("p99_ms", "p99 ms"),
    Column("gflops", "GFLOP/s"),
    Column("pct_peak", "% of peak"),
    Column("status", "status", align="left"),
    Column("warnings", "warnings"),
    Column("time", "time s"),
]


def latency_rows(cells: Sequence[MeasuredCell]) -> list[dict[str, Any]]:
    rows = []
    for c in cells:
        ci = f"{ms(c.ci_low_ms)}–{ms(c.ci_high_ms)}" if c.ci_low_ms is not None and c.ci_high_ms is not None else None
        rows.append(
            {
                "model": c.model,
                "resolution": c.resolution,
                "params_m": _num(c.params / 1e6 if c.params else None, "{:.2f}"),
                "macs_g": _num(c.macs / 1e9 if c.macs else None, "{:.3f}"),
                "backend": c.backend,
                "precision": c.effective_precision,
                "threads": c.threads,
                "median_ms": ms(c.median_ms),
                "ci": ci,
                "p90_ms": ms(c.p90_ms),
                "p99_ms": ms(c.p99_ms),
                "gflops": _num(c.gflops, "{:.1f}"),
                "pct_peak": _num(c.pct_peak, "{:.1f}"),
                "status": c.status,
                "warnings": len(c.warnings) or None,
                "time": f"{c.elapsed_s:.1f}" if c.elapsed_s else None,
            }
        )
    return rows


def _paper_columns(series: Sequence[str], with_params: bool) -> list[Column]:
    columns = [Column("model", "model", align="left")]
    if with_params:
        columns += [Column("paper_params", "paper params (M)"), Column("params", "effbench params (M)")]
    columns += [
        Column("paper_flops", "paper FLOPs (B)"),
        Column("flops", "effbench MACs (B)"),
        Column("diff", "diff"),
        Column("top1", "paper top-1"),
    ]
    columns += [Column(f"lat:{s}", f"{s} ms") for s in series]
    return columns


def paper_rows(rows: Sequence[Table2Row]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        row: dict[str, Any] = {
            "model": r.model,
            "paper_params": _num(r.paper_params_m, "{:g}"),
            "params": _num(r.params_m, "{:.2f}"),
            "paper_flops": _num(r.paper_flops_b, "{:g}"),
            "flops": _num(r.flops_b, "{:.3f}"),
            "diff": _num(r.flops_diff_pct, "{:+.1f}%"),
            "top1": _num(r.paper_top1, "{:g}"),
        }
        for s, value in r.latency_ms.items():
            row[f"lat:{s}"] = ms(value)
        out.append(row)
    return out


TABLE4_COLUMNS = [
    Column("pair", "pair", align="left"),
    Column("paper", "paper (E5-2690, 1 core)", align="left"),
    Column("series", "runtime", align="left"),
    Column("faster_ms", "faster ms"),
    Column("slower_ms", "slower ms"),
    Column("speedup", "speedup [95% CI]"),
    Column("note", "note", align="left"),
]


def table4_rows(rows: Sequence[Table4Row]) -> list[dict[str, Any]]:
    return [
        {
            "pair": f"{r.slower} / {r.faster}",
            "paper": f"{r.paper_slower_s:g} s / {r.paper_faster_s:g} s = {r.paper_speedup:g}x",
            "series": r.series,
            "faster_ms": ms(r.faster_ms),
            "slower_ms": ms(r.slower_ms),
            "speedup": format_ratio(r.speedup),
            "note": r.note or None,
        }
        for r in rows
    ]


# ------------------------------------------------------------------------------------------------- header


def _machine_lines(data: ReportData) -> list[str]:
    lines = []
    for machine in data.machines:
        cpu = machine.get("cpu") or {}
        flags = set(cpu.get("flags") or [])
        isa = [
            f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16") if f in flags
        ]
        cores = machine.get("cores") or {}
        lines.append(
            f"machine {machine.get('id')}: {cpu.get('brand', '?')}, {cores.get('logical', '?')} logical CPUs, "
            f"ISA {' '.join(isa) or 'unknown'}, kernel {machine.get('kernel', '?')}"
        )
    if data.runtimes:
        lines.append("runtimes: " + ", ".join(f"{k} {v}" for k, v in data.runtimes.items()))
    for calibration in data.calibrations:
        where = f"{calibration.threads} thread(s), CPUs {','.join(map(str, calibration.cpus))}"
        for peak in sorted(calibration.peaks, key=lambda p: p.precision):
            precision = peak.precision
            unit = rate_unit(precision)
            if peak.gflops:
                rounds = [r for r in calibration.rounds if r.gflops.get(precision)]
                best = " (the higher of " + ", ".join(
                    f"{r.gflops[precision]:.1f} {r.when}" for r in rounds
                ) + ")" if len(rounds) > 1 else ""  # fmt: skip
                lines.append(
                    f"measured peak {precision} ({where}): {peak.gflops:.1f} {unit}{best}, {peak.library} n={peak.n}"
                )
            else:
                lines.append(f"measured peak {precision} ({where}): unavailable ({peak.unavailable})")
            if peak.theoretical_gflops:
                lines.append(
                    f"advertised-frequency figure {precision} (a label, not a measurement): "
                    f"{peak.theoretical_gflops:.1f} {unit} ({peak.theoretical_basis})"
                )
    if not data.calibrations:
        lines.append("measured peak: not calibrated in these documents (no % of peak)")
    above = sorted({f"{c.model} · {c.series}" for c in data.cells if c.pct_peak is not None and c.pct_peak > 100})
    if above:
        lines.append(
            f"{len(above)} cell(s) ran above 100% of the measured peak ({', '.join(above[:3])}"
            f"{', …' if len(above) > 3 else ''}): the calibration caught the core slower than the cells did (a "
            "busier machine or a lower clock during its few seconds); read % of peak as an upper bound there"
        )
    return lines


def _provenance_lines(data: ReportData) -> list[str]:
    return [
        f"{s.name} (sha256 {s.sha256[:16]}…, {s.created}, effbench {s.effbench}, cells measured in "
        f"{s.cells_s / 60:.1f} min): reproduce with `{s.command}`"
        for s in data.sources
    ]


def _sections(data: ReportData) -> list[tuple[str, list[dict[str, Any]], list[Column], str]]:
    return [
        ("Latency per cell", latency_rows(data.cells), LATENCY_COLUMNS,
         "Batch 1, median of all samples; CI from the worker processes (the unit of evidence); "
         "GFLOP/s = 2 x effective MACs / median (the MACs less the convolution taps over zero padding, which "
         "padding-aware kernels skip: 0.1-4% of a model's MACs, `effbench models` lists them); % of the measured "
         "matrix-multiply peak of the same CPUs and threads."),
        ("Paper Table 2: EfficientNet and ResNet", paper_rows(data.table2), _paper_columns(data.series, True),
         "The paper's params and FLOPs (multiply-adds) beside effbench's exact counts, with measured latency."),
        ("Paper Table 3: scaled baselines", paper_rows(data.table3), _paper_columns(data.series, False),
         "Rows measured in these documents."),
        ("Paper Table 4: batch-1 latency ratios", table4_rows(data.table4), TABLE4_COLUMNS,
         "Speedup = slower / faster, ratio of geometric means of process medians, 95% CI (Welch t on logs)."),
        ("int8: what ran in int8, beside fp32", int8_table_rows(data.int8), list(INT8_COLUMNS),
         "The int8 share of multiply-adds and layers is the runtime's own account (OpenVINO's runtime precision per "
         "layer, ONNX Runtime's profiler kernel names); kernels name the ISA path where the runtime tells it. "
         + LATENCY_ONLY),
    ]  # fmt: skip


def _figures(data: ReportData) -> list[tuple[str, str, Any]]:
    from bench.views import plots

    title = ", ".join(str(m.get("id")) for m in data.machines)
    made = [
        ("figure1", "Paper Figure 1 on measured latency", plots.figure1(data.cells, f"Top-1 vs latency — {title}")),
        ("latency-vs-macs", "Latency vs MACs", plots.latency_vs_macs(data.cells, f"Latency vs MACs — {title}")),
        ("table4-speedups", "Table 4 speedups", plots.speedup_bars(data.table4, f"Table 4 speedups — {title}")),
    ]
    return [(slug, caption, fig) for slug, caption, fig in made if fig is not None]


# ----------------------------------------------------------------------------------------------- formats


def _summary_tables(summary: Summary) -> list[tuple[str, list[dict[str, Any]], list[Column]]]:
    return [
        ("Fastest runtime per model", summary.fastest, FASTEST_COLUMNS),
        ("Share of peak by model family", summary.peak_by_family, summary.peak_columns),
    ]


def markdown_figure(stem: str, slug: str, caption: str) -> list[str]:
    """A plot written beside a Markdown report: the SVG shown, the PNG linked."""
    return [f"![{caption}]({stem}-{slug}.svg)", "", f"[{caption} (PNG)]({stem}-{slug}.png)", ""]


def render_markdown(data: ReportData, stem: str | None) -> Rendered:
    """Markdown, opening with the summary and Figure 1; with `stem` (the output file's name without suffix) the
    plots are written beside it."""
    from bench.views.plots import drawn_with, figure_bytes

    summary = build_summary(data)
    out = [f"# effbench report: {', '.join(str(m.get('id')) for m in data.machines)}", "", "## Summary", ""]
    out += [f"- {line}" for line in summary.lines] + [""]
    for title, rows, columns in _summary_tables(summary):
        if rows:
            out += [f"### {title}", "", format_markdown_table(rows, columns)]
    figures = _figures(data) if stem is not None else []
    files: dict[str, bytes] = {}
    for slug, _caption, fig in figures:
        for fmt in ("svg", "png"):
            files[f"{stem}-{slug}.{fmt}"] = figure_bytes(fig, fmt)
    if stem is not None and figures and figures[0][0] == "figure1":
        out += ["## Figure 1", "", drawn_with(), "", *markdown_figure(stem, *figures[0][:2])]
        figures = figures[1:]
    out += ["## Machine", ""] + [f"- {line}" for line in _machine_lines(data)] + [""]
    out += ["## Provenance", ""] + [f"- {line}" for line in _provenance_lines(data)] + [""]
    for title, rows, columns, note in _sections(data):
        if rows:
            out += [f"## {title}", "", note, "", format_markdown_table(rows, columns)]
    if stem is not None and figures:
        out += ["## Figures", "", drawn_with(), ""]
        for slug, caption, _fig in figures:
            out += markdown_figure(stem, slug, caption)
    out += _warning_lines(data, "- ")
    return Rendered("\n".join(out).rstrip() + "\n", files)


def _warning_lines(data: ReportData, bullet: str) -> list[str]:
    lines = [f"{bullet}{c.model} · {c.backend} · {c.effective_precision}: {w}" for c in data.cells for w in c.warnings]
    lines += [f"{bullet}{w}" for w in int8_warnings(data.int8)]
    return (["## Warnings", "", *lines, ""]) if lines else []


def render_csv(data: ReportData) -> Rendered:
    return Rendered(format_csv(latency_rows(data.cells), LATENCY_COLUMNS), {})


def render_json(data: ReportData) -> Rendered:
    return Rendered(json.dumps(data.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n", {})


def render_term(data: ReportData, width: int = 200) -> Rendered:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None, highlight=False, record=True)
    summary = build_summary(data)
    for line in summary.lines:
        console.print(plain_text(line), soft_wrap=True)
    for title, rows, columns in _summary_tables(summary):
        if rows:
            console.print(rich_table(rows, columns, title=title))
    for line in _machine_lines(data) + _provenance_lines(data):
        console.print(line, soft_wrap=True)
    for title, rows, columns, note in _sections(data):
        if rows:
            console.print(rich_table(rows, columns, title=title))
            console.print(note, soft_wrap=True)
    for line in _warning_lines(data, "")[2:]:
        console.print(line, soft_wrap=True)
    return Rendered(console.export_text(), {})


def render_html(data: ReportData) -> Rendered:
    """One self-contained HTML file opening with the summary and Figure 1; the plots embedded (SVG inline, PNG as
    a data URI link)."""
    from bench.views.plots import drawn_with

    summary = build_summary(data)
    parts = [html_heading("Summary"), html_list(summary.lines)]
    for title, rows, columns in _summary_tables(summary):
        if rows:
            parts += [html_heading(title, 3), html_table(rows, columns)]
    figures = _figures(data)
    if figures and figures[0][0] == "figure1":
        parts += [html_heading("Figure 1"), f"<p>{html.escape(drawn_with())}</p>", html_figure(*figures[0])]
        figures = figures[1:]
    parts += [html_heading("Machine"), html_list(_machine_lines(data))]
    parts += [html_heading("Provenance"), html_list(_provenance_lines(data))]
    for section, rows, columns, note in _sections(data):
        if rows:
            parts += [html_heading(section), f"<p>{inline_html(note)}</p>", html_table(rows, columns)]
    if figures:
        parts += [html_heading("Figures"), f"<p>{html.escape(drawn_with())}</p>"]
        parts += [html_figure(*figure) for figure in figures]
    warnings = _warning_lines(data, "")[2:]
    if warnings:
        parts += [html_heading("Warnings"), html_list(warnings)]
    title = f"effbench report: {', '.join(str(m.get('id')) for m in data.machines)}"
    return Rendered(html_page(title, parts), {})


RENDERERS: dict[str, Callable[[ReportData, str | None], Rendered]] = {
    "term": lambda data, stem: render_term(data),
    "md": render_markdown,
    "csv": lambda data, stem: render_csv(data),
    "html": lambda data, stem: render_html(data),
    "json": lambda data, stem: render_json(data),
}


def render_report(data: ReportData, fmt: str, stem: str | None = None) -> Rendered:
    return RENDERERS[fmt](data, stem)
