"""Why rates against the peak count effective MACs: a padded 3x3 convolution beside the same one without padding.

    python scripts/padding_taps.py --cpu 1 [--windows 8] [--json OUT.json]

OpenVINO's CPU plugin (oneDNN's brgconv) skips the kernel taps that fall on a convolution's zero padding. Counted
on every tap (the paper's MACs), a padded 3x3 convolution on a small map therefore runs "faster than the core's
matrix-multiply peak"; counted on the taps inside the input (bench.zoo.effective.inside_taps) it runs at that peak,
like the same convolution given an input that is already padded, where no tap is skipped. This script measures
both on one pinned CPU, one thread, fp32, interleaved, with OpenVINO's MatMul beside them, and prints each rate
both ways.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine.serve import prepare_process
from bench.zoo.effective import inside_taps

# (channels, output map side): ResNet's last two stages, where 9% and 18% of a 3x3 conv's taps are padding.
SHAPES = ((256, 14), (512, 7))


def _compile(model: Any) -> Any:
    import openvino as ov

    from bench.backends.openvino_backend import compile_config

    return ov.Core().compile_model(model, "CPU", compile_config(ov, 1, "fp32"))  # the cells' settings


def _conv(channels: int, side: int, padded_input: bool) -> tuple[Any, tuple[int, ...]]:
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    size, pad = (side + 2, 0) if padded_input else (side, 1)
    param = ops.parameter([1, channels, size, size], ov.Type.f32)
    rng = np.random.default_rng(0)
    weight = ops.constant(rng.standard_normal((channels, channels, 3, 3), dtype=np.float32) * 0.01)
    node = ops.convolution(param, weight, [1, 1], [pad, pad], [pad, pad], [1, 1])
    return ov.Model([node], [param], "conv"), (1, channels, size, size)


def _matmul(n: int) -> tuple[Any, tuple[int, ...]]:
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    param = ops.parameter([n, n], ov.Type.f32)
    weight = ops.constant(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
    return ov.Model([ops.matmul(param, weight, False, False)], [param], "matmul"), (n, n)


def _request(model: Any, shape: tuple[int, ...]) -> Any:
    import numpy as np
    import openvino as ov

    request = _compile(model).create_infer_request()
    request.set_input_tensor(ov.Tensor(np.random.default_rng(1).standard_normal(shape, dtype=np.float32)))
    for _ in range(5):
        request.infer()
    return request


def _window(request: Any, seconds: float) -> float:
    """Calls per second over one window of back-to-back calls."""
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        request.infer()
        calls += 1
    return calls / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--cpu", type=int, default=1, help="the CPU to pin to (default 1)")
    parser.add_argument("--windows", type=int, default=8, help="interleaved windows of 0.15 s per kernel")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    prepare_process([args.cpu], 1)

    kernels: dict[str, tuple[Any, int, int]] = {}  # name -> (request, MACs on every tap, MACs inside the input)
    model, shape = _matmul(1024)
    kernels["matmul 1024"] = (_request(model, shape), 1024**3, 1024**3)
    for channels, side in SHAPES:
        for padded_input in (False, True):
            model, shape = _conv(channels, side, padded_input)
            all_taps = channels * channels * 9 * side * side
            size, pad = (side + 2, 0) if padded_input else (side, 1)
            inside = channels * channels * inside_taps(size, 3, 1, pad) ** 2
            label = f"conv3x3 {channels}ch {side}x{side}, " + ("input pre-padded" if padded_input else "padding 1")
            kernels[label] = (_request(model, shape), all_taps, inside)

    best: dict[str, float] = dict.fromkeys(kernels, 0.0)
    for _ in range(args.windows):  # interleaved, so a slow phase of a shared host hits every kernel alike
        for name, (request, _all, _inside) in kernels.items():
            best[name] = max(best[name], _window(request, 0.15))

    peak = 2 * kernels["matmul 1024"][1] * best["matmul 1024"] / 1e9
    rows = []
    print(f"CPU {args.cpu}, 1 thread, fp32, best of {args.windows} windows; matmul peak {peak:.1f} GFLOP/s")
    print(f"{'kernel':<42} {'GFLOP/s all taps':>17} {'% of peak':>10} {'GFLOP/s effective':>18} {'% of peak':>10}")
    for name, (_, all_taps, inside) in kernels.items():
        nominal, effective = 2 * all_taps * best[name] / 1e9, 2 * inside * best[name] / 1e9
        rows.append({"kernel": name, "gflops_all_taps": nominal, "gflops_effective": effective, "peak": peak})
        shares = f"{100 * nominal / peak:>9.1f}% {effective:>18.1f} {100 * effective / peak:>9.1f}%"
        print(f"{name:<42} {nominal:>17.1f} {shares}")
    if args.json:
        args.json.write_text(json.dumps({"cpu": args.cpu, "windows": args.windows, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
