"""Where suites come from: the ones effbench ships (package data) and a project's bench.toml, which adds its own."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from bench.config import Config, find_config
from bench.errors import EffbenchError

# Package data (pyproject's [tool.setuptools.package-data]), so an installed effbench runs them from any folder.
SHIPPED_FILE = "shipped.toml"
SHIPPED = "shipped"  # the source a listing shows for a shipped suite


@dataclass(frozen=True)
class SuiteTable:
    """One [suite.NAME] table as read (bench.suite.definition.load_suite checks it) and where it came from."""

    name: str
    table: Any
    root: Path  # the folder its relative paths start from
    source: Path | None  # the bench.toml that defines it; None: shipped with effbench
    overrides_shipped: bool = False  # a project's suite under a shipped suite's name

    @property
    def origin(self) -> str:
        """'shipped', or the bench.toml's path (with the shipped suite it replaces, if any)."""
        if self.source is None:
            return SHIPPED
        return f"{self.source} (overrides the shipped one)" if self.overrides_shipped else str(self.source)


@dataclass(frozen=True)
class Catalog:
    """Every suite this command can run, shipped ones first (in the shipped file's order), then the project's."""

    tables: dict[str, SuiteTable]
    project: Path | None  # the bench.toml read, if any

    def describe(self) -> str:
        """The sources for an error message: 'shipped: a, b; bench.toml: c'."""
        parts = [f"{SHIPPED}: {', '.join(n for n, t in self.tables.items() if t.source is None)}"]
        own = [n for n, t in self.tables.items() if t.source is not None]
        if own:
            parts.append(f"{self.project}: {', '.join(own)}")
        return "; ".join(parts)


@cache
def shipped_tables() -> dict[str, Any]:
    """The shipped [suite.*] tables, read once per process."""
    text = resources.files("bench.suite").joinpath(SHIPPED_FILE).read_text(encoding="utf-8")
    return dict(tomllib.loads(text)["suite"])


def read_toml(path: Path) -> dict[str, Any]:
    """A bench.toml named on the command line, or an error that says how to fix it."""
    if not path.is_file():
        raise EffbenchError(f"config file {path} does not exist: pass an existing bench.toml with --config")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EffbenchError(f"invalid {path}: {exc}; fix the TOML syntax") from None


def suite_catalog(config: Path | str | Config | None) -> Catalog:
    """The shipped suites, with the [suite.*] tables of `config` (a bench.toml path, a loaded Config, or None: the
    nearest bench.toml, if there is one) added or put in place of the shipped suite of the same name."""
    if config is None:
        config = find_config()
    source: Path | None = None
    data: dict[str, Any] = {}
    root = Path.cwd()
    if isinstance(config, (str, Path)):
        source = Path(config)
        data, root = read_toml(source), source.resolve().parent
    elif config is not None:
        data, root, source = config.raw, config.root, config.source
    own = data.get("suite", {})
    if not isinstance(own, dict):
        raise EffbenchError(f"invalid {source}: 'suite' must hold tables ([suite.NAME])")
    package = Path(str(resources.files("bench.suite")))
    tables = {name: SuiteTable(name, table, package, None) for name, table in shipped_tables().items()}
    for name, table in own.items():
        tables[name] = SuiteTable(name, table, root, source, overrides_shipped=name in tables)
    return Catalog(tables, source)
