"""Compiled packages of the cells that run one: an inductor cell's plan gets its AOTInductor package (bench.export.aot),
compiled for the cell's threads and precision or found in the cache, before anything is measured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.backends.inductor_backend import COMPILE_OPTION
from bench.document import Artifact

if TYPE_CHECKING:
    from bench.engine.runner import CellPlan


def with_package(plan: CellPlan, cache_dir: Path, say: Callable[[str], Any]) -> CellPlan:
    """`plan` with its package when it is a runnable inductor cell of a zoo model (else `plan` as it is): the
    package's file for the worker, its compile record in the target's options (the worker records it), its
    artifact and its recipe fingerprint for the document."""
    spec = plan.target.model_spec
    if plan.backend != "inductor" or plan.skip_reason is not None or spec is None:
        return plan
    from bench.export.aot import PackageRequest, ensure_package
    from bench.export.bundle import artifact_location

    target = plan.target
    request = PackageRequest(
        target.model_name, dict(spec), target.input_shape, plan.threads, plan.precision, target.seed,
        target.weights,
    )  # fmt: skip
    package = ensure_package(request, cache_dir, say)
    root, path = artifact_location(package.path, cache_dir)
    target = replace(
        target,
        files={**target.files, "inductor": str(package.path)},
        options={**target.options, COMPILE_OPTION: package.compile_record},
    )
    artifact = Artifact(format="inductor", path=path, sha256=package.artifacts.sha256["inductor"], root=root)
    return replace(plan, target=target, fingerprint=package.recipe_fingerprint, artifact=artifact)
