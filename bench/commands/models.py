"""`effbench models`: every model with its resolution, exact params and MACs, beside the paper's figures."""

from __future__ import annotations

import argparse
from typing import Any

from bench.commands.options import add_format
from bench.errors import EffbenchError
from bench.views.console import print_rows
from bench.views.tables import FORMATS, Column
from bench.zoo import ModelSpec, check_countable, list_models, resolve_model
from bench.zoo.effective import effective_macs

COLUMNS = (
    Column("name", "model", align="left"),
    Column("resolution", "res"),
    Column("params", "params", "{:,}"),
    Column("macs_g", "MACs (G)", "{:.3f}"),
    Column("padding_pct", "on padding", "{:.1f}%"),
    Column("paper_table", "paper", align="left"),
    Column("paper_params_m", "paper params (M)", "{:g}"),
    Column("paper_flops_b", "paper FLOPs (B)", "{:g}"),
    Column("flops_vs_paper_pct", "ours vs paper", "{:+.1f}%"),
    Column("paper_top1", "paper top-1", "{:.1f}"),
)


def model_row(spec: ModelSpec) -> dict[str, Any]:
    paper = spec.paper
    macs_g = spec.macs / 1e9
    effective = effective_macs(spec)
    return {
        "name": spec.name,
        "family": spec.family,
        "resolution": spec.resolution,
        "width": round(spec.width, 6),
        "depth": round(spec.depth, 6),
        "params": spec.params,
        "macs": spec.macs,
        "macs_g": macs_g,
        "effective_macs": effective,
        "padding_pct": 100 * (1 - effective / spec.macs) if spec.macs else None,
        "paper_table": paper.table if paper else None,
        "paper_params_m": paper.params_m if paper else None,
        "paper_flops_b": paper.flops_b if paper else None,
        "flops_vs_paper_pct": (macs_g / paper.flops_b - 1) * 100 if paper and paper.flops_b else None,
        "paper_top1": paper.top1 if paper else None,
        "paper_top1_v5": paper.top1_v5 if paper else None,
    }


def _select(pattern: str | None) -> list[ModelSpec]:
    if pattern and ":" in pattern:
        spec = resolve_model(pattern)
        check_countable(spec)  # a spec a billion blocks deep is refused instead of counted for hours
        return [spec]
    specs = list_models(pattern)
    if not specs:
        if pattern and not any(ch in pattern for ch in "*?["):
            return [resolve_model(pattern)]  # an alias or an unknown name: resolve explains which
        raise EffbenchError(f"no model matches '{pattern}': try a glob such as 'efficientnet_*' or drop the filter")
    return specs


def run_models(args: argparse.Namespace) -> int:
    """Print the models matching the pattern (all without one) with their sizes beside the paper's figures."""
    rows = [model_row(spec) for spec in _select(args.pattern)]
    print_rows(
        rows,
        COLUMNS,
        args.format,
        title="effbench models (MACs = multiply-adds, the paper's FLOPs; "
        "on padding = the share of them on convolutions' zero padding)",
    )
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list models with params, MACs and the paper's figures",
        description="List every model (or those matching a glob, or one scaling spec such as efficientnet:phi=2.5) "
        "with its resolution, exact parameter count and MACs, beside the paper's params, FLOPs and top-1.",
    )
    parser.add_argument("pattern", nargs="?", help="glob on model names ('efficientnet_*') or a model spec")
    add_format(parser, FORMATS, default="table")
    parser.set_defaults(func=run_models)
