"""Runtime backends by name: torch, onnxruntime, openvino (and a hidden fake one for tests); no runtime import."""

from __future__ import annotations

import importlib
import importlib.util

from bench.backends.base import Backend, LoadTarget, Session

__all__ = ["BACKENDS", "Backend", "LoadTarget", "Session", "available_backends", "get_backend", "is_installed"]

# name -> (module, class, module that must be importable); the order is the order of the table columns.
BACKENDS: dict[str, tuple[str, str, str]] = {
    "torch": ("bench.backends.torch_backend", "TorchBackend", "torch"),
    "onnxruntime": ("bench.backends.onnxruntime_backend", "OnnxRuntimeBackend", "onnxruntime"),
    "openvino": ("bench.backends.openvino_backend", "OpenVinoBackend", "openvino"),
    "fake": ("bench.backends.fake", "FakeBackend", "bench.backends.fake"),
}
HIDDEN = {"fake"}
ALIASES = {"ort": "onnxruntime", "ov": "openvino", "pytorch": "torch"}


def user_backends() -> list[str]:
    """Backend names a user may ask for (the fake one is for tests)."""
    return [name for name in BACKENDS if name not in HIDDEN]


def canonical_name(name: str) -> str:
    from bench.errors import EffbenchError

    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in BACKENDS:
        raise EffbenchError(f"unknown backend '{name}'; known backends: {', '.join(user_backends())}")
    return key


def is_installed(name: str) -> bool:
    """Whether the runtime can be imported, found without importing it (no multi-second torch import)."""
    module = BACKENDS[canonical_name(name)][2]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available_backends() -> list[str]:
    """The user-facing backends whose runtime is installed, in table order."""
    return [name for name in user_backends() if is_installed(name)]


def get_backend(name: str) -> Backend:
    """The backend object for `name` (EffbenchError for an unknown name); the runtime is imported later."""
    module_name, class_name, _ = BACKENDS[canonical_name(name)]
    cls = getattr(importlib.import_module(module_name), class_name)
    backend: Backend = cls()
    return backend
