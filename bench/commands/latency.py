"""`effbench latency`: batch-1 latency of models on every installed runtime, in fresh pinned worker processes."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.document import CellRecord, Settings
from bench.errors import EffbenchError
from bench.views.console import emit, make_console
from bench.views.latency import render_latency_table

PRECISIONS = ("fp32", "bf16")
INSTALL_HINTS = {
    "torch": "pip install 'effbench[torch]'",
    "onnxruntime": "pip install 'effbench[onnx]'",
    "openvino": "pip install 'effbench[openvino]'",
}


SETTINGS_HELP = """\
runtime settings (each worker records what the runtime reports back):
  torch        set_num_threads(N), set_num_interop_threads(1), inference_mode, eval, flush denormals,
               fp32 matmul precision "highest"; bf16 = torch.autocast("cpu", bfloat16)
  onnxruntime  CPU execution provider, intra-op N, inter-op 1, sequential, ORT_ENABLE_ALL,
               denormals as zero, intra-op spinning ON (ORT's default: lowest latency on dedicated CPUs,
               costs CPU time when N > 1), inter-op spinning off; bf16 is not offered (cell skipped)
  openvino     INFERENCE_NUM_THREADS N, NUM_STREAMS 1, PERFORMANCE_HINT LATENCY, INFERENCE_PRECISION_HINT
               f32 (bf16 with --precision bf16), ENABLE_CPU_PINNING off (the process is already pinned),
               ENABLE_HYPER_THREADING off, CPU_DENORMALS_OPTIMIZATION on (flush denormals), synchronous requests
"""


def presets_help() -> str:
    from bench.policy import PRESETS

    lines = ["presets (every cell also needs the MLPerf p90 minimum of samples in all):"]
    for flag, policy in (("--fast", PRESETS["fast"]), ("default", PRESETS["default"]),
                         ("--rigorous", PRESETS["rigorous"])):  # fmt: skip
        lines.append(
            f"  {flag:<11}  {policy.min_processes}-{policy.max_processes} processes of ≥ {policy.process_min_s:g} s "
            f"(cap {policy.process_max_s:g} s), median CI target ±{policy.target_ci_rel:.1%}, "
            f"cell cap {policy.cell_max_s:g} s"
        )
    return "\n".join(lines) + "\n"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "latency",
        help="measure batch-1 latency on torch, ONNX Runtime and OpenVINO",
        description="Measure batch-1 inference latency: each (model, backend) cell in several fresh worker "
        "processes, pinned to the chosen CPUs, each importing only its own runtime; fp32 unless asked.",
        epilog=SETTINGS_HELP + presets_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        "-m",
        action="append",
        required=True,
        metavar="MODEL",
        help="zoo name or spec (b1, efficientnet:phi=2, b0:r=32) or a .onnx/.xml file; repeatable",
    )
    parser.add_argument(
        "--backend",
        "-b",
        action="append",
        metavar="NAME",
        help="torch, onnxruntime, openvino (repeatable or comma list; default: every installed one)",
    )
    parser.add_argument("--threads", "-t", type=int, metavar="N", help="threads per runtime, on N physical cores")
    parser.add_argument("--cpus", metavar="LIST", help="CPUs to pin to, e.g. 1 or 2-3 (default: chosen)")
    parser.add_argument("--precision", choices=PRECISIONS, help="fp32 (default) or bf16 where supported")
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--fast", dest="preset", action="store_const", const="fast", help="quick, rougher run")
    preset.add_argument("--rigorous", dest="preset", action="store_const", const="rigorous", help="long run")
    parser.add_argument("--processes", type=int, metavar="N", help="exactly N worker processes per cell")
    parser.add_argument("--output", "-o", type=Path, metavar="FILE", help="result document path (never overwritten)")
    parser.add_argument("--json", action="store_true", help="print only a JSON summary on stdout")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights and input (default 0)")
    parser.add_argument("--weights", metavar="FILE", help="state dict (.safetensors or torch.save) for zoo models")
    parser.add_argument(
        "--input-shape", metavar="N,C,H,W", help="input shape for a user ONNX file with dynamic dimensions"
    )
    parser.add_argument(
        "--cache-dir", metavar="DIR", help="artifact cache folder (default: bench.toml [paths] cache_dir, or models/)"
    )
    parser.set_defaults(func=run_latency)


def _split_backends(values: list[str] | str | None) -> list[str] | None:
    if values is None:
        return None
    items = [values] if isinstance(values, str) else list(values)
    names = [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    return names or None


def choose_backends(requested: list[str] | None, notes: list[str]) -> list[str]:
    """Backend names to run: the named ones (each must be installed), or every installed one with notes."""
    from bench.backends import canonical_name, is_installed, user_backends

    if requested:
        chosen: list[str] = []
        for name in requested:
            canonical = canonical_name(name)
            if canonical not in chosen:
                chosen.append(canonical)
        for name in chosen:
            if not is_installed(name):
                hint = INSTALL_HINTS.get(name, "install it")
                raise EffbenchError(f"backend '{name}' is not installed: {hint}, or drop it from --backend")
        return chosen
    chosen = []
    for name in user_backends():
        if is_installed(name):
            chosen.append(name)
        else:
            notes.append(f"backend {name} is not installed, skipped ({INSTALL_HINTS.get(name, '')})")
    if not chosen:
        raise EffbenchError("no runtime is installed: pip install 'effbench[all]'")
    return chosen


def _is_user_file(model: str) -> bool:
    from bench.export import looks_like_path

    return looks_like_path(model)


def _needed_formats(model: str, backends: list[str]) -> tuple[str, ...]:
    from bench.backends import get_backend

    wanted = {fmt for name in backends for fmt in get_backend(name).formats}
    if _is_user_file(model) and model.lower().endswith(".xml"):
        wanted &= {"openvino"}  # an OpenVINO IR cannot be turned back into ONNX
    return tuple(f for f in ("onnx", "openvino") if f in wanted)


def plan_cells(
    models: list[str],
    backends: list[str],
    *,
    threads: int,
    cpus: list[int],
    precision: str,
    seed: int,
    cache_dir: Path,
    say: Any,
    weights: Path | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> list[Any]:
    """Export (or reuse) every model and make one CellPlan per (model, backend)."""
    from bench.backends import get_backend
    from bench.backends.base import LoadTarget
    from bench.document import Artifact
    from bench.export import ensure_artifacts
    from bench.runner import CellPlan

    plans = []
    seen: set[tuple[str, str | None]] = set()
    for model in models:
        formats = _needed_formats(model, backends)
        if not formats and _is_user_file(model):
            raise EffbenchError(
                f"{model}: none of the backends {', '.join(backends)} can run this file "
                "(onnxruntime needs .onnx, openvino runs .onnx or .xml, torch runs zoo models): change --backend"
            )
        if formats:
            arts = ensure_artifacts(
                model,
                formats=formats,
                cache_dir=cache_dir,
                seed=seed,
                weights=None if _is_user_file(model) else weights,
                input_shape=input_shape if _is_user_file(model) else None,
                progress=say,
            )
            spec = arts.spec.to_dict() if arts.spec is not None else None
            name, fingerprint, files = arts.model_name, arts.fingerprint, dict(arts.files)
            input_name, model_input_shape, sha256 = arts.input_name, tuple(arts.input_shape), dict(arts.sha256)
        else:  # torch only: nothing to export, the worker builds the module from the spec
            from bench.zoo import resolve_model

            zoo_spec = resolve_model(model)
            spec, name, fingerprint, files = zoo_spec.to_dict(), zoo_spec.name, None, {}
            input_name, model_input_shape, sha256 = "input", tuple(zoo_spec.input_shape), {}
        if (name, fingerprint) in seen:
            say(f"{model}: {name} is already in this run; measured once")
            continue
        seen.add((name, fingerprint))
        target = LoadTarget(
            model_name=name,
            files={fmt: str(path) for fmt, path in files.items()},
            model_spec=spec,
            input_name=input_name,
            input_shape=model_input_shape,
            seed=seed,
            weights=str(weights) if weights is not None and spec is not None else None,
        )
        for backend_name in backends:
            backend = get_backend(backend_name)
            skip = backend.supports_precision(precision)
            artifact = None
            for fmt in backend.formats:
                if fmt in files:
                    artifact = Artifact(format=fmt, path=str(files[fmt]), sha256=sha256.get(fmt))
                elif skip is None:
                    skip = f"{backend_name} needs a {fmt} file and {name} has none"
            if not backend.formats and spec is None and skip is None:
                skip = f"{backend_name} runs zoo models only; {name} is a user file"
            plans.append(
                CellPlan(
                    model=name,
                    backend=backend_name,
                    precision=precision,
                    threads=threads,
                    cpus=tuple(cpus),
                    target=target,
                    fingerprint=fingerprint,
                    artifact=artifact,
                    skip_reason=skip,
                )
            )
    return plans


# ------------------------------------------------------------------------------------------------ command


def run_latency(args: argparse.Namespace) -> int:
    from bench.config import load_config
    from bench.cpus import resolve_cpus
    from bench.policy import get_policy

    err = make_console(stderr=True)
    config = load_config(Path(args.config) if getattr(args, "config", None) else None)
    defaults = config.latency
    notes: list[str] = []

    threads = args.threads if args.threads is not None else int(defaults.get("threads", 1))
    precision = args.precision or str(defaults.get("precision", "fp32"))
    if precision not in PRECISIONS:
        raise EffbenchError(f"precision '{precision}' in bench.toml is not one of {', '.join(PRECISIONS)}")
    policy = get_policy(args.preset or str(defaults.get("preset", "default")))
    if args.processes is not None:
        if args.processes < 1:
            raise EffbenchError(f"--processes {args.processes}: must be at least 1")
        policy = replace(policy, min_processes=args.processes, max_processes=args.processes)
    backends = choose_backends(_split_backends(args.backend) or _split_backends(defaults.get("backends")), notes)
    cpus_text = args.cpus
    if cpus_text is None and defaults.get("cpus") is not None:
        value = defaults["cpus"]
        cpus_text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    cpus = resolve_cpus(threads, cpus_text)
    weights = Path(args.weights) if args.weights else None
    if weights is not None and not weights.is_file():
        raise EffbenchError(f"weights file {weights} does not exist: pass a .safetensors or .pt state dict")
    input_shape = None
    if args.input_shape:
        from bench.userfiles import parse_input_shape

        input_shape = parse_input_shape(args.input_shape)
    for note in notes:
        err.print(f"note: {note}")

    plans = plan_cells(
        list(args.model),
        backends,
        threads=threads,
        cpus=cpus,
        precision=precision,
        seed=args.seed,
        cache_dir=Path(args.cache_dir) if args.cache_dir else config.cache_dir,
        say=lambda message: err.print(message),
        weights=weights,
        input_shape=input_shape,
    )

    from bench.machine import collect_machine_metadata, system_checks
    from bench.results import new_document, save_progress, write_result
    from bench.runner import RichProgress, Runner, SubprocessLauncher

    machine = collect_machine_metadata()
    settings = Settings(
        threads=threads,
        cpus=tuple(cpus),
        precision=precision,
        preset=policy.name,
        policy=policy.to_dict(),
        backends=tuple(backends),
        models=tuple(args.model),
        seed=args.seed,
        weights=str(weights) if weights else None,
        input_shape=tuple(input_shape) if input_shape else None,
    )
    doc = new_document(machine, settings, ["effbench", *sys.argv[1:]])
    checks = [c for c in system_checks(cpus) if c.status == "warn"]
    doc = replace(doc, warnings=tuple(f"{c.message}: {c.remedy}" if c.remedy else c.message for c in checks))
    path = write_result(doc, args.output, config.results_dir)
    err.print(f"results: {path}")

    finished: dict[int, CellRecord] = {}
    order = {id(plan): i for i, plan in enumerate(plans)}

    def on_cell_finished(cell: Any) -> None:
        nonlocal doc
        finished[order[id(cell.plan)]] = cell.record()
        doc = replace(doc, cells=tuple(finished[i] for i in sorted(finished)))
        save_progress(doc, path)

    runner = Runner(policy, SubprocessLauncher(), progress=RichProgress(err), on_cell_finished=on_cell_finished)
    outcome = runner.run(plans)

    cells = tuple(cell.record() for cell in outcome.cells)
    doc = replace(doc, cells=cells, status="interrupted" if outcome.interrupted else "complete")
    save_progress(doc, path)

    if args.json:
        emit(render_latency_table(cells, "json"))
        emit(render_latency_table(cells, "table", doc.warnings), err)
    else:
        emit(render_latency_table(cells, "table", doc.warnings), make_console())
    err.print(f"results written to {path}")
    if outcome.interrupted:
        err.print("interrupted: the finished cells are in the result file")
        return 130
    return 1 if any(c.status == "failed" for c in cells) else 0
