"""Planning a run: the resolved settings (CLI over bench.toml), the backends chosen, the run's label and commit
under test, the artifacts each model needs and one CellPlan per requested cell. Exports happen here; nothing is
measured."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bench.backends
from bench.backends import canonical_name, get_backend, install_hint, user_backends
from bench.document import Artifact, ResultDocument, Settings
from bench.engine.packages import with_package
from bench.engine.policy import MeasurePolicy, get_policy
from bench.errors import EffbenchError
from bench.vocab import split_precisions

if TYPE_CHECKING:
    from bench.backends.base import LoadTarget
    from bench.config import Config
    from bench.engine.runner import CellPlan
    from bench.export import ArtifactSet

# Artifact formats in the order they are exported (OpenVINO's IR is converted from the ONNX file).
_FORMAT_ORDER = ("onnx", "openvino")


@dataclass(frozen=True)
class LatencySettings:
    """Everything a latency run uses, resolved once: the command line over bench.toml [latency] over defaults."""

    models: tuple[str, ...]
    backends: tuple[str, ...]
    threads: int
    cpus: tuple[int, ...]
    precision: str
    policy: MeasurePolicy  # the preset, with --processes applied
    seed: int
    weights: Path | None
    input_shape: tuple[int, ...] | None
    cache_dir: Path
    results_dir: Path
    output: Path | None  # the result file asked for; None: results_dir/<machine>/<time>.json
    notes: tuple[str, ...] = ()  # said to the user before planning (a runtime that is not installed)

    @property
    def preset(self) -> str:
        return self.policy.name

    @property
    def precisions(self) -> tuple[str, ...]:
        """The precisions measured side by side (`precision` joins them with commas, as a suite's settings do)."""
        return tuple(self.precision.split(","))

    def document_settings(self) -> Settings:
        """The settings as the result document records them (the folders are not part of the measurement)."""
        return Settings(
            threads=self.threads,
            cpus=self.cpus,
            precision=self.precision,
            preset=self.preset,
            policy=self.policy.to_dict(),
            backends=self.backends,
            models=self.models,
            seed=self.seed,
            weights=str(self.weights) if self.weights else None,
            input_shape=self.input_shape,
        )


@dataclass(frozen=True)
class RunIdentity:
    """What a run is called in the history: `--label NAME` and the commit of the code under test (`--commit`)."""

    label: str | None = None
    commit: str | None = None

    def apply(self, doc: ResultDocument) -> ResultDocument:
        """`doc` with effbench.label and effbench.commit_under_test set (left absent when None)."""
        info = replace(doc.effbench, label=self.label, commit_under_test=self.commit)
        return replace(doc, effbench=info)


_SHA = re.compile(r"[0-9a-fA-F]{7,64}")


def add_identity_options(parser: Any) -> None:
    """--label and --commit, as `effbench latency`, `run` and `ab` take them (read with resolve_identity)."""
    parser.add_argument("--label", metavar="NAME", help="a name for this run in the history (e.g. nightly)")
    parser.add_argument(
        "--commit",
        metavar="SHA",
        help="commit of the code under test (default: git HEAD of the current folder, if it is a checkout; "
        "'none': record none)",
    )


def git_head(folder: Path | None = None, rev: str = "HEAD") -> str | None:
    """The full commit hash `rev` names in the git checkout at `folder` (default: the current folder); None when
    it is not a checkout, git is missing or `rev` names nothing."""
    import subprocess

    if rev.startswith("-"):  # would be read as an option
        return None
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


def resolve_identity(label: str | None, commit: str | None, folder: Path | None = None) -> RunIdentity:
    """--label and --commit as given: the commit defaults to the checkout's HEAD (None outside a git checkout),
    'none' records none, a hex hash is kept as given, anything else is resolved with git (a branch, a tag)."""
    if label is not None and not label.strip():
        raise EffbenchError("--label is empty: give the run a name, e.g. --label nightly, or leave it out")
    if commit is None:
        return RunIdentity(label, git_head(folder))
    if commit.strip().lower() == "none":
        return RunIdentity(label, None)
    if _SHA.fullmatch(commit.strip()):
        return RunIdentity(label, commit.strip().lower())
    resolved = git_head(folder, commit.strip())
    if resolved is None:
        raise EffbenchError(
            f"--commit {commit!r} is neither a commit hash nor a revision of the git checkout here: "
            "pass a SHA (git rev-parse HEAD), or --commit none"
        )
    return RunIdentity(label, resolved)


def split_backend_names(values: Sequence[str] | str | None) -> list[str] | None:
    """Backend names from repeated and comma-separated values ("onnxruntime,openvino"); None when none."""
    if values is None:
        return None
    items = [values] if isinstance(values, str) else list(values)
    names = [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    return names or None


def choose_backends(requested: list[str] | None, notes: list[str]) -> list[str]:
    """Backend names to run: the named ones (each must be installed), or every installed one run by default (not
    inductor, which compiles for minutes) with notes."""
    if requested:
        chosen: list[str] = []
        for name in requested:
            canonical = canonical_name(name)
            if canonical not in chosen:
                chosen.append(canonical)
        for name in chosen:
            if not bench.backends.is_installed(name):  # looked up when called: tests stand in for it
                hint = install_hint(name)
                raise EffbenchError(f"backend '{name}' is not installed: {hint}, or drop it from --backend")
        return chosen
    chosen = []
    for name in user_backends():
        if not bench.backends.backend_class(name).by_default:
            continue
        if bench.backends.is_installed(name):
            chosen.append(name)
        else:
            notes.append(f"backend {name} is not installed, skipped ({install_hint(name)})")
    if not chosen:
        raise EffbenchError("no runtime is installed: pip install 'effbench[all]'")
    return chosen


def resolve_settings(
    config: Config,
    *,
    models: Sequence[str],
    backends: Sequence[str] | str | None = None,
    threads: int | None = None,
    cpus: str | None = None,
    precision: Sequence[str] | str | None = None,
    preset: str | None = None,
    processes: int | None = None,
    seed: int = 0,
    weights: str | Path | None = None,
    input_shape: str | None = None,
    cache_dir: str | Path | None = None,
    output: Path | None = None,
) -> LatencySettings:
    """The run's settings from command-line values (None: not given) over `config`'s [latency] defaults.

    Every bad value is an EffbenchError naming it; the checks run in the order the options are listed in --help.
    """
    from bench.machine import resolve_cpus

    defaults = config.latency
    notes: list[str] = []
    threads = threads if threads is not None else int(defaults.get("threads", 1))
    precision = split_precisions(precision or str(defaults.get("precision", "fp32")))
    policy = get_policy(preset or str(defaults.get("preset", "default")))
    if processes is not None:
        if processes < 1:
            raise EffbenchError(f"--processes {processes}: must be at least 1")
        policy = replace(policy, min_processes=processes, max_processes=processes)
    chosen = choose_backends(split_backend_names(backends) or split_backend_names(defaults.get("backends")), notes)
    cpus_text = cpus
    if cpus_text is None and defaults.get("cpus") is not None:
        value = defaults["cpus"]
        cpus_text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    chosen_cpus = resolve_cpus(threads, cpus_text)
    weights_path = Path(weights) if weights else None
    if weights_path is not None and not weights_path.is_file():
        raise EffbenchError(f"weights file {weights_path} does not exist: pass a .safetensors or .pt state dict")
    shape = None
    if input_shape:
        from bench.export import parse_input_shape

        shape = tuple(parse_input_shape(input_shape))
    return LatencySettings(
        models=tuple(models),
        backends=tuple(chosen),
        threads=threads,
        cpus=tuple(chosen_cpus),
        precision=precision,
        policy=policy,
        seed=seed,
        weights=weights_path,
        input_shape=shape,
        cache_dir=Path(cache_dir) if cache_dir else config.cache_dir,
        results_dir=config.results_dir,
        output=output,
        notes=tuple(notes),
    )


def is_user_file(model: str) -> bool:
    """Whether `model` names an ONNX or IR file rather than a zoo model."""
    from bench.export import looks_like_path

    return looks_like_path(model)


def needed_formats(model: str, backends: Sequence[str]) -> tuple[str, ...]:
    """The artifact formats the backends load, that can be made from `model`."""
    wanted = {fmt for name in backends for fmt in get_backend(name).formats}
    if is_user_file(model) and model.lower().endswith(".xml"):
        wanted &= {"openvino"}  # an OpenVINO IR cannot be turned back into ONNX
    return tuple(f for f in _FORMAT_ORDER if f in wanted)


@dataclass(frozen=True)
class CellRequest:
    """One cell asked for, before its model is exported: what `plan_requests` turns into a CellPlan."""

    model: str  # as given: zoo name or spec, or a model file / export folder
    backend: str
    precision: str
    threads: int
    cpus: tuple[int, ...]
    skip_reason: str | None = None  # known before planning (runtime not installed, bf16 unsupported…)


# How a model's artifacts are obtained: (model, formats) -> ArtifactSet. Default: bench.export.ensure_artifacts.
ArtifactSource = Callable[[str, tuple[str, ...]], "ArtifactSet"]


def plan_cells(settings: LatencySettings, say: Callable[[str], Any] = lambda _message: None) -> list[CellPlan]:
    """Export (or reuse) every model and make one CellPlan per (model, backend); `say` gets progress lines."""
    requests = [
        CellRequest(model, backend, precision, settings.threads, settings.cpus)
        for model in settings.models
        for precision in settings.precisions
        for backend in settings.backends
    ]
    return plan_requests(
        requests,
        cache_dir=settings.cache_dir,
        seed=settings.seed,
        weights=settings.weights,
        input_shape=settings.input_shape,
        say=say,
    )


def export_source(
    cache_dir: Path,
    *,
    seed: int = 0,
    weights: Path | None = None,
    input_shape: tuple[int, ...] | None = None,
    say: Callable[[str], Any] = lambda _message: None,
) -> ArtifactSource:
    """The default ArtifactSource: bench.export.ensure_artifacts into `cache_dir` (a cache hit when exported)."""

    def export(model: str, formats: tuple[str, ...]) -> ArtifactSet:
        from bench.export import ensure_artifacts

        user_file = is_user_file(model)
        return ensure_artifacts(
            model,
            formats=formats,
            cache_dir=cache_dir,
            seed=seed,
            weights=None if user_file else weights,
            input_shape=input_shape if user_file else None,
            progress=say,
        )

    return export


def plan_requests(
    requests: Sequence[CellRequest],
    *,
    cache_dir: Path,
    seed: int = 0,
    weights: Path | None = None,
    input_shape: tuple[int, ...] | None = None,
    say: Callable[[str], Any] = lambda _message: None,
    artifacts: ArtifactSource | None = None,
) -> list[CellPlan]:
    """One CellPlan per request, in request order, each model exported (or reused) once for the formats its
    runnable cells need. A model that resolves to one already planned (same name and fingerprint) is measured
    once. `artifacts` replaces the export (e.g. a bundle's entries)."""
    export = artifacts or export_source(cache_dir, seed=seed, weights=weights, input_shape=input_shape, say=say)
    by_model: dict[tuple[str, bool], list[CellRequest]] = {}
    for request in requests:  # an int8 cell loads the model's int8 entry (bench.export.quantize)
        by_model.setdefault((request.model, request.precision == "int8"), []).append(request)
    plans: list[CellPlan] = []
    seen: set[tuple[str, str | None, bool]] = set()
    from bench.export.quantize import int8_source

    for (model, int8), model_requests in by_model.items():
        prepared = _prepare_model(model, model_requests, int8_source(export, cache_dir, say) if int8 else export,
                                  seed, weights, cache_dir)  # fmt: skip
        key = (prepared.target.model_name, prepared.fingerprint, int8)
        if key in seen:
            say(f"{model}: {prepared.target.model_name} is already in this run; measured once")
            continue
        seen.add(key)
        plans.extend(with_package(_plan_cell(prepared, request), cache_dir, say) for request in model_requests)
    return plans


@dataclass(frozen=True)
class _PreparedModel:
    target: LoadTarget
    fingerprint: str | None
    files: dict[str, Path]
    sha256: dict[str, str]
    locations: dict[str, tuple[str, str]]  # format -> (root, path) as the document records it
    quantization: dict[str, Any] | None = None  # an int8 model's (bench.export.quantize.quantization_record)


def _prepare_model(
    model: str,
    requests: Sequence[CellRequest],
    artifacts: ArtifactSource,
    seed: int,
    weights: Path | None,
    cache_dir: Path,
) -> _PreparedModel:
    """The model's load target, exported for the formats of the backends its runnable cells use."""
    from bench.backends.base import LoadTarget

    runnable = list(dict.fromkeys(r.backend for r in requests if r.skip_reason is None))
    formats = needed_formats(model, runnable)
    user_file = is_user_file(model)
    if not formats and user_file and runnable:
        raise EffbenchError(
            f"{model}: none of the backends {', '.join(runnable)} can run this file "
            "(onnxruntime needs .onnx, openvino runs .onnx or .xml, torch runs zoo models): change --backend"
        )
    spec: dict[str, Any] | None
    quantization = None
    if formats:
        arts = artifacts(model, formats)
        from bench.export.quantize import quantization_record

        quantization = quantization_record(arts.manifest)
        spec = arts.spec.to_dict() if arts.spec is not None else None
        name, fingerprint, files = arts.model_name, arts.fingerprint, dict(arts.files)
        input_name, model_input_shape, sha256 = arts.input_name, tuple(arts.input_shape), dict(arts.sha256)
    elif user_file:  # every cell of this file is skipped: nothing to load
        spec, name, fingerprint, files = None, model, None, {}
        input_name, model_input_shape, sha256 = "input", (), {}
    else:  # torch only (or every cell skipped): nothing to export, the worker builds the module from the spec
        from bench.zoo import resolve_model

        zoo_spec = resolve_model(model)
        spec, name, fingerprint, files = zoo_spec.to_dict(), zoo_spec.name, None, {}
        input_name, model_input_shape, sha256 = "input", tuple(zoo_spec.input_shape), {}
    target = LoadTarget(
        model_name=name,
        files={fmt: str(path) for fmt, path in files.items()},
        model_spec=spec,
        input_name=input_name,
        input_shape=model_input_shape,
        seed=seed,
        weights=str(weights) if weights is not None and spec is not None else None,
    )
    from bench.export.bundle import artifact_location

    locations = {fmt: artifact_location(path, cache_dir) for fmt, path in files.items()}
    return _PreparedModel(target, fingerprint, files, sha256, locations, quantization)


def _plan_cell(prepared: _PreparedModel, request: CellRequest) -> CellPlan:
    from bench.engine.runner import CellPlan

    backend_name, name, files = request.backend, prepared.target.model_name, prepared.files
    backend = get_backend(backend_name)
    skip = request.skip_reason or backend.supports_precision(request.precision)
    artifact = None
    for fmt in backend.formats:
        if fmt in files:
            root, path = prepared.locations[fmt]  # relative: the sha256 identifies the bytes, the path helps find them
            artifact = Artifact(format=fmt, path=path, sha256=prepared.sha256.get(fmt), root=root)
        elif skip is None:
            skip = f"{backend_name} needs a {fmt} file and {name} has none"
    if not backend.formats and prepared.target.model_spec is None and skip is None:
        skip = f"{backend_name} runs zoo models only; {name} is a user file"
    return CellPlan(
        model=name,
        backend=backend_name,
        precision=request.precision,
        threads=request.threads,
        cpus=request.cpus,
        target=prepared.target,
        fingerprint=prepared.fingerprint,
        artifact=artifact,
        skip_reason=skip,
        quantization=prepared.quantization,
    )
