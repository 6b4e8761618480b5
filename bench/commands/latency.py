"""`effbench latency`: batch-1 latency of models on every installed runtime, in fresh pinned worker processes."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.backends import install_hint, settings_help
from bench.errors import EffbenchError
from bench.vocab import PRECISIONS


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
        epilog=settings_help() + presets_help(),
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
                hint = install_hint(name)
                raise EffbenchError(f"backend '{name}' is not installed: {hint}, or drop it from --backend")
        return chosen
    chosen = []
    for name in user_backends():
        if is_installed(name):
            chosen.append(name)
        else:
            notes.append(f"backend {name} is not installed, skipped ({install_hint(name)})")
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
                    artifact = {"format": fmt, "path": str(files[fmt]), "sha256": sha256.get(fmt)}
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


# ------------------------------------------------------------------------------------------------ output


def _ms(value: float | None) -> str | None:
    if value is None:
        return None
    return f"{value:.3f}" if value < 10 else f"{value:.2f}" if value < 100 else f"{value:.1f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _median(values: list[float]) -> float | None:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else None


def effective_precision(cell: dict[str, Any]) -> str:
    """The precision the runtime reports (first process), with OpenVINO's per-layer count when mixed."""
    if not cell.get("processes"):
        return cell.get("precision", "?")
    effective = cell["processes"][0].get("effective", {})
    precision = str(effective.get("precision", cell.get("precision")))
    compute = (effective.get("runtime_precision") or {}).get("compute") or {}
    compute = {p: n for p, n in compute.items() if p in ("f32", "bf16", "f16")}  # not i32 shape arithmetic
    if len(compute) > 1:
        total = sum(compute.values())
        parts = sorted(compute.items(), key=lambda kv: -kv[1])
        precision += " (" + ", ".join(f"{p} {n * 100 // total}%" for p, n in parts) + ")"
    return precision


def _status_text(status: str | None, stop_reason: str | None) -> str:
    """'ok' when the precision target was met, 'cap hit' when a time or process cap stopped the cell first."""
    from bench.policy import CAP_PREFIX

    if status == "ok" and stop_reason and stop_reason.startswith(CAP_PREFIX):
        return "cap hit"
    return status or ""


def table_rows(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from bench.machine import format_cpu_list

    rows = []
    for cell in cells:
        summary = cell.get("summary") or {}
        processes = cell.get("processes") or []
        ci = summary.get("median_ci95_ms")
        load = _median([p["cold_start"]["load_s"] + p["cold_start"]["compile_s"] for p in processes])
        first = _median([p["cold_start"]["first_inference_s"] for p in processes])
        status = cell.get("status")
        rows.append(
            {
                "model": cell["model"],
                "backend": cell["backend"],
                "precision": effective_precision(cell) if processes else cell["precision"],
                "threads": cell["threads"],
                "cpus": format_cpu_list(cell["cpus"]),
                "median": _ms(summary.get("median_ms")),
                "p90": _ms(summary.get("p90_ms")),
                "p99": _ms(summary.get("p99_ms")),
                "ci": f"{_ms(ci[0])}–{_ms(ci[1])}" if ci else None,
                "samples": f"{summary['n']}/{summary['processes']}" if summary else None,
                "cold": f"{_seconds(load)} + {_seconds(first)}" if processes else None,
                "status": _status_text(status, cell.get("stop_reason")),
            }
        )
    return rows


def print_table(cells: list[dict[str, Any]], doc_warnings: list[str], console: Any) -> None:
    from bench.tables import Column, rich_table

    columns = [
        Column("model", "model", align="left"),
        Column("backend", "backend", align="left"),
        Column("precision", "precision", align="left"),
        Column("threads", "threads"),
        Column("cpus", "CPUs"),
        Column("median", "median ms"),
        Column("p90", "p90 ms"),
        Column("p99", "p99 ms"),
        Column("ci", "95% CI median"),
        Column("samples", "n/procs"),
        Column("cold", "cold: load+compile, 1st"),
        Column("status", "status", align="left"),
    ]
    console.print(rich_table(table_rows(cells), columns))
    lines = [("warning", w) for w in doc_warnings]
    for cell in cells:
        label = f"{cell['model']} · {cell['backend']}"
        if cell.get("status") == "skipped":
            lines.append(("note", f"{label}: skipped: {cell['error']}"))
        elif cell.get("error"):
            lines.append(("warning", f"{label}: {cell['status']}: {cell['error']}"))
        lines.extend(("warning", f"{label}: {w}") for w in cell.get("warnings", []))
    for kind, line in lines:
        style = "yellow" if kind == "warning" else "cyan"
        console.print(f"[{style}]{kind}:[/] {line}", highlight=False, soft_wrap=True)


def json_summary(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for cell in cells:
        summary = cell.get("summary") or {}
        out.append(
            {
                "model": cell["model"],
                "backend": cell["backend"],
                "precision": cell["precision"],
                "effective_precision": effective_precision(cell),
                "threads": cell["threads"],
                "cpus": cell["cpus"],
                "median_ms": summary.get("median_ms"),
                "p90_ms": summary.get("p90_ms"),
                "p99_ms": summary.get("p99_ms"),
                "median_ci95_ms": summary.get("median_ci95_ms"),
                "n": summary.get("n", 0),
                "processes": summary.get("processes", 0),
                "status": cell["status"],
                "error": cell.get("error"),
                "warnings": cell.get("warnings", []),
            }
        )
    return out


# ------------------------------------------------------------------------------------------------ command


def _console(stderr: bool) -> Any:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        # Piped or captured: do not squeeze the table into 80 columns.
        console = Console(stderr=stderr, highlight=False, width=max(console.width, 180))
    return console


def run_latency(args: argparse.Namespace) -> int:
    from bench.config import load_config
    from bench.machine import resolve_cpus
    from bench.policy import get_policy

    err = _console(stderr=True)
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
        from bench.export import parse_input_shape

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
    settings = {
        "threads": threads,
        "cpus": cpus,
        "precision": precision,
        "preset": policy.name,
        "policy": policy.to_dict(),
        "backends": backends,
        "models": list(args.model),
        "seed": args.seed,
        "weights": str(weights) if weights else None,
        "input_shape": list(input_shape) if input_shape else None,
    }
    doc = new_document(machine, settings, ["effbench", *sys.argv[1:]])
    for check in system_checks(cpus):
        if check.status == "warn":
            doc["warnings"].append(f"{check.message}: {check.remedy}" if check.remedy else check.message)
    path = write_result(doc, args.output, config.results_dir)
    err.print(f"results: {path}")

    finished: dict[int, dict[str, Any]] = {}
    order = {id(plan): i for i, plan in enumerate(plans)}

    def on_cell_finished(cell: Any) -> None:
        finished[order[id(cell.plan)]] = cell.to_dict()
        doc["cells"] = [finished[i] for i in sorted(finished)]
        save_progress(doc, path)

    runner = Runner(policy, SubprocessLauncher(), progress=RichProgress(err), on_cell_finished=on_cell_finished)
    outcome = runner.run(plans)

    cells = [cell.to_dict() for cell in outcome.cells]
    doc["cells"] = cells
    doc["status"] = "interrupted" if outcome.interrupted else "complete"
    save_progress(doc, path)

    if args.json:
        sys.stdout.write(json.dumps(json_summary(cells), indent=2) + "\n")
        print_table(cells, doc["warnings"], err)
    else:
        print_table(cells, doc["warnings"], _console(stderr=False))
    err.print(f"results written to {path}")
    if outcome.interrupted:
        err.print("interrupted: the finished cells are in the result file")
        return 130
    return 1 if any(c["status"] == "failed" for c in cells) else 0
