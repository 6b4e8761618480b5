"""bench.toml: project-wide settings (cache and results folders, latency defaults), validated on load."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import EffbenchError

CONFIG_NAME = "bench.toml"

# Known tables and keys; anything else is a typo the user wants to hear about.
_KNOWN: dict[str, set[str]] = {
    "paths": {"cache_dir", "results_dir"},
    "latency": {"threads", "backends", "precision", "preset", "cpus"},
    "export": {"opset", "formats"},
    "suite": set(),  # suites are free-form tables, validated by the suite runner
}


@dataclass(frozen=True)
class Config:
    """Settings read from bench.toml; paths are resolved relative to the file's folder."""

    root: Path
    cache_dir: Path
    results_dir: Path
    latency: dict[str, Any] = field(default_factory=dict)
    export: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None


def find_config(start: Path | None = None) -> Path | None:
    """The nearest bench.toml in `start` or one of its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def load_config(path: Path | None = None) -> Config:
    """Load bench.toml (the given file, else the nearest one, else defaults relative to the current folder)."""
    source = path if path is not None else find_config()
    if source is None:
        root = Path.cwd()
        return Config(root=root, cache_dir=root / "models", results_dir=root / "results")
    if not source.is_file():
        raise EffbenchError(f"config file {source} does not exist: pass an existing bench.toml or drop --config")
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EffbenchError(f"invalid {source}: {exc}; fix the TOML syntax") from None
    for table, value in data.items():
        if table not in _KNOWN:
            raise EffbenchError(f"invalid {source}: unknown table [{table}]; known tables: {', '.join(sorted(_KNOWN))}")
        if not isinstance(value, dict):
            raise EffbenchError(f"invalid {source}: '{table}' must be a table ([{table}])")
        allowed = _KNOWN[table]
        if allowed:
            for key in value:
                if key not in allowed:
                    raise EffbenchError(
                        f"invalid {source}: unknown key '{key}' in [{table}]; known keys: {', '.join(sorted(allowed))}"
                    )
    root = source.resolve().parent
    paths = data.get("paths", {})
    for key in ("cache_dir", "results_dir"):
        if key in paths and not isinstance(paths[key], str):
            raise EffbenchError(f"invalid {source}: [paths] {key} must be a string path")
    cache_dir = root / paths.get("cache_dir", "models")
    results_dir = root / paths.get("results_dir", "results")
    return Config(
        root=root,
        cache_dir=cache_dir,
        results_dir=results_dir,
        latency=dict(data.get("latency", {})),
        export=dict(data.get("export", {})),
        raw=data,
        source=source,
    )
