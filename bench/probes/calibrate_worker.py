"""The peak-calibration process: pin like a cell, then time back-to-back square matrix multiplies per library.

Run as `python -m bench.probes.calibrate_worker` by bench.engine.launchers: bench.engine.serve reads the
bench.probes.calibrate.CalibrationJob on stdin and writes the CalibrationResult to the job's result file. As in
bench.engine.worker, only the standard library (and bench modules that use nothing else) is imported at module
level: affinity and the thread variables must be in place before numpy (OpenBLAS), MKL or oneDNN start their thread
pools.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

from bench.engine.serve import cpu_usage_warnings, prepare_process, serve
from bench.machine import THIS_MACHINE, activity_warnings, machine_activity, read_cpu_times
from bench.probes.calibrate import CalibrationJob, CalibrationResult, KernelRun, SizeRun

# GEMM kernels by name, in the order they are tried. The peak is the best of them: a core's matmul peak is what
# its best library sustains, and libraries differ by 2x on the same core (on this project's AMD EPYC, torch.mm
# fp32 goes to MKL and reaches ~107 GFLOP/s, OpenBLAS ~123 on its AVX2 kernels, oneDNN's AVX-512 ~235).
FP32_KERNELS = ("torch-onednn", "torch-blas", "numpy-blas", "openvino")
BF16_KERNELS = ("torch-onednn", "openvino")
# int8: OpenVINO's u8 x i8 FullyConnected, the kernel family its int8 cells run (the kernel's name says the ISA
# path: brgemm_avx512_I8, ..._amx_I8), and torch._int_mm (s8 x s8 -> s32). Rates are GOP/s: 2 ops a multiply-add.
INT8_KERNELS = ("openvino", "torch-int8")

# A size's rate is final once a larger size gains less than this over it (the plateau).
PLATEAU_GAIN = 0.03


class Unavailable(Exception):
    """A kernel that cannot run here (library missing, op not built); the reason is recorded, not raised."""


def _torch_threads(threads: int) -> Any:
    try:
        import torch
    except ImportError:
        raise Unavailable("torch is not installed") from None
    torch.set_num_threads(threads)
    return torch


def _torch_onednn(n: int, precision: str, threads: int) -> tuple[Callable[[], Any], str]:
    torch = _torch_threads(threads)
    if not torch.backends.mkldnn.is_available():
        raise Unavailable("this torch build has no oneDNN (mkldnn)")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    gen = torch.Generator().manual_seed(0)
    # torch.mm fp32 goes to the BLAS (MKL); oneDNN's own GEMM is reached through mkldnn tensors and its linear
    # op, which computes a @ b.T: the same 2n^3 FLOP.
    a = torch.randn(n, n, generator=gen).to(dtype)
    b = torch.randn(n, n, generator=gen).to(dtype)
    if precision == "bf16":
        out = torch.empty(n, n, dtype=dtype)
        return (lambda: torch.mm(a, b, out=out)), f"torch {torch.__version__} (oneDNN, torch.mm bfloat16)"
    am, bm = a.to_mkldnn(), b.to_mkldnn()
    linear = torch._C._nn.mkldnn_linear
    return (lambda: linear(am, bm, None)), f"torch {torch.__version__} (oneDNN, mkldnn_linear float32)"


def _torch_blas(n: int, precision: str, threads: int) -> tuple[Callable[[], Any], str]:
    torch = _torch_threads(threads)
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    out = torch.empty(n, n)
    blas = "MKL" if torch.backends.mkl.is_available() else "BLAS"
    return (lambda: torch.mm(a, b, out=out)), f"torch {torch.__version__} ({blas}, torch.mm float32)"


def _torch_int8(n: int, precision: str, threads: int) -> tuple[Callable[[], Any], str]:
    torch = _torch_threads(threads)
    gen = torch.Generator().manual_seed(0)
    a = torch.randint(-128, 128, (n, n), generator=gen, dtype=torch.int8)
    b = torch.randint(-128, 128, (n, n), generator=gen, dtype=torch.int8)
    try:
        torch._int_mm(a, b)
    except RuntimeError as exc:
        raise Unavailable(f"torch._int_mm does not run on this CPU build ({str(exc).splitlines()[0]})") from None
    return (lambda: torch._int_mm(a, b)), f"torch {torch.__version__} (torch._int_mm int8 x int8 -> int32)"


def _openvino_int8_model(ov: Any, ops: Any, np: Any, n: int) -> Any:
    """x (f32) -> FakeQuantize to u8 -> MatMul with i8 weights dequantized by a scale: OpenVINO's low-precision
    transformations make it one u8 x i8 FullyConnected, as they do a QDQ model's layers."""
    rng = np.random.default_rng(0)
    x = ops.parameter([n, n], ov.Type.f32)
    low, high = np.float32(0.0), np.float32(2.55)
    quantized = ops.fake_quantize(x, low, high, low, high, 256)
    weights = ops.constant(rng.integers(-127, 128, (n, n)).astype(np.int8))
    scale = ops.constant(np.full((1, n), 0.01, np.float32))
    dequantized = ops.multiply(ops.convert(weights, ov.Type.f32), scale)
    return ov.Model([ops.matmul(quantized, dequantized, False, False)], [x], "effbench_peak_int8_matmul")


def _numpy_blas(n: int, precision: str, threads: int) -> tuple[Callable[[], Any], str]:
    try:
        import numpy as np
    except ImportError:
        raise Unavailable("numpy is not installed") from None
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    return (lambda: np.matmul(a, b, out=out)), f"numpy {np.__version__} ({_numpy_blas_name(np)}, matmul float32)"


def _numpy_blas_name(np: Any) -> str:
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas.get('version', '')}".strip()
    except Exception:  # the config layout differs between numpy versions; the name is only informative
        return "BLAS"


def _openvino(n: int, precision: str, threads: int) -> tuple[Callable[[], Any], str]:
    try:
        import numpy as np
        import openvino as ov
        import openvino.opset13 as ops
    except ImportError:
        raise Unavailable("openvino is not installed") from None
    rng = np.random.default_rng(0)
    param = ops.parameter([n, n], ov.Type.f32)
    weight = ops.constant(rng.standard_normal((n, n), dtype=np.float32))
    model = ov.Model([ops.matmul(param, weight, False, False)], [param], "effbench_peak_matmul")
    if precision == "int8":
        model = _openvino_int8_model(ov, ops, np, n)
    hint = "bf16" if precision == "bf16" else "f32"  # int8: the quantized MatMul runs u8 x i8 whatever the hint
    compiled = ov.Core().compile_model(
        model,
        "CPU",
        {
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": hint,
            "ENABLE_CPU_PINNING": False,
        },
    )
    got = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
    if precision == "bf16" and "bf16" not in got.lower() and "bfloat16" not in got.lower():
        raise Unavailable(f"openvino compiled the matmul with precision {got}, not bf16")
    request = compiled.create_infer_request()
    if precision == "int8":
        ops_run = compiled.get_runtime_model().get_ordered_ops()
        fc = ("FullyConnected", "MatMul")
        found = sorted({_rt(op, "primitiveType") for op in ops_run
                        if _rt(op, "runtimePrecision") in ("u8", "i8") and _rt(op, "layerType") in fc})  # fmt: skip
        if not found:
            raise Unavailable("openvino did not compile the quantized matmul to an int8 kernel")
        request.set_input_tensor(ov.Tensor((rng.random((n, n)) * 2.55).astype(np.float32)))
        return request.infer, f"openvino {ov.get_version()} (oneDNN, u8 x i8 FullyConnected, {', '.join(found)})"
    request.set_input_tensor(ov.Tensor(rng.standard_normal((n, n), dtype=np.float32)))
    return request.infer, f"openvino {ov.get_version()} (oneDNN, MatMul, precision hint {hint})"


def _rt(op: Any, key: str) -> str:
    info = op.get_rt_info()
    return str(info[key].astype(str)) if key in info else ""


KERNEL_BUILDERS: dict[str, Callable[[int, str, int], tuple[Callable[[], Any], str]]] = {
    "torch-onednn": _torch_onednn,
    "torch-blas": _torch_blas,
    "numpy-blas": _numpy_blas,
    "openvino": _openvino,
    "torch-int8": _torch_int8,
}


def time_size(
    call: Callable[[], Any],
    n: int,
    *,
    budget_s: float,
    window_s: float,
    min_windows: int,
    max_windows: int,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> SizeRun:
    """Windows of back-to-back calls, each about `window_s` long; GFLOP/s per window = reps x 2n^3 / t.

    Two calls outside the windows first (allocation, JIT, page faults; the second sizes the windows). A window
    repeats the call enough times to last `window_s`, so a rate is sustained, not one lucky call; windows continue
    until `budget_s` is spent (at least `min_windows`, at most `max_windows`). The best window is the size's
    rate: interruptions only lower a window.
    """
    flop = 2.0 * n**3
    start = clock()
    call()
    first_ns = max(clock() - start, 1)
    call()  # the first call may include a JIT or packing step: size the windows on a second, warm one
    warm_ns = max(clock() - start - first_ns, 1)
    repeats = max(1, math.ceil(window_s * 1e9 / warm_ns))
    windows: list[float] = []
    spent_ns = first_ns + warm_ns
    while len(windows) < max_windows and (len(windows) < min_windows or spent_ns < budget_s * 1e9):
        t0 = clock()
        for _ in range(repeats):
            call()
        elapsed = max(clock() - t0, 1)
        spent_ns += elapsed
        windows.append(repeats * flop / elapsed)  # FLOP per ns = GFLOP/s
    return SizeRun(
        n=n,
        repeats=repeats,
        windows_gflops=tuple(windows),
        first_call_s=first_ns / 1e9,
        call_s=warm_ns / 1e9,
        time_s=spent_ns / 1e9,
    )


def measure_kernel(
    kernel: str,
    precision: str,
    *,
    threads: int,
    sizes: tuple[int, ...],
    budget_s: float,
    window_s: float,
    min_windows: int,
    max_windows: int,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> KernelRun:
    """One library at one precision over increasing sizes, stopping at the plateau or when the budget is spent."""
    done: list[SizeRun] = []
    library: str | None = None
    per_size_s = budget_s / max(len(sizes), 1)
    used_s = 0.0
    for index, n in enumerate(sizes):
        if len(done) >= 2 and done[-1].gflops < (1 + PLATEAU_GAIN) * done[-2].gflops:
            stopped = f"plateau: n={done[-1].n} gained < {PLATEAU_GAIN:.0%} over n={done[-2].n}"
            return KernelRun(kernel=kernel, library=library, sizes=tuple(done), stopped=stopped, time_s=used_s)
        if len(done) >= 2:
            # The first two sizes always run (the plateau check needs both). One call of a larger size costs about
            # (n/n_prev)^3 of the last; skip it if its minimum of calls would overrun this kernel's budget.
            estimate_s = done[-1].call_s * (n / done[-1].n) ** 3 * (2 + min_windows)
            if used_s + estimate_s > budget_s:
                stopped = f"budget: n={n} would take ~{estimate_s:.2g} s"
                return KernelRun(kernel=kernel, library=library, sizes=tuple(done), stopped=stopped, time_s=used_s)
        try:
            call, library = KERNEL_BUILDERS[kernel](n, precision, threads)
        except Unavailable as exc:
            return KernelRun(kernel=kernel, library=library, sizes=tuple(done), error=str(exc), time_s=used_s)
        except Exception as exc:  # a library that fails here is reported beside the others, not fatal
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            return KernelRun(kernel=kernel, library=library, sizes=tuple(done), error=error, time_s=used_s)
        remaining_sizes = len(sizes) - index
        size_budget = max(per_size_s, (budget_s - used_s) / remaining_sizes) if index else per_size_s
        result = time_size(
            call,
            n,
            budget_s=size_budget,
            window_s=window_s,
            min_windows=min_windows,
            max_windows=max_windows,
            clock=clock,
        )
        used_s += result.time_s
        done.append(result)
        del call  # free the matrices before the next size allocates
    return KernelRun(kernel=kernel, library=library, sizes=tuple(done), time_s=used_s)


def run_job(job: CalibrationJob, *, pin: bool = True) -> CalibrationResult:
    """Measure every kernel of every precision the job names."""
    cpus = list(job.cpus)
    if pin:
        prepare_process(cpus, job.threads)
    started = time.perf_counter()
    stat_start = read_cpu_times()
    cpu_start = time.process_time()
    kernel_budget_s = job.budget_s / max(1, sum(len(k) for k in job.kernels.values()))
    precisions = {
        precision: tuple(
            measure_kernel(
                kernel,
                precision,
                threads=job.threads,
                sizes=job.sizes,
                budget_s=kernel_budget_s,
                window_s=job.window_s,
                min_windows=job.min_windows,
                max_windows=job.max_windows,
            )
            for kernel in kernels
        )
        for precision, kernels in job.kernels.items()
    }
    wall_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_start
    affinity = sorted(os.sched_getaffinity(0))
    ratio = cpu_s / wall_s if wall_s > 0 else 0.0
    warnings: list[str] = []
    if pin and cpus and affinity != sorted(cpus):
        warnings.append(f"the calibration ran on CPUs {affinity}, not the {sorted(cpus)} asked for")
    if pin:  # in-process test runs share the machine with the test runner: nothing to say about it
        warnings.extend(cpu_usage_warnings(ratio, job.threads, cpus))
        warnings.extend(activity_warnings(machine_activity(stat_start, read_cpu_times(), cpus or affinity), cpus))
    return CalibrationResult(
        precisions=precisions,
        duration_s=wall_s,
        cpu_wall_ratio=ratio,
        affinity=tuple(affinity),
        warnings=tuple(warnings),
        pid=os.getpid(),
        os_threads=THIS_MACHINE.os_thread_count(),
        thread_env={k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
    )


def main() -> int:
    return serve(CalibrationJob, run_job)


if __name__ == "__main__":
    raise SystemExit(main())
