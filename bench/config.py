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
    _check_values(source, data)
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


def _check_values(source: Path, data: dict[str, Any]) -> None:
    """Type and range checks of the [latency] and [export] defaults, so a typo fails here with its key's name."""

    def bad(table: str, key: str, want: str) -> EffbenchError:
        return EffbenchError(f"invalid {source}: [{table}] {key} = {data[table][key]!r}; it must be {want}")

    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    latency = data.get("latency", {})
    if "threads" in latency and not (is_int(latency["threads"]) and latency["threads"] >= 1):
        raise bad("latency", "threads", "a whole number >= 1")
    if "precision" in latency and latency["precision"] not in ("fp32", "bf16"):
        raise bad("latency", "precision", '"fp32" or "bf16"')
    if "preset" in latency and latency["preset"] not in ("fast", "default", "rigorous"):
        raise bad("latency", "preset", '"fast", "default" or "rigorous"')
    backends = latency.get("backends")
    if backends is not None and not (
        isinstance(backends, str) or (isinstance(backends, list) and all(isinstance(b, str) for b in backends))
    ):
        raise bad("latency", "backends", 'a list of names, e.g. ["onnxruntime", "openvino"]')
    cpus = latency.get("cpus")
    if cpus is not None and not (
        isinstance(cpus, str) or (isinstance(cpus, list) and all(is_int(c) and c >= 0 for c in cpus))
    ):
        raise bad("latency", "cpus", 'a CPU list such as "1" or "2-3", or a list of CPU ids')
    export = data.get("export", {})
    if "opset" in export and not (is_int(export["opset"]) and export["opset"] > 0):
        raise bad("export", "opset", "a whole number such as 17")
    formats = export.get("formats")
    if formats is not None and not (
        isinstance(formats, list) and formats and all(f in ("onnx", "openvino") for f in formats)
    ):
        raise bad("export", "formats", 'a list drawn from "onnx" and "openvino"')
