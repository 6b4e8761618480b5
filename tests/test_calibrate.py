"""Peak calibration: window arithmetic on a fake clock, plateau/budget rules, the calibration job through the
in-process launcher and one real subprocess, the record round trip, the flags x GHz figure, and % of peak."""

from __future__ import annotations

import json
import os
from typing import Any, TypeVar

import pytest

from bench.engine.job import Job
from bench.engine.launchers import InProcessLauncher, SubprocessLauncher, WorkerOutcome
from bench.errors import EffbenchError
from bench.probes import calibrate_worker
from bench.probes.calibrate import (
    CALIBRATION_VERSION,
    CalibrationJob,
    CpuDescription,
    KernelRun,
    PeakCalibration,
    achieved_gflops,
    bf16_unsupported,
    default_kernels,
    flops_per_cycle,
    measure_peak,
    percent_of_peak,
    theoretical_peak,
)

ZEN5 = frozenset({"avx", "avx2", "fma", "avx512f", "avx512_bf16", "hypervisor"})
SAPPHIRE_RAPIDS = frozenset({"avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
SANDY_BRIDGE = frozenset({"sse2", "avx"})  # the paper's Xeon E5-2690
HASWELL = frozenset({"avx", "avx2", "fma"})

R = TypeVar("R")


class FakeClock:
    """A nanosecond clock that only moves when a fake GEMM call runs."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def fake_builder(clock: FakeClock, gflops_at: dict[int, float], first_call_ns: int = 0) -> Any:
    """A kernel builder whose n x n call takes exactly 2n^3 / rate ns on `clock` (and a slower first call)."""

    def build(n: int, precision: str, threads: int) -> tuple[Any, str]:
        calls = [0]

        def call() -> None:
            calls[0] += 1
            extra = first_call_ns if calls[0] == 1 else 0
            clock.now += round(2 * n**3 / gflops_at[n]) + extra

        return call, f"fake gemm ({precision})"

    return build


# ------------------------------------------------------------------------------ the window arithmetic


def test_time_size_rates_are_reps_times_2n3_over_window_time() -> None:
    clock = FakeClock()
    call, _ = fake_builder(clock, {100: 50.0}, first_call_ns=10_000_000)(100, "fp32", 1)
    # one call: 2e6 FLOP at 50 GFLOP/s = 40,000 ns; a 1 ms window holds 25 of them
    result = calibrate_worker.time_size(
        call, 100, budget_s=0.014, window_s=0.001, min_windows=3, max_windows=10, clock=clock
    )
    assert result.repeats == 25
    # the two warm-up calls took 10.04 ms of the 14 ms budget: 4 windows of 1 ms fill the rest
    assert result.windows_gflops == pytest.approx([50.0] * 4)
    assert result.gflops == pytest.approx(50.0)
    assert result.first_call_s == pytest.approx(0.01004)  # the slow first call is kept out of the windows
    assert result.call_s == pytest.approx(40e-6)
    assert result.time_s == pytest.approx(0.01408)  # both warm-up calls and the four windows


def test_time_size_keeps_min_windows_even_past_the_budget_and_stops_at_max() -> None:
    clock = FakeClock()
    call, _ = fake_builder(clock, {64: 10.0})(64, "fp32", 1)
    few = calibrate_worker.time_size(call, 64, budget_s=0.0, window_s=0.0, min_windows=3, max_windows=9, clock=clock)
    assert len(few.windows_gflops) == 3 and few.repeats == 1
    many = calibrate_worker.time_size(call, 64, budget_s=10.0, window_s=0.0, min_windows=3, max_windows=5, clock=clock)
    assert len(many.windows_gflops) == 5


def _measure(
    monkeypatch: pytest.MonkeyPatch, rates: dict[int, float], sizes: tuple[int, ...], budget_s: float
) -> KernelRun:
    clock = FakeClock()
    monkeypatch.setitem(calibrate_worker.KERNEL_BUILDERS, "fake", fake_builder(clock, rates))
    return calibrate_worker.measure_kernel(
        "fake", "fp32", threads=1, sizes=sizes, budget_s=budget_s, window_s=0.001, min_windows=3, max_windows=5,
        clock=clock,
    )  # fmt: skip


def test_sizes_stop_at_the_plateau(monkeypatch: pytest.MonkeyPatch) -> None:
    record = _measure(monkeypatch, {64: 100.0, 128: 200.0, 256: 202.0, 512: 400.0}, (64, 128, 256, 512), 10.0)
    assert [s.n for s in record.sizes] == [64, 128, 256]  # 256 gained 1% over 128: 512 never runs
    assert record.stopped is not None and record.stopped.startswith("plateau")
    assert record.gflops == pytest.approx(202.0)
    assert record.library == "fake gemm (fp32)"
    assert record.time_s == pytest.approx(sum(s.time_s for s in record.sizes))


def test_larger_sizes_skipped_when_over_budget_but_the_first_two_always_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1 GFLOP/s: a 512 call would take 0.27 s, far over a 1 ms budget; 64 and 128 still run for the plateau check
    record = _measure(monkeypatch, {64: 1.0, 128: 2.0, 512: 4.0}, (64, 128, 512), 0.001)
    assert [s.n for s in record.sizes] == [64, 128]
    assert record.stopped is not None and record.stopped.startswith("budget: n=512")


def test_an_unavailable_kernel_is_recorded_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(n: int, precision: str, threads: int) -> Any:
        raise calibrate_worker.Unavailable("fakelib is not installed")

    monkeypatch.setitem(calibrate_worker.KERNEL_BUILDERS, "fake", missing)
    record = calibrate_worker.measure_kernel(
        "fake", "fp32", threads=1, sizes=(64,), budget_s=1, window_s=0.001, min_windows=3, max_windows=3
    )
    assert record.error == "fakelib is not installed" and record.sizes == () and record.gflops is None


def test_a_library_failing_at_a_larger_size_keeps_the_sizes_it_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    timed = fake_builder(clock, {64: 10.0})

    def fails_at_128(n: int, precision: str, threads: int) -> Any:
        if n == 128:
            raise MemoryError("no room for 128")
        return timed(n, precision, threads)

    monkeypatch.setitem(calibrate_worker.KERNEL_BUILDERS, "fake", fails_at_128)
    record = calibrate_worker.measure_kernel(
        "fake", "fp32", threads=1, sizes=(64, 128), budget_s=1, window_s=0.001, min_windows=3, max_windows=3,
        clock=clock,
    )  # fmt: skip
    assert record.error == "MemoryError: no room for 128" and [s.n for s in record.sizes] == [64]
    assert record.library == "fake gemm (fp32)" and record.time_s == pytest.approx(record.sizes[0].time_s)


# ----------------------------------------------------------------------------- the worker protocol

TINY: dict[str, Any] = {"sizes": (64,), "budget_s": 0.05, "window_s": 0.002}


def test_in_process_worker_measures_numpy_and_round_trips() -> None:
    pytest.importorskip("numpy")
    cpu = CpuDescription("test CPU", HASWELL, 3.0e9)
    launcher = InProcessLauncher()
    cal = measure_peak([0], 1, cpu=cpu, kernels={"fp32": ["numpy-blas"]}, launcher=launcher, **TINY)
    (job,) = launcher.jobs
    assert isinstance(job, CalibrationJob) and job.kernels == {"fp32": ("numpy-blas",)} and job.sizes == (64,)
    fp32 = cal.peak("fp32")
    assert fp32 is not None and fp32.status == "measured"
    assert fp32.gflops is not None and fp32.gflops > 0
    assert fp32.n == 64 and fp32.library is not None and fp32.library.startswith("numpy ")
    (kernel,) = fp32.kernels
    assert kernel.kernel == "numpy-blas" and len(kernel.sizes[0].windows_gflops) >= 3
    assert fp32.gflops == max(kernel.sizes[0].windows_gflops)
    assert "best of" in fp32.method and "64x64 fp32" in fp32.method
    assert fp32.theoretical_gflops == pytest.approx(96.0)  # 1 core x 3 GHz x 32 (AVX2 + FMA)
    bf16 = cal.peak("bf16")
    assert bf16 is not None and bf16.status == "unavailable" and "avx512_bf16" in (bf16.unavailable or "")
    data = cal.to_dict()
    assert data["version"] == CALIBRATION_VERSION
    assert PeakCalibration.from_dict(json.loads(json.dumps(data))) == cal
    assert data["peaks"]["fp32"]["status"] == "measured" and data["peaks"]["bf16"]["status"] == "unavailable"


def test_subprocess_worker_is_pinned_with_the_cells_thread_variables() -> None:
    pytest.importorskip("numpy")
    cpu_id = min(os.sched_getaffinity(0))
    job = CalibrationJob(cpus=(cpu_id,), threads=1, kernels={"fp32": ("numpy-blas",)}, **TINY)
    outcome = SubprocessLauncher().launch(job, 120)
    assert outcome.status == "ok" and outcome.record is not None, outcome.reason()
    result = outcome.record
    assert result.affinity == (cpu_id,) and result.pid != os.getpid()
    assert result.thread_env == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    (kernel,) = result.precisions["fp32"]
    assert kernel.library is not None and kernel.library.startswith("numpy ") and kernel.sizes[0].n == 64


class JobWithoutKernels(CalibrationJob):
    """A calibration job as a foreign or broken caller might send it: no "kernels"."""

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in super().to_dict().items() if key != "kernels"}


def test_subprocess_failure_becomes_a_reason() -> None:
    job = JobWithoutKernels(cpus=(), threads=1, kernels={})
    outcome = SubprocessLauncher().launch(job, 60)  # the worker cannot read its job: its failure record says why
    assert outcome.status == "failed" and outcome.record is None
    assert outcome.error is not None and outcome.error.startswith("TypeError: ") and "'kernels'" in outcome.error


def test_openvino_kernel_builds_and_runs_a_tiny_matmul() -> None:
    pytest.importorskip("openvino")
    call, library = calibrate_worker.KERNEL_BUILDERS["openvino"](32, "fp32", 1)
    call()
    assert library.startswith("openvino ") and "f32" in library


# --------------------------------------------------------------------- measure_peak's decisions


class RecordingLauncher:
    """Stands in for the calibration worker: its record (the worker's JSON, filled in) or failure, and the jobs."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.jobs: list[CalibrationJob] = []

    def launch(self, job: Job[R], timeout_s: float) -> WorkerOutcome[R]:
        if isinstance(job, CalibrationJob):
            self.jobs.append(job)
        if self.record.get("ok") is False:
            return WorkerOutcome("failed", error=self.record["error"])
        filled = {"duration_s": 0.1, "cpu_wall_ratio": 1.0, "affinity": [1], "warnings": [], **self.record}
        return WorkerOutcome("ok", record=job.read_result(filled))


def test_bf16_is_not_measured_without_the_flags() -> None:
    launcher = RecordingLauncher({"ok": True, "precisions": {"fp32": []}})
    cal = measure_peak([1], 1, cpu=CpuDescription(None, HASWELL, 3e9), launcher=launcher)
    assert list(launcher.jobs[0].kernels) == ["fp32"]
    assert launcher.jobs[0].cpus == (1,) and launcher.jobs[0].threads == 1
    bf16 = cal.peak("bf16")
    assert bf16 is not None and bf16.gflops is None
    assert bf16.unavailable == bf16_unsupported(HASWELL)
    assert bf16.theoretical_gflops is None


def test_bf16_only_on_a_cpu_without_it_starts_no_worker() -> None:
    launcher = RecordingLauncher({"ok": True})
    cal = measure_peak([1], 1, ("bf16",), cpu=CpuDescription(None, HASWELL, 3e9), launcher=launcher)
    assert launcher.jobs == [] and cal.gflops("bf16") is None


def test_a_failed_worker_marks_every_precision_unavailable() -> None:
    launcher = RecordingLauncher({"ok": False, "error": "worker exited with code 1"})
    cal = measure_peak([1], 2, cpu=CpuDescription(None, ZEN5, 2.6e9), launcher=launcher)
    assert list(launcher.jobs[0].kernels) == ["fp32", "bf16"]
    for peak in cal.peaks:
        assert peak.unavailable == "calibration failed: worker exited with code 1"
    assert cal.peak("fp32").theoretical_gflops == pytest.approx(2 * 2.6 * 64)  # type: ignore[union-attr]


def test_kernel_errors_explain_an_unmeasured_precision() -> None:
    kernels: list[dict[str, Any]] = [
        {"kernel": "torch-onednn", "library": None, "sizes": [], "error": "torch is not installed"}
    ]
    launcher = RecordingLauncher({"ok": True, "precisions": {"fp32": kernels, "bf16": kernels}})
    cal = measure_peak([1], 1, ("fp32",), cpu=CpuDescription(None, ZEN5, 2.6e9), launcher=launcher)
    assert cal.peak("fp32").unavailable == "no kernel ran (torch-onednn: torch is not installed)"  # type: ignore[union-attr]


def test_bad_arguments_are_user_errors() -> None:
    cpu = CpuDescription(None, ZEN5, 2.6e9)
    with pytest.raises(EffbenchError, match="unknown precision 'fp16'"):
        measure_peak([1], 1, ("fp16",), cpu=cpu, launcher=RecordingLauncher({}))
    with pytest.raises(EffbenchError, match="threads must be >= 1"):
        measure_peak([1], 0, cpu=cpu, launcher=RecordingLauncher({}))


def test_a_newer_record_is_refused() -> None:
    with pytest.raises(EffbenchError, match="newer"):
        PeakCalibration.from_dict({"version": CALIBRATION_VERSION + 1})


def test_default_kernels_follow_what_is_installed() -> None:
    def only(*names: str) -> Any:
        return lambda module: module in names

    assert default_kernels("fp32", only("torch", "numpy", "openvino")) == ["torch-onednn", "torch-blas", "numpy-blas"]
    assert default_kernels("bf16", only("torch", "numpy", "openvino")) == ["torch-onednn"]
    assert default_kernels("fp32", only("numpy")) == ["numpy-blas"]
    assert default_kernels("fp32", only("numpy", "openvino")) == ["numpy-blas", "openvino"]
    assert default_kernels("bf16", only("numpy", "openvino")) == ["openvino"]
    assert default_kernels("bf16", only("numpy")) == []


# --------------------------------------------------------------------------- flags x GHz, % of peak


@pytest.mark.parametrize(
    ("flags", "precision", "cores", "ghz", "expected"),
    [
        (ZEN5, "fp32", 1, 2.6, 166.4),  # 64 FLOP/cycle
        (HASWELL, "fp32", 1, 2.6, 83.2),  # 32
        (SANDY_BRIDGE, "fp32", 1, 2.9, 46.4),  # 16: the paper's E5-2690 at 2.9 GHz
        (ZEN5, "fp32", 4, 2.0, 512.0),
        (ZEN5, "bf16", 1, 2.6, 332.8),  # AVX-512 BF16: 128
        (SAPPHIRE_RAPIDS, "bf16", 1, 2.6, 2662.4),  # AMX: 1024
    ],
)
def test_theoretical_peak_from_flags(
    flags: frozenset[str], precision: str, cores: int, ghz: float, expected: float
) -> None:
    value, basis = theoretical_peak(CpuDescription(None, flags, ghz * 1e9), cores, precision)
    assert value == pytest.approx(expected)
    assert f"{ghz:.2f} GHz advertised" in basis
    assert ("in this VM" in basis) == ("hypervisor" in flags)


def test_theoretical_peak_unknown_cases() -> None:
    assert flops_per_cycle(frozenset({"sse2"}), "fp32") is None
    assert flops_per_cycle(HASWELL, "bf16") is None
    value, basis = theoretical_peak(CpuDescription(None, ZEN5, None), 1, "fp32")
    assert value is None and "no frequency" in basis


def test_bf16_support_needs_avx512_bf16_or_amx() -> None:
    assert bf16_unsupported(ZEN5) is None
    assert bf16_unsupported({"amx_bf16"}) is None
    assert bf16_unsupported(HASWELL) is not None


def test_achieved_gflops_and_percent_of_peak_known_answers() -> None:
    # 687 M multiply-adds (B1) in 10 ms: 2 x 687e6 / 0.01 s = 137.4 GFLOP/s
    assert achieved_gflops(687_000_000, 10.0) == pytest.approx(137.4)
    assert achieved_gflops(11_514_000_000, 128.0) == pytest.approx(179.90625)
    assert percent_of_peak(137.4, 274.8) == pytest.approx(50.0)
    assert percent_of_peak(None, 100.0) is None and percent_of_peak(50.0, None) is None
    with pytest.raises(ValueError):
        achieved_gflops(1, 0.0)


def test_cpu_description_from_machine_metadata() -> None:
    cpu = CpuDescription.from_metadata({"brand": "AMD EPYC", "flags": sorted(ZEN5), "hz_advertised": 2596126000})
    assert cpu.virtualized and cpu.hz_advertised == 2.596126e9 and "avx512_bf16" in cpu.flags


def _stub_record(fp32: float, bf16: float) -> dict[str, Any]:
    def kernels(gflops: float) -> list[dict[str, Any]]:
        size = {"n": 256, "repeats": 4, "windows_gflops": [gflops], "first_call_s": 0.01, "call_s": 0.001,
                "time_s": 0.1}  # fmt: skip
        return [{"kernel": "numpy-blas", "library": "stub", "sizes": [size]}]

    return {"ok": True, "precisions": {"fp32": kernels(fp32), "bf16": kernels(bf16)}, "duration_s": 0.1,
            "affinity": [1], "cpu_wall_ratio": 1.0, "warnings": []}  # fmt: skip


def test_best_of_rounds_keeps_the_higher_peak_per_precision_and_both_rounds() -> None:
    from bench.probes.calibrate import best_of_rounds

    cpu = CpuDescription(None, ZEN5, 2.6e9)
    before = measure_peak([1], 1, cpu=cpu, launcher=RecordingLauncher(_stub_record(200.0, 480.0)))
    after = measure_peak([1], 1, cpu=cpu, launcher=RecordingLauncher(_stub_record(230.0, 450.0)))
    best = best_of_rounds(before, after)
    assert best.gflops("fp32") == 230.0 and best.gflops("bf16") == 480.0
    assert [r.when for r in best.rounds] == ["before the cells", "after the cells"]
    assert [r.gflops["fp32"] for r in best.rounds] == [200.0, 230.0]
    assert best.duration_s == pytest.approx(before.duration_s + after.duration_s)
    data = json.loads(json.dumps(best.to_dict()))
    assert data["version"] == CALIBRATION_VERSION and PeakCalibration.from_dict(data) == best
    # A version-1 record (no rounds) still reads, as one round.
    old = {k: v for k, v in before.to_dict().items() if k != "rounds"} | {"version": 1}
    assert PeakCalibration.from_dict(old).rounds == ()
