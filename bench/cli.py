"""The `effbench` command line: one subcommand per module, user errors as one line and exit code 2."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bench import __version__
from bench.commands.options import add_config
from bench.errors import EffbenchError

# Each module has `register(subparsers)`, which adds its parser and sets `func` to its entry point
# `run_<command>(args) -> int` (exit code); shared options come from bench.commands.options. They are imported
# here, so none of them may import torch/onnxruntime/openvino at module level.
COMMAND_MODULES = (
    "bench.commands.models",
    "bench.commands.export",
    "bench.commands.cache",
    "bench.commands.latency",
    "bench.commands.run",
    "bench.commands.suites",
    "bench.commands.system",
    "bench.commands.export_pyperf",
    "bench.commands.report",
    "bench.commands.compare",
    "bench.commands.ab",
    "bench.commands.history",
    "bench.commands.layers",
    "bench.commands.export_ci",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse already exits 2; keep it to one line naming the problem and pointing at --help.
        self.exit(2, f"effbench: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="effbench",
        description="Honest CPU batch-1 inference latency: EfficientNet and baselines on PyTorch, "
        "ONNX Runtime and OpenVINO.",
    )
    parser.add_argument("--version", action="version", version=f"effbench {__version__}")
    add_config(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EffbenchError as exc:
        print(f"effbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("effbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
