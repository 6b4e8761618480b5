"""Named suites (shipped, or a bench.toml's [suite.NAME] tables): validated on load, expanded into cells to measure.

A suite is a matrix: models (zoo names, globs, specs, .onnx/.xml files, export or bundle folders) x backends x
precisions (per backend if wanted) x thread counts, with a measurement preset, an output folder and optional CPUs.
The matrix never depends on the machine; `Suite.cells` marks the cells this machine cannot run (a runtime not
installed, a precision the backend does not offer, bf16 on a CPU without AVX-512 BF16 or AMX) as skipped with
the reason, so every machine reports the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import EffbenchError, did_you_mean
from bench.suite.catalog import suite_catalog
from bench.vocab import PRECISIONS

if TYPE_CHECKING:
    from bench.config import Config

# bf16 = "if-supported": bf16 cells on a CPU without native bf16 are skipped with the reason (a runtime would
# emulate it or silently run fp32, and the row would lie); "always": measured anyway, the runtime's effective
# precision says what ran.
BF16_MODES = ("if-supported", "always")
GLOB_CHARS = "*?["

# Every key a [suite.NAME] table may hold, with the type text an error shows.
SUITE_KEYS: dict[str, str] = {
    "description": "a string",
    "models": 'a non-empty list of model names, globs, specs or files, e.g. ["efficientnet_b*", "resnet50"]',
    "backends": 'a list of backend names, e.g. ["onnxruntime", "openvino"]',
    "threads": "a whole number >= 1 or a list of them, e.g. [1, 2]",
    "precisions": 'a list drawn from "fp32", "bf16" and "int8", or a table per backend, e.g. '
    '{openvino = ["fp32", "int8"]}',
    "preset": "a preset name",
    "output": "a folder path (relative to bench.toml)",
    "cpus": 'a CPU list such as "1" or "2-3", or a list of CPU ids',
    "bf16": '"if-supported" or "always"',
}


@dataclass(frozen=True)
class SuiteCell:
    """One cell of a suite's matrix; `skip_reason` set: reported as skipped, never launched."""

    model: str  # a zoo name or spec (canonical), or an absolute path to a model file or export folder
    backend: str
    precision: str
    threads: int
    skip_reason: str | None = None


@dataclass(frozen=True)
class Suite:
    """A validated [suite.NAME] table, models expanded (globs, bundles) and de-duplicated in order."""

    name: str
    description: str
    models: tuple[str, ...]
    backends: tuple[str, ...]
    precisions: tuple[tuple[str, tuple[str, ...]], ...]  # (backend, its precisions), in backend order
    threads: tuple[int, ...]
    preset: str
    output: Path | None  # None: bench.toml's [paths] results_dir
    cpus: tuple[int, ...] | None  # None: the runner chooses
    bf16: str
    source: Path | None = None  # the bench.toml that defines it; None: shipped with effbench
    overrides_shipped: bool = False  # a project's suite under a shipped suite's name (not recorded: it is the file's)

    def precisions_for(self, backend: str) -> tuple[str, ...]:
        return dict(self.precisions).get(backend, ())

    def to_dict(self) -> dict[str, Any]:
        """The definition as run (models expanded), for the result document's record of what was asked."""
        return {
            "name": self.name,
            "description": self.description,
            "models": list(self.models),
            "backends": list(self.backends),
            "precisions": {backend: list(names) for backend, names in self.precisions},
            "threads": list(self.threads),
            "preset": self.preset,
            "output": str(self.output) if self.output is not None else None,
            "cpus": list(self.cpus) if self.cpus is not None else None,
            "bf16": self.bf16,
            "source": str(self.source) if self.source is not None else None,
            **({"shipped": True} if self.source is None else {}),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Suite:
        """The suite back from `to_dict()` (as a result document stores it), with no config file involved."""
        if not isinstance(data, dict):
            raise EffbenchError("the suite definition is not a table: the result document is damaged")
        try:
            return cls(
                name=str(data["name"]),
                description=str(data.get("description") or ""),
                models=tuple(str(m) for m in data["models"]),
                backends=tuple(str(b) for b in data["backends"]),
                precisions=tuple((str(b), tuple(str(p) for p in names)) for b, names in data["precisions"].items()),
                threads=tuple(int(t) for t in data["threads"]),
                preset=str(data["preset"]),
                output=Path(data["output"]) if data.get("output") is not None else None,
                cpus=tuple(int(c) for c in data["cpus"]) if data.get("cpus") is not None else None,
                bf16=str(data.get("bf16") or "if-supported"),
                source=Path(data["source"]) if data.get("source") is not None else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EffbenchError(
                f"the suite definition lacks or garbles {exc}: the result document is damaged"
            ) from None

    def cells(
        self,
        cpu_flags: Collection[str] | None = None,
        installed: Callable[[str], bool] | None = None,
    ) -> list[SuiteCell]:
        """The matrix model x backend x precision x threads, in that nesting order.

        `cpu_flags` (e.g. the machine metadata's cpu.flags) decides bf16 support; read from this machine when
        None and a bf16 cell needs it. `installed(backend)` defaults to bench.backends.is_installed.
        """
        from bench.backends import get_backend, install_hint, is_installed

        present = installed or is_installed
        bf16_reason: str | None = None
        if self.bf16 == "if-supported" and any("bf16" in p for _, p in self.precisions):
            from bench.probes.calibrate import bf16_unsupported, read_cpu_description

            flags = cpu_flags if cpu_flags is not None else read_cpu_description().flags
            bf16_reason = bf16_unsupported(flags)
        backend_skip: dict[tuple[str, str], str | None] = {}
        for backend in self.backends:
            for precision in self.precisions_for(backend):
                reason = None
                if not present(backend):
                    reason = f"{backend} is not installed ({install_hint(backend)})"
                if reason is None:
                    reason = get_backend(backend).supports_precision(precision)
                if reason is None and precision == "bf16":
                    reason = bf16_reason
                backend_skip[backend, precision] = reason
        return [
            SuiteCell(model, backend, precision, threads, backend_skip[backend, precision])
            for model in self.models
            for backend in self.backends
            for precision in self.precisions_for(backend)
            for threads in self.threads
        ]


def toolchain_problem(cell: SuiteCell) -> str | None:
    """Why this machine cannot make what the cell loads, the rest of the suite still running: no C++ compiler for
    an inductor cell, no ONNX Runtime quantizer (OpenVINO alone) for an int8 one."""
    if cell.backend == "inductor":
        from bench.export.aot import compiler_problem

        return compiler_problem()
    if cell.precision == "int8":
        from bench.export.quantize import quantizer_problem

        return quantizer_problem(cell.model)
    return None


# -------------------------------------------------------------------------------------------- loading


def list_suites(config: Path | str | Config | None = None) -> list[str]:
    """Every suite name `config` can run: the shipped ones, then those its bench.toml adds."""
    return list(suite_catalog(config).tables)


def load_suite(config: Path | str | Config | None, name: str) -> Suite:
    """The suite `name` from `config` (a bench.toml path, a loaded Config, or None: the nearest bench.toml), or the
    shipped suite of that name when the bench.toml does not define one."""
    catalog = suite_catalog(config)
    if name not in catalog.tables:
        raise EffbenchError(
            f"unknown suite '{name}'{did_you_mean(name, catalog.tables)} ({catalog.describe()}; "
            f"add a [suite.{name}] table to bench.toml for a suite of your own)"
        )
    entry = catalog.tables[name]
    root, source = entry.root, entry.source
    where = f"invalid {source or 'shipped suite'}: [suite.{name}]"
    table = entry.table
    if not isinstance(table, dict):
        raise EffbenchError(f"{where} must be a table")
    for key in table:
        if key not in SUITE_KEYS:
            raise EffbenchError(
                f"{where} unknown key '{key}'{did_you_mean(key, SUITE_KEYS)} (known keys: {', '.join(SUITE_KEYS)})"
            )
    check = _Checker(where, table)
    backends = check.backends()
    threads = check.threads()
    cpus = check.cpus()
    if cpus is not None and max(threads) > len(cpus):
        raise EffbenchError(
            f"{where} threads = {max(threads)} needs as many CPUs but cpus lists {len(cpus)}: "
            "list more CPUs or fewer threads"
        )
    output = table.get("output")
    return Suite(
        name=name,
        description=check.string("description", ""),
        models=check.models(root),
        backends=backends,
        precisions=check.precisions(backends),
        threads=threads,
        preset=check.preset(),
        output=root / check.string("output", "") if output is not None else None,
        cpus=cpus,
        bf16=check.choice("bf16", BF16_MODES, "if-supported"),
        source=source,
        overrides_shipped=entry.overrides_shipped,
    )


class _Checker:
    """Type checks of one suite table; every error is one line naming the key and what it must be."""

    def __init__(self, where: str, table: dict[str, Any]) -> None:
        self.where = where
        self.table = table

    def bad(self, key: str, detail: str = "") -> EffbenchError:
        value = self.table[key]
        return EffbenchError(f"{self.where} {key} = {value!r}: {detail or 'it must be ' + SUITE_KEYS[key]}")

    def string(self, key: str, default: str) -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str):
            raise self.bad(key)
        return value

    def choice(self, key: str, allowed: Collection[str], default: str) -> str:
        value = self.string(key, default)
        if value not in allowed:
            options = ", ".join(f'"{a}"' for a in allowed)
            raise self.bad(key, f"it must be one of {options}{did_you_mean(value, allowed)}")
        return value

    def strings(self, key: str, value: Any) -> list[str]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            raise self.bad(key)
        return [i.strip() for i in items]

    def preset(self) -> str:
        from bench.engine.policy import PRESETS

        return self.choice("preset", PRESETS, "default")

    def threads(self) -> tuple[int, ...]:
        value = self.table.get("threads", 1)
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 1 for t in items):
            raise self.bad("threads")
        return tuple(dict.fromkeys(items))

    def cpus(self) -> tuple[int, ...] | None:
        if "cpus" not in self.table:
            return None
        from bench.machine import parse_cpus_option

        value = self.table["cpus"]
        if isinstance(value, str):
            try:
                return tuple(parse_cpus_option(value))
            except EffbenchError:
                raise self.bad("cpus") from None
        if isinstance(value, list) and value and all(type(c) is int and c >= 0 for c in value):
            return tuple(sorted(set(value)))
        raise self.bad("cpus")

    def backend_name(self, key: str, name: str) -> str:
        from bench.backends import canonical_name

        try:
            return canonical_name(name)
        except EffbenchError as exc:
            raise self.bad(key, str(exc)) from None

    def backends(self) -> tuple[str, ...]:
        from bench.backends import backend_class, user_backends

        key = "backends"
        if key not in self.table:
            if not isinstance(self.table.get("precisions"), dict):
                return tuple(name for name in user_backends() if backend_class(name).by_default)  # not inductor
            key, names = "precisions", list(self.table["precisions"])  # a per-backend table names the backends
        else:
            names = self.strings(key, self.table[key])
            if not names:
                raise self.bad(key, "it is empty: name at least one backend, or drop the key for the default ones")
        return tuple(dict.fromkeys(self.backend_name(key, n) for n in names))

    def precision_list(self, key: str, value: Any) -> tuple[str, ...]:
        names = self.strings(key, value)
        if not names:
            raise self.bad(key, "it is empty: list at least one of fp32, bf16, int8")
        for name in names:
            if name not in PRECISIONS:
                raise self.bad(
                    key, f"unknown precision '{name}'{did_you_mean(name, PRECISIONS)} (known: {', '.join(PRECISIONS)})"
                )
        return tuple(dict.fromkeys(names))

    def precisions(self, backends: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
        value = self.table.get("precisions", ["fp32"])
        if not isinstance(value, dict):
            shared = self.precision_list("precisions", value)
            return tuple((b, shared) for b in backends)
        per_backend: dict[str, tuple[str, ...]] = {}
        for name, names in value.items():
            backend = self.backend_name("precisions", name)
            if backend not in backends:
                raise self.bad("precisions", f"'{name}' is not one of the suite's backends ({', '.join(backends)})")
            per_backend[backend] = self.precision_list("precisions", names)
        # A backend the table leaves out runs fp32, the precision every backend offers.
        return tuple((b, per_backend.get(b, ("fp32",))) for b in backends)

    def models(self, root: Path) -> tuple[str, ...]:
        if "models" not in self.table:
            raise EffbenchError(f'{self.where} has no models: add models = [...], e.g. models = ["b0"]')
        entries = self.strings("models", self.table["models"])
        if not entries:
            raise self.bad("models", 'it is empty: list at least one model, e.g. ["b0"]')
        expanded: list[str] = []
        for entry in entries:
            for model in self.expand_model(entry, root):
                if model not in expanded:
                    expanded.append(model)
        return tuple(expanded)

    def expand_model(self, entry: str, root: Path) -> list[str]:
        from bench.export import looks_like_path
        from bench.zoo import REGISTRY, list_models, resolve_model

        if looks_like_path(entry) or (root / entry).exists():
            return self.model_path(entry, root)
        if any(c in entry for c in GLOB_CHARS):
            matched = [spec.name for spec in list_models(entry)]
            if not matched:
                bare = entry.strip(GLOB_CHARS)
                raise self.bad(
                    "models", f"'{entry}' matches no model{did_you_mean(bare, REGISTRY)} ('effbench models')"
                )
            return matched
        try:
            return [resolve_model(entry).name]
        except EffbenchError as exc:
            raise EffbenchError(f"{self.where} models: {exc}") from None

    def model_path(self, entry: str, root: Path) -> list[str]:
        from bench.export.bundle import BUNDLE_INDEX_NAME, read_bundle_index
        from bench.export.cache import MANIFEST_NAME

        path = (root / entry).resolve()
        if path.is_dir():
            if (path / BUNDLE_INDEX_NAME).is_file():
                folders = [str(path / e["folder"]) for e in read_bundle_index(path).get("entries", [])]
                if not folders:
                    raise self.bad("models", f"the bundle {path} holds no models")
                return folders
            if (path / MANIFEST_NAME).is_file():
                return [str(path)]
            raise self.bad("models", f"{path} is neither an export folder (manifest.json) nor a bundle (index.json)")
        if not path.is_file():
            raise self.bad("models", f"{path} does not exist (paths are relative to bench.toml's folder)")
        if path.suffix.lower() not in (".onnx", ".xml"):
            raise self.bad("models", f"{path} is not a model file: use a .onnx or OpenVINO .xml file, or a folder")
        return [str(path)]
