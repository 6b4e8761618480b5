"""The layer-profile process: pinned like a cell, one ONNX Runtime session (or OpenVINO compiled model) with
effbench's cell settings and its profiler on, then every node's kernel time per run. Run as
`python -m bench.probes.layers_worker` by bench.engine.launchers: bench.engine.serve reads the
bench.probes.layers.LayersJob on stdin and writes the LayersResult to the job's result file. As in
bench.engine.worker, only the standard library (and bench modules that use nothing else) is imported at module
level: affinity and the thread variables come before the runtime starts.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.engine.serve import prepare_process, serve
from bench.probes.layers import LayersJob, LayersResult


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
                "name": name.removesuffix("_kernel_time"),
                "op": args.get("op_name", "?"),
                "inputs": [next(iter(shape.values())) for shape in args.get("input_type_shape", [])],
                "outputs": [next(iter(shape.values())) for shape in args.get("output_type_shape", [])],
                "ms": [0.0] * len(runs),
            },
        )
        node["ms"][index] += int(event["dur"]) / 1000.0
    return list(nodes.values()), [(end - start) / 1000.0 for start, end in runs]


def run_job(job: LayersJob, *, pin: bool = True) -> LayersResult:
    """Profile the job's artifact on its runtime: the nodes' kernel times per run after the warm-up."""
    if pin:
        prepare_process(list(job.cpus), job.threads)
    profile = _profile_openvino if job.backend == "openvino" else _profile_onnxruntime
    runtime, nodes, run_ms = profile(job)
    affinity = sorted(os.sched_getaffinity(0))
    return LayersResult.from_dict(
        {"runtime": runtime, "nodes": nodes, "run_ms": run_ms, "pid": os.getpid(), "affinity": affinity}
    )


def _input(shape: Any) -> Any:
    import numpy as np

    dims = [d if isinstance(d, int) else 1 for d in shape]
    return np.random.default_rng(0).standard_normal(dims).astype(np.float32)


# What a profiler gives: the runtime's name and version, the nodes (op, inputs, outputs, ms), each run's duration.
Profile = tuple[str, list[dict[str, Any]], list[float]]


def _profile_onnxruntime(job: LayersJob) -> Profile:
    import onnxruntime as ort

    from bench.backends.onnxruntime_backend import session_options

    with tempfile.TemporaryDirectory(prefix="effbench-layers-") as tmp:
        options = session_options(ort, job.threads)
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(job.artifact, sess_options=options, providers=["CPUExecutionProvider"])
        first = session.get_inputs()[0]
        feed = {first.name: _input(first.shape)}
        for _ in range(job.warmup + job.runs):
            session.run(None, feed)
        profile = Path(session.end_profiling())
        events = json.loads(profile.read_text(encoding="utf-8"))
    nodes, run_ms = node_timings(events, job.warmup)
    return f"onnxruntime {ort.__version__}", nodes, run_ms


def _profile_openvino(job: LayersJob) -> Profile:
    """OpenVINO's per-node counters (PERF_COUNT) after every run, shapes from the compiled (runtime) model: its
    nodes are what ran, fused as the plugin fused them, with logical (unpadded) shapes."""
    import openvino as ov

    from bench.backends.openvino_backend import compile_config

    core = ov.Core()
    config = {**compile_config(ov, job.threads, job.precision), "PERF_COUNT": "YES"}
    compiled = core.compile_model(core.read_model(job.artifact), "CPU", config)
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
    for index in range(job.warmup + job.runs):
        start = time.perf_counter()
        request.infer(feed)
        elapsed = (time.perf_counter() - start) * 1000.0
        if index < job.warmup:
            continue
        run_ms.append(elapsed)
        for info in request.get_profiling_info():
            if str(info.status).rsplit(".", 1)[-1] != "EXECUTED":
                continue
            kind, inputs, outputs = shapes.get(info.node_name, (info.node_type, [], []))
            node = nodes.setdefault(info.node_name, {"op": kind, "inputs": inputs, "outputs": outputs, "ms": []})
            node["ms"].append(info.real_time.total_seconds() * 1000.0)
    return f"openvino {ov.get_version()}", list(nodes.values()), run_ms


def main() -> int:
    return serve(LayersJob, run_job)


if __name__ == "__main__":
    raise SystemExit(main())
