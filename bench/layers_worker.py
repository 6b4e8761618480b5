"""The layer-profile process: pinned like a cell, one ONNX Runtime session with effbench's cell settings and its
profiler on, then every node's kernel time per run. Run as `python -m bench.layers_worker` with a JSON job on stdin
(see bench.layers.build_job); the record goes, as JSON, to the job's `result_path`. As in bench.worker, only the
standard library is imported at module level: affinity and the thread variables come before ONNX Runtime starts.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.worker import prepare_process, serve_json_job


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
    import numpy as np
    import onnxruntime as ort

    from bench.backends.onnxruntime_backend import session_options

    warmup, runs = int(job["warmup"]), int(job["runs"])
    with tempfile.TemporaryDirectory(prefix="effbench-layers-") as tmp:
        options = session_options(ort, threads)
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(job["onnx"], sess_options=options, providers=["CPUExecutionProvider"])
        first = session.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in first.shape]
        feed = {first.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
        for _ in range(warmup + runs):
            session.run(None, feed)
        profile = Path(session.end_profiling())
        events = json.loads(profile.read_text(encoding="utf-8"))
    nodes, run_ms = node_timings(events, warmup)
    return {
        "ok": True,
        "pid": os.getpid(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "onnxruntime": ort.__version__,
        "nodes": nodes,
        "run_ms": run_ms,
    }


def main() -> int:
    return serve_json_job(run_layer_job)


if __name__ == "__main__":
    raise SystemExit(main())
