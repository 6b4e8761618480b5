"""Renders `effbench layers` profiles (bench.probes.layers.LayerProfile): one table per model, time and
multiply-adds per layer kind, GFLOP/s and % of the measured peak."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bench.probes.calibrate import rate_unit
from bench.views.tables import Column, format_markdown_table, rich_table

if TYPE_CHECKING:
    from bench.probes.layers import LayerProfile

LAYER_COLUMNS = [
    Column("kind", "layer kind", align="left"),
    Column("nodes", "nodes"),
    Column("ms", "ms", "{:.3f}"),
    Column("share_time", "% of time", "{:.1f}"),
    Column("gmacs", "G MACs", "{:.3f}"),
    Column("share_macs", "% of MACs", "{:.1f}"),
    Column("padding", "on padding", "{:.1f}%"),
    Column("gflops", "GFLOP/s", "{:.1f}"),
    Column("pct_peak", "% of peak", "{:.1f}"),
]


def layer_columns(profile: LayerProfile) -> list[Column]:
    unit = rate_unit(profile.precision)
    return [replace(c, title=unit) if c.key == "gflops" else c for c in LAYER_COLUMNS]


def layer_rows(profile: LayerProfile) -> list[dict[str, Any]]:
    return [
        {
            "kind": row.kind,
            "nodes": row.nodes,
            "ms": row.ms,
            "share_time": 100 * row.share_time,
            "gmacs": row.macs / 1e9 if row.macs else None,
            "share_macs": 100 * row.share_macs if row.macs else None,
            "padding": 100 * (1 - row.effective_macs / row.macs) if row.macs and row.effective_macs else None,
            "gflops": row.gflops,
            "pct_peak": row.pct_peak,
        }
        for row in profile.kinds
    ]


def caption(profile: LayerProfile) -> str:
    unit = rate_unit(profile.precision)
    peak = f"{profile.peak_gflops:.1f} {unit}" if profile.peak_gflops else "not calibrated"
    check = "" if profile.model_macs in (None, profile.macs) else f" (the zoo counts {profile.model_macs / 1e9:.3f})"
    if profile.effective_macs is None:
        rates = f"{unit} on every multiply-add (a format-1 document)"
    else:
        zoo = profile.model_effective_macs
        differs = "" if zoo in (None, profile.effective_macs) else f"; the zoo counts {zoo / 1e9:.3f}"
        effective = profile.effective_macs / 1e9
        rates = f"{unit} on the {effective:.3f} G effective MACs (taps over padding left out{differs})"
    return (
        f"{profile.model} · {profile.series}: {profile.threads} thread(s) on CPU(s) "
        f"{','.join(map(str, profile.cpus))}, median of "
        f"{profile.runs} profiled runs after {profile.warmup}; the layers sum to {profile.node_ms:.3f} ms (a whole "
        f"profiled run, the profiler's bookkeeping included, {profile.run_ms:.3f} ms) and {profile.macs / 1e9:.3f} G "
        f"MACs{check}; {rates}; measured {profile.precision} peak {peak}; {profile.runtime}"
    )


def render_layers(profiles: Sequence[LayerProfile], fmt: str) -> str:
    if fmt == "md":
        parts = []
        for profile in profiles:
            table = format_markdown_table(layer_rows(profile), layer_columns(profile))
            parts += [f"### {profile.model} · {profile.series}", "", caption(profile), "", table]
        return "\n".join(parts)
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=140)
    for profile in profiles:
        console.print(
            rich_table(layer_rows(profile), layer_columns(profile), title=f"{profile.model} · {profile.series}")
        )
        console.print(caption(profile))
    return out.getvalue()
