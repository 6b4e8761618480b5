"""The shape of bench/commands: one entry point per subcommand, named run_<command> and documented, shared options
from bench.commands.options, and no command module importing another."""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.cli import COMMAND_MODULES, build_parser

COMMANDS = Path(__file__).resolve().parents[1] / "bench" / "commands"


def subparsers(
    parser: argparse.ArgumentParser, prefix: str = "effbench"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from subparsers(sub, f"{prefix} {name}")


def test_every_command_module_is_registered() -> None:
    modules = {f"bench.commands.{p.stem}" for p in COMMANDS.glob("*.py") if p.stem not in {"__init__", "options"}}
    assert modules == set(COMMAND_MODULES)


@pytest.mark.parametrize("command", [name for name, _ in subparsers(build_parser())])
def test_entry_point_is_run_command_and_documented(command: str) -> None:
    parser = dict(subparsers(build_parser()))[command]
    func = parser.get_default("func")
    if func is None:  # only a group such as `effbench cache` may lack one: its subcommands have theirs
        assert any(isinstance(a, argparse._SubParsersAction) for a in parser._actions), f"{command}: no entry point"
        return
    words = command.split()[1:]
    expected = "run_" + "_".join(w.replace("-", "_") for w in words)
    assert func.__name__ == expected, f"{command}: entry point {func.__name__}, expected {expected}"
    assert func.__module__ in COMMAND_MODULES
    assert func.__doc__ and func.__doc__.strip(), f"{command}: {func.__name__} has no docstring"


@pytest.mark.parametrize("module", sorted(p.name for p in COMMANDS.glob("*.py")))
def test_no_command_imports_another(module: str) -> None:
    tree = ast.parse((COMMANDS / module).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    siblings = {m for m in imported if m.startswith("bench.commands") and m != "bench.commands.options"}
    assert not siblings, f"{module} imports {sorted(siblings)}: move what they share into options or bench.views"


@pytest.mark.parametrize("flag", ["--cache-dir", "--config"])
def test_a_shared_option_has_one_help_text(flag: str) -> None:
    helps = {
        action.help
        for _, parser in [("effbench", build_parser()), *subparsers(build_parser())]
        for action in parser._actions
        if flag in action.option_strings
    }
    assert len(helps) == 1, helps
