"""The core's measured matrix-multiply peak (fp32, bf16, int8) on the cells' CPUs and threads, and % of peak per cell.

A cell's achieved GFLOP/s (2 x effective MACs / median latency) means little alone; against the best rate the same core
sustains on a dense GEMM it shows how far each model's layers are from what the hardware can do. That peak is
measured, not looked up, in a clean worker (bench.probes.calibrate_worker) pinned to the cells' CPUs with their thread
count: in a VM the advertised frequency is not the clock the core runs at, so the flags x GHz figure is kept only
as a separately labelled second number.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar

from bench.calibration import CALIBRATION_VERSION, KernelRun, PeakCalibration, PrecisionPeak, SizeRun
from bench.engine.job import Job
from bench.errors import EffbenchError
from bench.formats import Record

if TYPE_CHECKING:
    from bench.engine.launchers import Launcher

PRECISIONS = ("fp32", "bf16", "int8")  # int8: GOP/s, 2 integer ops a multiply-add
# Calibrated unless a run names its precisions: int8 only where a run has int8 cells (suites name theirs).
DEFAULT_PRECISIONS = ("fp32", "bf16")


def rate_unit(precision: str) -> str:
    """int8 multiply-adds are integer operations: GOP/s, as the int8 peak is calibrated; GFLOP/s otherwise."""
    return "GOP/s" if precision.startswith("int8") else "GFLOP/s"


# 1024 already fills the pipelines of one core; 2048 shows whether it was at the plateau; 4096 runs only when
# 2048 still gained (several threads), and only if it fits the budget (bench.probes.calibrate_worker.measure_kernel).
DEFAULT_SIZES = (1024, 2048, 4096)
# Timed budget split over the kernels (3 fp32 + 1 bf16 with torch installed): ~0.5 s per size, 3-6 windows of
# 0.1 s each. With the torch import the whole calibration takes about 6 s of one core.
DEFAULT_BUDGET_S = 4.0
DEFAULT_WINDOW_S = 0.1
MIN_WINDOWS = 3
MAX_WINDOWS = 10
# A worker gets this long for imports on top of its budget before it counts as hung.
STARTUP_ALLOWANCE_S = 120.0

BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def best_of_rounds(before: PeakCalibration, after: PeakCalibration) -> PeakCalibration:
    """One record from a calibration before the cells and one after: each precision keeps the higher peak.

    A few seconds of calibration on a shared host can catch the core slower than the cells later find it (a busy
    neighbour, a lower clock): the cells then run above "100% of peak". The better of two calibrations minutes
    apart is the closer estimate of what the core sustains; both rounds stay in the record.
    """
    peaks = []
    for first in before.peaks:
        second = after.peak(first.precision)
        better = second is not None and second.gflops is not None and (first.gflops or 0.0) < second.gflops
        peaks.append(second if better and second is not None else first)
    rounds = before.rounds or (before.round_summary("before the cells"),)
    return replace(
        before,
        peaks=tuple(peaks),
        duration_s=before.duration_s + after.duration_s,
        measure_s=before.measure_s + after.measure_s,
        warnings=tuple(dict.fromkeys((*before.warnings, *after.warnings))),
        version=CALIBRATION_VERSION,
        rounds=(*rounds, after.round_summary("after the cells")),
    )


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The entries of a worker's record that are fields of the dataclass `cls`: the worker adds a few (a kernel's
    precision and best rate) that the calibration record derives instead of storing."""
    names = {f.name for f in fields(cls)} - Record._bookkeeping
    return {k: v for k, v in data.items() if k in names}


def _kernel_from_dict(data: dict[str, Any]) -> KernelRun:
    """A kernel's run from the worker's record (bench.probes.calibrate_worker)."""
    sizes = tuple(SizeRun.from_dict(_known(SizeRun, s), "calibration worker record") for s in data.get("sizes", ()))
    return KernelRun(**{**_known(KernelRun, data), "sizes": sizes, "time_s": float(data.get("time_s") or 0.0)})


# ------------------------------------------------------------------------------ cells against the peak


def achieved_gflops(macs: int | float, median_ms: float) -> float:
    """A cell's rate: 2 FLOP per multiply-add over its median latency (GFLOP/s)."""
    if median_ms <= 0:
        raise ValueError(f"median latency must be > 0 ms, got {median_ms}")
    return 2.0 * macs / (median_ms * 1e6)


def percent_of_peak(gflops: float | None, peak_gflops: float | None) -> float | None:
    """`gflops` as a percentage of the measured peak; None when either is unknown."""
    if gflops is None or not peak_gflops:
        return None
    return 100.0 * gflops / peak_gflops


# ----------------------------------------------------------------------------- the CPU and its flags


@dataclass(frozen=True)
class CpuDescription:
    """What the flags x GHz figure and the bf16 decision need to know about the CPU."""

    brand: str | None
    flags: frozenset[str]
    hz_advertised: float | None  # Hz, as the CPU or the hypervisor advertises it

    @property
    def virtualized(self) -> bool:
        return "hypervisor" in self.flags

    @classmethod
    def from_metadata(cls, cpu: dict[str, Any]) -> CpuDescription:
        """From the machine metadata's "cpu" section (bench.machine.collect_machine_metadata)."""
        hz = cpu.get("hz_advertised")
        return cls(cpu.get("brand"), frozenset(cpu.get("flags") or ()), float(hz) if hz else None)


def read_cpu_description() -> CpuDescription:
    """This machine's CPU, through the machine metadata collector (about 1 s: py-cpuinfo probes the CPU)."""
    from bench.machine import collect_machine_metadata

    return CpuDescription.from_metadata(collect_machine_metadata()["cpu"])


def bf16_unsupported(flags: Collection[str]) -> str | None:
    """None when the CPU computes bf16 natively (AVX-512 BF16 or AMX), else the reason a bf16 cell is skipped."""
    if any(flag in flags for flag in BF16_FLAGS):
        return None
    return (
        "the CPU has neither AVX-512 BF16 nor AMX (no avx512_bf16 or amx_bf16 flag): bf16 would run emulated or in fp32"
    )


def flops_per_cycle(flags: Collection[str], precision: str) -> tuple[int, str] | None:
    """Peak FLOP per cycle per core the ISA allows, with the assumption behind it; None if unknown."""
    if precision == "int8":
        if "amx_int8" in flags:
            return 2048, "AMX-INT8 (TDPBUSD: 1024 multiply-adds per cycle)"
        if "avx512_vnni" in flags:
            return 256, "AVX-512 VNNI (VPDPBUSD: 64 multiply-adds per instruction, 2 units assumed)"
        if "avx_vnni" in flags:
            return 128, "AVX-VNNI (VPDPBUSD on 256 bits: 32 multiply-adds per instruction, 2 units assumed)"
        return None  # without VNNI the u8 x s8 path takes three instructions per multiply-add pair: no clean figure
    if precision == "bf16":
        if "amx_bf16" in flags:
            return 1024, "AMX-BF16 (TDPBF16PS: 512 multiply-adds per cycle)"
        if "avx512_bf16" in flags:
            return 128, "AVX-512 BF16 (VDPBF16PS: 32 multiply-adds per instruction, 2 units assumed)"
        return None
    if "avx512f" in flags and "fma" in flags:
        return 64, "AVX-512F + FMA (16 fp32 lanes, 2 FMA units assumed; 1-unit parts reach half)"
    if "avx2" in flags and "fma" in flags:
        return 32, "AVX2 + FMA (8 fp32 lanes, 2 FMA units)"
    if "avx" in flags:
        return 16, "AVX without FMA (one 8-lane multiply and one 8-lane add per cycle)"
    return None


def theoretical_peak(cpu: CpuDescription, cores: int, precision: str) -> tuple[float | None, str]:
    """cores x advertised GHz x FLOP/cycle, and the text saying how it was computed (and why it can be off)."""
    per_cycle = flops_per_cycle(cpu.flags, precision)
    if per_cycle is None:
        return None, f"unknown: no {precision} FLOP/cycle figure for this CPU's flags"
    if not cpu.hz_advertised:
        return None, "unknown: the CPU advertises no frequency"
    flop, isa = per_cycle
    ghz = cpu.hz_advertised / 1e9
    basis = f"{cores} core{'s' if cores != 1 else ''} x {ghz:.2f} GHz advertised x {flop} FLOP/cycle ({isa})"
    if cpu.virtualized:
        basis += "; in this VM the advertised frequency is not the clock the core runs at"
    return cores * ghz * flop, basis


# --------------------------------------------------------------------------------- the worker job


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def default_kernels(precision: str, installed: Callable[[str], bool] = _installed) -> list[str]:
    """The GEMM libraries to try, best first: torch's oneDNN (and its BLAS, and numpy's BLAS, which differ by
    vendor) when torch is installed; OpenVINO (oneDNN too) only without torch, to keep the calibration short."""
    if precision == "bf16":
        return ["torch-onednn"] if installed("torch") else ["openvino"] if installed("openvino") else []
    if precision == "int8":
        return [k for k, module in (("openvino", "openvino"), ("torch-int8", "torch")) if installed(module)]
    kernels = ["torch-onednn", "torch-blas"] if installed("torch") else []
    if installed("numpy"):
        kernels.append("numpy-blas")
    if not kernels or (not installed("torch") and installed("openvino")):
        kernels.append("openvino")
    return kernels


@dataclass(frozen=True)
class CalibrationResult:
    """What the calibration worker sends back (bench.probes.calibrate_worker.run_job): every kernel it timed per
    precision, the timed part's wall time and CPU use, and where it ran."""

    precisions: dict[str, tuple[KernelRun, ...]]
    duration_s: float
    cpu_wall_ratio: float
    affinity: tuple[int, ...]
    warnings: tuple[str, ...]
    pid: int = 0
    os_threads: int = -1
    thread_env: dict[str, str | None] = field(default_factory=dict)  # the thread variables it saw

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["precisions"] = {p: [k.to_dict() for k in kernels] for p, kernels in self.precisions.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibrationResult:
        precisions = {p: tuple(_kernel_from_dict(k) for k in kernels) for p, kernels in data["precisions"].items()}
        values = {**_known(cls, dict(data)), "affinity": tuple(data["affinity"]), "warnings": tuple(data["warnings"])}
        return cls(**{**values, "precisions": precisions})


@dataclass(frozen=True, kw_only=True)
class CalibrationJob(Job[CalibrationResult]):
    """What the calibration worker is asked: the GEMM libraries to time per precision, the matrix sizes, the timed
    budget shared by all kernels, and the windows each size is timed in."""

    worker: ClassVar[str] = "bench.probes.calibrate_worker"
    kernels: dict[str, tuple[str, ...]]  # precision -> kernel names, best first
    budget_s: float = DEFAULT_BUDGET_S
    sizes: tuple[int, ...] = DEFAULT_SIZES
    window_s: float = DEFAULT_WINDOW_S
    min_windows: int = MIN_WINDOWS
    max_windows: int = MAX_WINDOWS

    def read_result(self, data: Any) -> CalibrationResult:
        return CalibrationResult.from_dict(data)


# ---------------------------------------------------------------------------------- measuring


def _method(kernel: KernelRun, size: SizeRun, precision: str, threads: int) -> str:
    return (
        f"best of {len(size.windows_gflops)} sustained windows of {size.repeats} back-to-back {size.n}x{size.n} "
        f"{precision} matrix multiplies ({kernel.library}, {threads} thread{'s' if threads != 1 else ''}); "
        "GFLOP/s = repeats x 2n^3 / window time; the best kernel and size of those tried"
    )


def _precision_peak(
    precision: str,
    kernels: tuple[KernelRun, ...],
    unavailable: str | None,
    cpu: CpuDescription,
    threads: int,
) -> PrecisionPeak:
    theoretical, basis = theoretical_peak(cpu, threads, precision)
    best: tuple[KernelRun, SizeRun] | None = None
    for kernel in kernels:
        for size in kernel.sizes:
            if best is None or size.gflops > best[1].gflops:
                best = (kernel, size)
    if best is None:
        if unavailable is None:
            errors = "; ".join(f"{k.kernel}: {k.error}" for k in kernels if k.error) or "no GEMM library installed"
            unavailable = f"no kernel ran ({errors})"
        return PrecisionPeak(
            precision=precision, unavailable=unavailable, kernels=kernels, theoretical_gflops=theoretical,
            theoretical_basis=basis,
        )  # fmt: skip
    kernel, size = best
    return PrecisionPeak(
        precision=precision, gflops=size.gflops, library=kernel.library, n=size.n,
        method=_method(kernel, size, precision, threads), kernels=kernels, theoretical_gflops=theoretical,
        theoretical_basis=basis,
    )  # fmt: skip


def measure_peak(
    cpus: Sequence[int],
    threads: int,
    precisions: Sequence[str] = DEFAULT_PRECISIONS,
    budget_s: float = DEFAULT_BUDGET_S,
    *,
    cpu: CpuDescription | None = None,
    sizes: Sequence[int] = DEFAULT_SIZES,
    window_s: float = DEFAULT_WINDOW_S,
    kernels: dict[str, list[str]] | None = None,
    launcher: Launcher | None = None,
) -> PeakCalibration:
    """The best sustained GEMM rate per precision on `cpus` with `threads` threads, in one clean worker (started by
    `launcher`, a real pinned process unless given).

    bf16 is measured only where the CPU computes it natively (bf16_unsupported); a precision with no CPU
    support, no library or a failed worker is recorded as unavailable with the reason, never raised: a suite
    run goes on without % of peak. `kernels` (precision -> kernel names) overrides default_kernels.
    """
    from bench.engine.launchers import SubprocessLauncher

    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        raise EffbenchError(f"unknown precision {unknown[0]!r} for the peak calibration; use {', '.join(PRECISIONS)}")
    if threads < 1:
        raise EffbenchError(f"threads must be >= 1 for the peak calibration, got {threads}")
    cpu = cpu if cpu is not None else read_cpu_description()
    unavailable: dict[str, str] = {}
    chosen: dict[str, list[str]] = {}
    for precision in precisions:
        names = kernels[precision] if kernels and precision in kernels else default_kernels(precision)
        reason = bf16_unsupported(cpu.flags) if precision == "bf16" else None
        if reason is None and not names:
            reason = f"no library for a {precision} GEMM is installed (torch, numpy or openvino)"
        if reason:
            unavailable[precision] = reason
        else:
            chosen[precision] = names
    job = CalibrationJob(
        cpus=tuple(cpus), threads=threads, kernels={p: tuple(names) for p, names in chosen.items()},
        budget_s=budget_s, sizes=tuple(sizes), window_s=window_s,
    )  # fmt: skip
    started = time.perf_counter()
    result: CalibrationResult | None = None
    if chosen:
        outcome = (launcher or SubprocessLauncher()).launch(job, STARTUP_ALLOWANCE_S + 3 * budget_s)
        result = outcome.record
        if result is None:
            for precision in chosen:
                unavailable[precision] = f"calibration failed: {outcome.reason()}"
    duration = time.perf_counter() - started
    measured = result.precisions if result is not None else {}
    peaks = tuple(
        _precision_peak(precision, measured.get(precision, ()), unavailable.get(precision), cpu, threads)
        for precision in precisions
    )
    return PeakCalibration(
        cpus=tuple(cpus),
        threads=threads,
        peaks=peaks,
        duration_s=duration,
        measure_s=result.duration_s if result is not None else 0.0,
        affinity=result.affinity if result is not None else (),
        cpu_wall_ratio=result.cpu_wall_ratio if result is not None else None,
        warnings=result.warnings if result is not None else (),
        cpu_brand=cpu.brand,
        hz_advertised=cpu.hz_advertised,
        virtualized=cpu.virtualized,
    )
