"""Runtime backends by name: torch, onnxruntime, openvino, inductor (and a hidden fake one for tests); no runtime
import.

Adding a runtime: write bench/backends/<runtime>_backend.py with a Backend subclass that declares its facts
(bench/backends/base.py lists them) and imports its runtime only inside its methods, then add one line to
REGISTRY below. The CLI, the planner, `effbench latency --help` and the bench.toml checker read everything else
from the class.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util

from bench.backends.base import Backend, LoadTarget, Session

__all__ = [
    "REGISTRY",
    "Backend",
    "LoadTarget",
    "Session",
    "available_backends",
    "backend_class",
    "canonical_name",
    "get_backend",
    "install_hint",
    "is_installed",
    "settings_help",
    "user_backends",
]

# One line per backend, "module:Class", in the order of the table columns. The modules are imported on first use
# (cheap: a backend module imports its runtime only inside methods).
REGISTRY: tuple[str, ...] = (
    "bench.backends.torch_backend:TorchBackend",
    "bench.backends.onnxruntime_backend:OnnxRuntimeBackend",
    "bench.backends.openvino_backend:OpenVinoBackend",
    "bench.backends.inductor_backend:InductorBackend",
    "bench.backends.fake:FakeBackend",
)


@functools.cache
def _classes() -> dict[str, type[Backend]]:
    classes: dict[str, type[Backend]] = {}
    for entry in REGISTRY:
        module_name, _, class_name = entry.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        classes[cls.name] = cls
    return classes


@functools.cache
def _aliases() -> dict[str, str]:
    return {alias: cls.name for cls in _classes().values() for alias in cls.aliases}


def user_backends() -> list[str]:
    """Backend names a user may ask for (the fake one is for tests), in table-column order."""
    return [name for name, cls in _classes().items() if not cls.hidden]


def canonical_name(name: str) -> str:
    """The registered name for `name` or one of its aliases (any case); EffbenchError for an unknown name."""
    from bench.errors import EffbenchError, did_you_mean

    key = name.strip().lower()
    key = _aliases().get(key, key)
    if key not in _classes():
        hint = did_you_mean(key, [*user_backends(), *_aliases()])
        raise EffbenchError(f"unknown backend '{name}'{hint}; known backends: {', '.join(user_backends())}")
    return key


def backend_class(name: str) -> type[Backend]:
    """The class of backend `name` (or alias), with its facts; importing it imports no runtime."""
    return _classes()[canonical_name(name)]


def is_installed(name: str) -> bool:
    """Whether the runtime can be imported, found without importing it (no multi-second torch import)."""
    try:
        return importlib.util.find_spec(backend_class(name).module) is not None
    except (ImportError, ValueError):
        return False


def available_backends() -> list[str]:
    """The user-facing backends whose runtime is installed, in table order."""
    return [name for name in user_backends() if is_installed(name)]


def install_hint(name: str) -> str:
    """How to install backend `name`'s runtime ("pip install 'effbench[onnx]'")."""
    return backend_class(name).install_hint()


def settings_help() -> str:
    """The runtime settings each user-facing backend applies, as the `effbench latency --help` epilog shows them."""
    lines = ["runtime settings (each worker records what the runtime reports back):"]
    for name in user_backends():
        settings = _classes()[name].settings or ("(no settings documented)",)
        lines.append(f"  {name:<12} {settings[0]}")
        lines.extend(f"  {'':<12} {line}" for line in settings[1:])
    return "\n".join(lines) + "\n"


def get_backend(name: str) -> Backend:
    """The backend object for `name` (EffbenchError for an unknown name); the runtime is imported later."""
    return backend_class(name)()
