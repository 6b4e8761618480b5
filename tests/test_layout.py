"""The package's shape holds: few loose modules, short modules and functions, no re-imports inside functions.

The limits are the ones the engine redesign set (docs/DESIGN.md): a reader finds the architecture in the folders,
and no function or module grows past what one reading takes in.
"""

from __future__ import annotations

import ast
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
MAX_LOOSE_MODULES = 12
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(BENCH.rglob("*.py"))


def test_at_most_twelve_loose_modules() -> None:
    loose = [p.name for p in BENCH.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert len(loose) <= MAX_LOOSE_MODULES, sorted(loose)


def test_no_module_over_450_lines() -> None:
    long = {str(p.relative_to(BENCH)): n for p in _modules() if (n := p.read_text().count("\n")) > MAX_MODULE_LINES}
    assert not long


def test_no_function_over_80_lines() -> None:
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(BENCH)}:{node.name} ({lines} lines)")
    assert not long


def _top_level_modules(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_function_imports_a_module_its_file_already_imports() -> None:
    # Heavy runtimes are imported inside functions on purpose; a module the file imports at its top is not heavy.
    found = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        top = _top_level_modules(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    found += [f"{path.name}:{node.name} {a.name}" for a in inner.names if a.name in top]
                elif isinstance(inner, ast.ImportFrom) and inner.module in top:
                    found.append(f"{path.name}:{node.name} {inner.module}")
    assert not found


def test_engine_packages_import_nothing() -> None:
    # The workers import these packages before they pin themselves and set the thread variables.
    for package in ("engine", "probes"):
        tree = ast.parse((BENCH / package / "__init__.py").read_text())
        assert not [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)], package
