"""The compile process of one AOTInductor package (`python -m bench.export.aot_compile`, started by bench.export.aot):
the zoo model built, exported with torch.export, compiled and packaged by AOTInductor, loaded back and checked
against eager PyTorch fp32.

The job arrives on stdin as JSON; the package is written to the current folder (the entry's staging folder) and the
report to compile.json; everything PyTorch and the C++ compiler print goes to the log the parent keeps. Its own
process, because torch.set_num_threads and Inductor's configuration are process-wide and a compile must not change
the thread pools of the process that goes on to plan and measure.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.errors import first_line
from bench.export.aot import PACKAGE_FILE, RESULT_FILE
from bench.export.parity import (
    PARITY_CONDITIONING_FACTOR,
    PARITY_RTOL,
    compare_outputs,
    float64_reference,
    parity_input,
)
from bench.fsio import replace_file


def autocast_bf16(module: Any) -> Any:
    """`module` with its forward run under CPU autocast to bfloat16, so torch.export captures the casts."""
    import torch

    class AutocastBf16(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = self.inner(x)
            return out.float()

    return AutocastBf16(module).eval()


def compile_package(job: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Build, export, compile, load and check the package of `job` in `folder`; the report (seconds, ISA, parity)."""
    import numpy as np
    import torch

    from bench.nets import build_torch_model
    from bench.zoo import ModelSpec

    threads, precision = int(job["threads"]), str(job["precision"])
    # The generated kernels fix their thread count from this (see bench.export.aot.package_fingerprint_inputs).
    torch.set_num_threads(threads)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    weights = Path(job["weights"]) if job.get("weights") else None
    module = build_torch_model(ModelSpec.from_dict(job["spec"]), seed=int(job["seed"]), weights=weights).eval()
    x_np = parity_input(tuple(job["input_shape"]), int(job["seed"]))
    x = torch.from_numpy(x_np)
    with torch.inference_mode():
        reference = [module(x).numpy()]
    exported_module = autocast_bf16(module) if precision == "bf16" else module
    seconds["build_s"] = time.perf_counter() - started

    started = time.perf_counter()
    program = torch.export.export(exported_module, (x,))
    seconds["export_s"] = time.perf_counter() - started
    started = time.perf_counter()
    torch._inductor.aoti_compile_and_package(
        program, package_path=str(folder / PACKAGE_FILE), inductor_configs=dict(job["configs"])
    )
    seconds["compile_s"] = time.perf_counter() - started
    started = time.perf_counter()
    runner = torch._inductor.aoti_load_package(str(folder / PACKAGE_FILE))
    seconds["load_s"] = time.perf_counter() - started
    with torch.inference_mode():
        outputs = [np.asarray(runner(x).float().numpy())]
    seconds["total_s"] = sum(seconds.values())

    from torch._inductor.cpu_vec_isa import pick_vec_isa

    isa = pick_vec_isa()
    return {
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
        "vec_isa": {"name": str(isa), "flags": isa.build_arch_flags()},
        "parity": parity_report(module, exported_module, x_np, reference, outputs, precision),
    }


def parity_report(
    module: Any, exported: Any, x: Any, reference: list[Any], outputs: list[Any], precision: str
) -> dict[str, Any]:
    """The package against eager PyTorch fp32, with the rule of every runtime: relative error within
    max(PARITY_RTOL, PARITY_CONDITIONING_FACTOR x eager PyTorch's own error at that precision) (fp32: against
    float64, bf16: eager autocast against eager fp32), i.e. about as accurate as eager PyTorch at the precision."""
    import numpy as np
    import torch

    if precision == "bf16":
        with torch.inference_mode():
            eager = [np.asarray(exported(torch.from_numpy(x)).numpy())]
        own = float(compare_outputs(reference, eager)["max_rel_error"])
        basis = "eager PyTorch bf16 autocast against eager fp32"
    else:
        _, own = float64_reference(module, x, reference)
        basis = "eager PyTorch fp32 against float64"
    tolerance = max(PARITY_RTOL, PARITY_CONDITIONING_FACTOR * own)
    return {"reference": "pytorch fp32", **compare_outputs(reference, outputs, tolerance), "reference_error": own,
            "reference_error_of": basis}  # fmt: skip


def main() -> int:
    folder = Path.cwd()
    try:
        report = compile_package(json.loads(sys.stdin.read()), folder)
    except Exception as exc:  # any failure is one line in the report; the log has the traceback
        import traceback

        traceback.print_exc()
        report = {"error": f"{type(exc).__name__}: {first_line(exc)}"}
    replace_file(folder / RESULT_FILE, json.dumps(report))
    return 1 if "error" in report else 0


if __name__ == "__main__":
    raise SystemExit(main())
