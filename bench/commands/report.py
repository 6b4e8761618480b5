"""`effbench report`: result documents as tables, the paper's Tables 2-4 and plots; `--machines` merges machines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.commands.options import add_format, add_output
from bench.errors import EffbenchError

if TYPE_CHECKING:
    from bench.views.report_render import Rendered

FORMATS = ("term", "md", "csv", "html", "json")
MACHINE_FORMATS = ("md", "html", "json")
SUFFIXES = {"md": ".md", "html": ".html", "json": ".json", "csv": ".csv", "term": ".txt"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="tables, the paper's Tables 2-4 and plots from result documents",
        description="Render result documents: a latency table per cell with GFLOP/s and %% of the measured peak, "
        "the paper's Tables 2-4 beside the measurement, and plots (Markdown writes them beside the file, HTML "
        "embeds them). With --machines, documents of several machines become one hardware report. The same "
        "documents give byte-identical output.",
    )
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULT.json", help="result documents")
    parser.add_argument("--machines", action="store_true", help="merge documents of several machines")
    parser.add_argument("--reference", metavar="MACHINE", help="with --machines: the machine id speedups are against")
    parser.add_argument(
        "--layers", action="append", type=Path, default=[], metavar="FILE",
        help="with --machines: an `effbench layers --output` document to add as per-layer-kind %% of peak (repeat)",
    )  # fmt: skip
    add_format(parser, FORMATS, default=None, help="term (default on stdout), md, csv, html or json", short=True)
    add_output(parser, "write here (replaced if it exists: a report is a view)", metavar="PATH")
    parser.set_defaults(func=run_report)


def _format(args: argparse.Namespace) -> str:
    """--format, else the one --output's suffix names, else term (md with --machines); checked against --machines."""
    fmt = args.format
    if fmt is None and args.output is not None:
        fmt = next((f for f, suffix in SUFFIXES.items() if args.output.suffix == suffix and f != "term"), None)
    fmt = fmt or ("md" if args.machines else "term")
    if args.machines and fmt not in MACHINE_FORMATS:
        raise EffbenchError(f"--format {fmt} is not offered with --machines: use one of {', '.join(MACHINE_FORMATS)}")
    return fmt


def _render(args: argparse.Namespace, fmt: str) -> Rendered:
    """The documents (and --layers files) rendered as one report in `fmt`."""
    from bench.results import load_result

    docs = [(path, load_result(path)) for path in args.results]
    stem = args.output.stem if args.output is not None else None
    if args.machines:
        from bench.probes.layers import read_layers
        from bench.views.machines_data import build_machines_report
        from bench.views.machines_render import render_machines

        layers = [read_layers(path) for path in args.layers]
        report = build_machines_report(
            docs, args.reference, [(f.machine, f.profiles) for f in layers], [f.provenance for f in layers]
        )
        return render_machines(report, fmt, stem)
    machines = sorted({str(doc.machine.id) for _, doc in docs})
    if len(machines) > 1:
        raise EffbenchError(
            f"the documents come from {len(machines)} machines ({', '.join(machines)}): add --machines for a "
            "hardware report, or pass one machine's documents"
        )
    from bench.views.report_data import build_report
    from bench.views.report_render import render_report

    return render_report(build_report(docs), fmt, stem)


def run_report(args: argparse.Namespace) -> int:
    """Render the documents as one machine's report or, with --machines, a hardware report; print or write it."""
    from bench.fsio import replace_file

    if args.reference and not args.machines:
        raise EffbenchError("--reference needs --machines: add --machines, or drop --reference")
    if args.layers and not args.machines:
        raise EffbenchError("--layers needs --machines: add --machines, or drop --layers")
    fmt = _format(args)
    rendered = _render(args, fmt)
    if args.output is None:
        sys.stdout.write(rendered.text)
        if fmt == "md":
            print("effbench: note: plots are written only with --output", file=sys.stderr)
        return 0
    try:
        replace_file(args.output, rendered.text)
        for name, data in rendered.files.items():
            replace_file(args.output.parent / name, data)
    except OSError as exc:
        raise EffbenchError(f"cannot write {args.output}: {exc.strerror or exc}; choose a writable folder") from None
    extra = f" and {len(rendered.files)} plot files beside it" if rendered.files else ""
    print(f"effbench: report written to {args.output}{extra}", file=sys.stderr)
    return 0
