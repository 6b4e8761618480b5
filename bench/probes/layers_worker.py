"""The layer-profile process: pinned like a cell, one ONNX Runtime session with effbench's cell settings and its
profiler on, then every node's kernel time per run. Run as `python -m bench.probes.layers_worker` with a JSON job
on stdin (see bench.probes.layers.build_job); the record goes, as JSON, to the job's `result_path`. As in
bench.engine.worker, only the standard library is imported at module level: affinity and the thread variables
come before ONNX Runtime starts.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.engine.worker import prepare_process, serve_json_job


def _runs(events: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(start, end) in µs of every session run, in order (ONNX Runtime's "model_run" events)."""
    found = [(int(e["ts"]), int(e["ts"]) + int(e["dur"])) for e in events if e.get("name") == "model_run"]
    return sorted(found)


def node_timings(events: list[dict[str, Any]], warmup: int) -> tuple[list[dict[str, Any]], list[float]]:
    """Per node (in first-seen order): op, input and output shapes, its kernel time in each run after `warmup`
    (ms); and each such run's whole duration (ms). Events outside a run (session set-up) are left out."""
    runs = _runs(events)[warmup:]
    nodes: dict[str, dict[str, Any]] = {}
    for event in events:
        name = str(event.get("name", ""))
        if event.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        ts = int(event["ts"])
        index = next((i for i, (start, end) in enumerate(runs) if start <= ts <= end), None)
        if index is None:
            continue
        args = event.get("args") or {}
        node = nodes.setdefault(
            name.removesuffix("_kernel_time"),
            {
                "op": args.get("op_name", "?"),
                "inputs": [next(iter(shape.values())) for shape in args.get("input_type_shape", [])],
                "outputs": [next(iter(shape.values())) for shape in args.get("output_type_shape", [])],
                "ms": [0.0] * len(runs),
            },
        )
        node["ms"][index] += int(event["dur"]) / 1000.0
    return list(nodes.values()), [(end - start) / 1000.0 for start, end in runs]


def run_layer_job(job: dict[str, Any], *, pin: bool = True) -> dict[str, Any]:
    cpus = [int(c) for c in job.get("cpus", [])]
    threads = int(job["threads"])
    if pin:
        prepare_process(cpus, threads)
    backend = job.get("backend", "onnxruntime")
    profile = _profile_openvino if backend == "openvino" else _profile_onnxruntime
    record = profile(job, threads, int(job["warmup"]), int(job["runs"]))
    return {"ok": True, "pid": os.getpid(), "affinity": sorted(os.sched_getaffinity(0)), **record}


def _input(shape: Any) -> Any:
    import numpy as np

    dims = [d if isinstance(d, int) else 1 for d in shape]
    return np.random.default_rng(0).standard_normal(dims).astype(np.float32)


def _profile_onnxruntime(job: dict[str, Any], threads: int, warmup: int, runs: int) -> dict[str, Any]:
    import onnxruntime as ort

    from bench.backends.onnxruntime_backend import session_options

    with tempfile.TemporaryDirectory(prefix="effbench-layers-") as tmp:
        options = session_options(ort, threads)
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(job["onnx"], sess_options=options, providers=["CPUExecutionProvider"])
        first = session.get_inputs()[0]
        feed = {first.name: _input(first.shape)}
        for _ in range(warmup + runs):
            session.run(None, feed)
        profile = Path(session.end_profiling())
        events = json.loads(profile.read_text(encoding="utf-8"))
    nodes, run_ms = node_timings(events, warmup)
    return {"runtime": f"onnxruntime {ort.__version__}", "nodes": nodes, "run_ms": run_ms}


def _static(ports: Any) -> list[list[int]]:
    return [[d.get_length() for d in p.get_partial_shape()] for p in ports if p.get_partial_shape().is_static]


def _profile_openvino(job: dict[str, Any], threads: int, warmup: int, runs: int) -> dict[str, Any]:
    """OpenVINO's per-node counters (PERF_COUNT) after every run, shapes from the compiled (runtime) model: its
    nodes are what ran, fused as the plugin fused them, with logical (unpadded) shapes."""
    import time

    import openvino as ov

    from bench.backends.openvino_backend import compile_config

    core = ov.Core()
    config = {**compile_config(ov, threads, str(job.get("precision", "fp32"))), "PERF_COUNT": "YES"}
    compiled = core.compile_model(core.read_model(job["xml"]), "CPU", config)
    shapes: dict[str, tuple[str, list[list[int]], list[list[int]]]] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        kind = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
        dims = [[d.get_length() for d in i.get_partial_shape()] for i in op.inputs() if i.get_partial_shape().is_static]
        outs = [
            [d.get_length() for d in o.get_partial_shape()] for o in op.outputs() if o.get_partial_shape().is_static
        ]
        shapes[op.get_friendly_name()] = (kind, dims, outs)
    request = compiled.create_infer_request()
    feed = {0: _input(compiled.inputs[0].get_partial_shape().to_shape())}
    nodes: dict[str, dict[str, Any]] = {}
    run_ms: list[float] = []
    for index in range(warmup + runs):
        start = time.perf_counter()
        request.infer(feed)
        elapsed = (time.perf_counter() - start) * 1000.0
        if index < warmup:
            continue
        run_ms.append(elapsed)
        for info in request.get_profiling_info():
            if str(info.status).rsplit(".", 1)[-1] != "EXECUTED":
                continue
            kind, inputs, outputs = shapes.get(info.node_name, (info.node_type, [], []))
            node = nodes.setdefault(
                info.node_name, {"op": kind, "exec": info.exec_type, "inputs": inputs, "outputs": outputs, "ms": []}
            )
            node["ms"].append(info.real_time.total_seconds() * 1000.0)
    return {"runtime": f"openvino {ov.get_version()}", "nodes": list(nodes.values()), "run_ms": run_ms}


def main() -> int:
    return serve_json_job(run_layer_job)


if __name__ == "__main__":
    raise SystemExit(main())
