"""The options several commands share, each declared once with one help text, and the bench.toml a command reads.

bench.cli imports every command module at startup, and they import this one, so it imports only light modules
(bench.config, bench.errors, bench.vocab); bench.compare is imported inside verdict_settings.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bench.config import Config, load_config
from bench.errors import EffbenchError
from bench.vocab import PRECISIONS

if TYPE_CHECKING:
    from bench.compare import CompareSettings

CONFIG_HELP = "bench.toml to use (default: the nearest one)"
CPUS_HELP = "CPUs to pin to, e.g. 1 or 2-3 (default: chosen)"
RESULT_HELP = "result document path (never overwritten)"

# The exit codes of `effbench compare` and `effbench ab`, printed under their --help.
EXIT_HELP = """\
exit codes (noise may weaken "no change", never hide a regression):
  0  no regression (improvements, no change, and without --strict inconclusive or noisy cells)
  1  a regression (whatever the busy-CPU or steal-time warnings, unless they hit NEW more than BASE), or a
     cell that newly fails
  2  bad input: a missing, unreadable, truncated or newer-format file, no common cells, another machine
  3  undecided, and no regression: suspect (two runs: slower while only NEW was busy, or neither slower nor
     faster while only BASE was), re-run needed (effbench ab: the same, with interference on one arm's
     processes in more blocks than on the other's), or with --strict an inconclusive or noisy cell
"""


# ---------------------------------------------------------------------------------------------------- bench.toml


def add_config(parser: argparse.ArgumentParser, *, after_command: bool = False) -> None:
    """--config FILE. `after_command`: a subcommand's copy, which leaves `effbench --config FILE CMD` standing
    (its default is argparse.SUPPRESS, so the value given before the subcommand is kept)."""
    default = argparse.SUPPRESS if after_command else None
    parser.add_argument("--config", metavar="FILE", default=default, help=CONFIG_HELP)


def command_config(args: argparse.Namespace) -> Config:
    """The bench.toml a command reads: the file --config names, else the nearest one, else the defaults."""
    path = getattr(args, "config", None)
    return load_config(Path(path) if path else None)


def add_cache_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="artifact cache folder (default: bench.toml [paths] cache_dir, or models/)",
    )


def cache_dir(args: argparse.Namespace, config: Config | None = None) -> Path:
    """--cache-dir, else bench.toml's [paths] cache_dir (`config`, when the command has read it already)."""
    if args.cache_dir:
        return Path(args.cache_dir)
    return (config or command_config(args)).cache_dir


# ---------------------------------------------------------------------------------------------------- what to measure


def add_models(parser: argparse.ArgumentParser, *, help: str, metavar: str = "MODEL", short: bool = True) -> None:
    """--model (repeatable, at least one)."""
    flags = ("--model", "-m") if short else ("--model",)
    parser.add_argument(*flags, action="append", required=True, metavar=metavar, help=help)


def add_backends(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        "-b",
        action="append",
        metavar="NAME",
        help="torch, onnxruntime, openvino, inductor (repeatable or comma list; default: every installed one but "
        "inductor, which compiles for minutes)",
    )


def add_threads(
    parser: argparse.ArgumentParser,
    *,
    help: str = "threads per runtime, on N physical cores",
    default: int | None = None,
    short: bool = True,
) -> None:
    flags = ("--threads", "-t") if short else ("--threads",)
    parser.add_argument(*flags, type=int, default=default, metavar="N", help=help)


def add_cpus(parser: argparse.ArgumentParser, help: str = CPUS_HELP) -> None:
    parser.add_argument("--cpus", metavar="LIST", help=help)


def add_precision(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        action="append",
        metavar="LIST",
        help=f"{', '.join(PRECISIONS)}, comma-separated or repeated to measure them side by side, interleaved "
        "(default fp32; bf16 where supported; int8: the model quantized once, see README)",
    )


def add_processes(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--processes", type=int, metavar="N", help=help)


def add_seed(parser: argparse.ArgumentParser, what: str = "input") -> None:
    parser.add_argument("--seed", type=int, default=0, help=f"seed of the random weights and {what} (default 0)")


def add_weights(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", metavar="FILE", help="state dict (.safetensors or torch.save) for zoo models")


def add_input_shape(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input-shape",
        metavar="DIMS",
        help="input shape for a user file with dynamic dims, e.g. 1,3,224,224 (a dynamic batch alone becomes 1)",
    )


def add_bundle(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--bundle", type=Path, metavar="DIR", help=help)


# ---------------------------------------------------------------------------------------------------- output


def add_output(parser: argparse.ArgumentParser, help: str = RESULT_HELP, metavar: str = "FILE") -> None:
    """--output/-o: a result document (never overwritten) unless `help` says otherwise."""
    parser.add_argument("--output", "-o", type=Path, metavar=metavar, help=help)


def add_format(
    parser: argparse.ArgumentParser,
    choices: tuple[str, ...],
    *,
    default: str | None,
    help: str | None = None,
    short: bool = False,
) -> None:
    """--format with `choices`; the help names the default unless `help` is given."""
    flags = ("--format", "-f") if short else ("--format",)
    text = help or f"output format (default: {default})"
    parser.add_argument(*flags, choices=choices, default=default, help=text)


def add_json(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--json", action="store_true", help=help)


# ---------------------------------------------------------------------------------------------------- verdicts


def add_verdict_options(parser: argparse.ArgumentParser) -> None:
    """The options compare and ab share: what counts as a change, and how to print it."""
    parser.add_argument("--threshold", default="5%", metavar="PCT", help="smallest change that matters (default 5%%)")
    parser.add_argument("--floor-ms", type=float, default=None, metavar="MS",
                        help="absolute floor: differences below it never count (default 0.02 ms)")  # fmt: skip
    parser.add_argument("--alpha", default="0.05", metavar="A", help="significance level per family (default 0.05)")
    parser.add_argument(
        "--correction",
        choices=("holm", "bh", "none"),
        default="holm",
        help="multiple-comparison control across cells: holm (family-wise, default), bh (FDR)",
    )
    add_format(parser, ("term", "md", "json"), default="term", help="output format", short=True)
    parser.add_argument("--strict", action="store_true", help="exit 3 also when a cell is inconclusive or noisy")


def parse_fraction(text: str, what: str, *, below: float | None = None) -> float:
    """'5%' or '0.05' as 0.05; EffbenchError naming the option for anything else, a negative value, or (when
    `below` is given) a value not below it."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise EffbenchError(
            f"{what} {text!r} is not a number: give a fraction like 0.05 or a percentage like 5%"
        ) from None
    if not value >= 0.0 or (below is not None and value >= below):  # `not >=` also refuses nan
        limit = f" below {below:g}" if below is not None else ""
        raise EffbenchError(f"{what} {text!r} is out of range: give a fraction{limit} like 0.05 or 5%")
    return value


def verdict_settings(args: argparse.Namespace) -> CompareSettings:
    """The verdict options as bench.compare's settings (a bad value fails here, before anything is read)."""
    from bench.compare import CompareSettings
    from bench.compare.verdict import DEFAULT_FLOOR_MS

    return CompareSettings(
        threshold=parse_fraction(args.threshold, "--threshold"),
        floor_ms=DEFAULT_FLOOR_MS if args.floor_ms is None else args.floor_ms,
        alpha=parse_fraction(args.alpha, "--alpha"),
        correction=args.correction,
    )
