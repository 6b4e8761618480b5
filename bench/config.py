"""bench.toml: project-wide settings (cache and results folders, latency defaults), validated on load."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import EffbenchError, did_you_mean
from bench.vocab import FORMATS, PRECISIONS, preset_names

CONFIG_NAME = "bench.toml"
# The history database's file name when [paths] history_db does not give one: beside the documents it indexes.
HISTORY_DB_NAME = "history.sqlite"
# Where the export cache goes when bench.toml does not say: models/ in effbench's own checkout (beside the results
# it publishes), else the user's cache folder as the XDG base directory spec has it, so that an effbench installed
# into a project's CI or onto a benchmark machine keeps gigabytes of exports out of the project's folder.
CHECKOUT_CACHE = "models"
CACHE_SUBDIR = "effbench"
CACHE_FROM_CONFIG = "bench.toml [paths] cache_dir"

# Known tables and keys; anything else is a typo the user wants to hear about.
_KNOWN: dict[str, set[str]] = {
    "paths": {"cache_dir", "results_dir", "history_db"},
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
    history_db: Path  # `effbench history`'s database (default results_dir/history.sqlite)
    latency: dict[str, Any] = field(default_factory=dict)
    export: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None
    # Why cache_dir is where it is (`effbench system` prints it): bench.toml, effbench's checkout, the user cache.
    cache_origin: str = CACHE_FROM_CONFIG


def effbench_checkout() -> Path | None:
    """The effbench checkout this effbench runs from, or None for an installed one (a wheel or an sdist).

    A checkout is the folder above the bench package that holds effbench's pyproject.toml and a .git (a folder, or
    a file in a git worktree): an installed package sits in site-packages with neither beside it.
    """
    root = Path(__file__).resolve().parent.parent
    if (root / ".git").exists() and (root / "pyproject.toml").is_file():
        return root
    return None


def default_cache_dir(folder: Path) -> tuple[Path, str]:
    """The export cache for a project in `folder` whose bench.toml names none, and why it is there: models/ of
    effbench's own checkout when `folder` is inside it, else $XDG_CACHE_HOME/effbench (~/.cache/effbench)."""
    checkout = effbench_checkout()
    if checkout is not None and folder.resolve().is_relative_to(checkout):
        return checkout / CHECKOUT_CACHE, f"effbench's checkout ({CHECKOUT_CACHE}/)"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The spec says a relative $XDG_CACHE_HOME is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / CACHE_SUBDIR, "the user cache folder ($XDG_CACHE_HOME/effbench, else ~/.cache/effbench)"


def find_config(start: Path | None = None) -> Path | None:
    """The nearest bench.toml in `start` or one of its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def load_config(path: Path | None = None) -> Config:
    """Load bench.toml (the given file, else the nearest one, else the defaults: results in ./results, the export
    cache as default_cache_dir says)."""
    source = path if path is not None else find_config()
    if source is None:
        root = Path.cwd()
        cache_dir, cache_origin = default_cache_dir(root)
        return Config(
            root=root,
            cache_dir=cache_dir,
            results_dir=root / "results",
            history_db=root / "results" / HISTORY_DB_NAME,
            cache_origin=cache_origin,
        )
    if not source.is_file():
        raise EffbenchError(f"config file {source} does not exist: pass an existing bench.toml or drop --config")
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EffbenchError(f"invalid {source}: {exc}; fix the TOML syntax") from None
    for table, value in data.items():
        if table not in _KNOWN:
            raise EffbenchError(
                f"invalid {source}: unknown table [{table}]{did_you_mean(table, _KNOWN)}; "
                f"known tables: {', '.join(sorted(_KNOWN))}"
            )
        if not isinstance(value, dict):
            raise EffbenchError(f"invalid {source}: '{table}' must be a table ([{table}])")
        allowed = _KNOWN[table]
        if allowed:
            for key in value:
                if key not in allowed:
                    raise EffbenchError(
                        f"invalid {source}: unknown key '{key}' in [{table}]{did_you_mean(key, allowed)}; "
                        f"known keys: {', '.join(sorted(allowed))}"
                    )
    _check_values(source, data)
    root = source.resolve().parent
    paths = data.get("paths", {})
    for key in ("cache_dir", "results_dir", "history_db"):
        if key in paths and not isinstance(paths[key], str):
            raise EffbenchError(f"invalid {source}: [paths] {key} must be a string path")
    cache_dir, cache_origin = (
        (root / paths["cache_dir"], CACHE_FROM_CONFIG) if "cache_dir" in paths else default_cache_dir(root)
    )
    results_dir = root / paths.get("results_dir", "results")
    history_db = root / paths["history_db"] if "history_db" in paths else results_dir / HISTORY_DB_NAME
    return Config(
        root=root,
        cache_dir=cache_dir,
        results_dir=results_dir,
        history_db=history_db,
        latency=dict(data.get("latency", {})),
        export=dict(data.get("export", {})),
        raw=data,
        source=source,
        cache_origin=cache_origin,
    )


def _one_of(words: tuple[str, ...], conjunction: str = "or") -> str:
    """'"a", "b" or "c"': the allowed words as a message lists them."""
    quoted = [f'"{w}"' for w in words]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} {conjunction} {quoted[-1]}"


def _check_values(source: Path, data: dict[str, Any]) -> None:
    """Type and range checks of the [latency] and [export] defaults, so a typo fails here with its key's name.

    The allowed words come from bench.vocab and the backend registry, the same lists the command line uses.
    """

    def bad(table: str, key: str, want: str, guess: str = "") -> EffbenchError:
        return EffbenchError(f"invalid {source}: [{table}] {key} = {data[table][key]!r}{guess}; it must be {want}")

    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def guess(value: Any, words: tuple[str, ...] | list[str]) -> str:
        return did_you_mean(value, words) if isinstance(value, str) else ""

    latency = data.get("latency", {})
    if "threads" in latency and not (is_int(latency["threads"]) and latency["threads"] >= 1):
        raise bad("latency", "threads", "a whole number >= 1")
    if "precision" in latency and latency["precision"] not in PRECISIONS:
        # No "did you mean" here: the nearest spelling of fp16 is bf16, a different number format.
        raise bad("latency", "precision", _one_of(PRECISIONS))
    presets = preset_names()
    if "preset" in latency and latency["preset"] not in presets:
        raise bad("latency", "preset", _one_of(presets), guess(latency["preset"], presets))
    backends = latency.get("backends")
    if backends is not None:
        _check_backends(backends, bad)
    cpus = latency.get("cpus")
    if cpus is not None and not (
        isinstance(cpus, str) or (isinstance(cpus, list) and all(is_int(c) and c >= 0 for c in cpus))
    ):
        raise bad("latency", "cpus", 'a CPU list such as "1" or "2-3", or a list of CPU ids')
    export = data.get("export", {})
    if "opset" in export and not (is_int(export["opset"]) and export["opset"] > 0):
        raise bad("export", "opset", "a whole number such as 17")
    formats = export.get("formats")
    if formats is not None:
        want = f"a list drawn from {_one_of(FORMATS, 'and')}"
        if not (isinstance(formats, list) and formats and all(isinstance(f, str) for f in formats)):
            raise bad("export", "formats", want)
        for fmt in formats:
            if fmt not in FORMATS:
                raise bad("export", "formats", want, f" ('{fmt}' is not a format{did_you_mean(fmt, FORMATS)})")


def _check_backends(backends: Any, bad: Callable[..., EffbenchError]) -> None:
    """[latency] backends: a list of names (or one comma-separated string) that the backend registry knows."""
    from bench.backends import canonical_name, user_backends

    want = f'a list of names drawn from {", ".join(user_backends())}, e.g. ["onnxruntime", "openvino"]'
    if isinstance(backends, str):
        names = [part.strip() for part in backends.split(",") if part.strip()]
    elif isinstance(backends, list) and all(isinstance(b, str) for b in backends):
        names = list(backends)
    else:
        raise bad("latency", "backends", want)
    for name in names:
        try:
            canonical_name(name)
        except EffbenchError:
            raise bad(
                "latency", "backends", want, f" ('{name}' is not a backend{did_you_mean(name, user_backends())})"
            ) from None
