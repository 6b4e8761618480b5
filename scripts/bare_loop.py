"""The simplest honest timing loop over one runtime, for the fidelity benchmark (scripts/fidelity.py).

Run pinned (taskset -c 1 python scripts/bare_loop.py …); imports only the runtime it times; prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("onnxruntime", "openvino"), required=True)
    parser.add_argument("--model", required=True, help=".onnx for onnxruntime, .xml (or .onnx) for openvino")
    parser.add_argument("--shape", required=True, help="input shape, e.g. 1,3,224,224")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument(
        "--io-binding",
        action="store_true",
        help="onnxruntime: bind the input once (as effbench does) instead of passing it to run() each call",
    )
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.shape.split(","))
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)

    if args.backend == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # The runtime settings effbench uses (flushed denormals): the comparison is of harnesses, not settings.
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        if args.io_binding:
            binding = session.io_binding()
            binding.bind_cpu_input(name, x)
            binding.bind_output(session.get_outputs()[0].name)

            def infer() -> None:
                session.run_with_iobinding(binding)
        else:

            def infer() -> None:
                session.run(None, {name: x})
    else:
        import openvino as ov

        core = ov.Core()
        compiled = core.compile_model(
            args.model,
            "CPU",
            {
                "INFERENCE_NUM_THREADS": args.threads,
                "NUM_STREAMS": 1,
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_PRECISION_HINT": "f32",
                "CPU_DENORMALS_OPTIMIZATION": True,
            },
        )
        request = compiled.create_infer_request()
        request.set_input_tensor(ov.Tensor(x))

        def infer() -> None:
            request.infer()

    for _ in range(args.warmup):
        infer()
    samples = []
    for _ in range(args.iterations):
        start = time.perf_counter_ns()
        infer()
        samples.append(time.perf_counter_ns() - start)
    print(
        json.dumps(
            {
                "backend": args.backend,
                "median_ms": statistics.median(samples) / 1e6,
                "n": len(samples),
                "affinity": sorted(os.sched_getaffinity(0)),
            }
        )
    )


if __name__ == "__main__":
    main()
