"""The peak calibration record: what bench.probes.calibrate measured, typed, with its own version history.

A result document keeps one per thread count in its calibrations (bench.document nests these records): the
measured peak behind "% of peak". Every key of the record is spelled here (bench.formats.Record: unknown keys kept,
written back byte for byte). Standard library only, like bench.document.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.formats import Format, Record, nested, number, numbers

# Peak calibration record history (the record's own "version", inside a result document's calibrations):
#   1: first version (per precision: measured GFLOP/s, every kernel's sizes and windows, theoretical figure)
#   2: "rounds": a suite calibrates before and after its cells; each precision keeps the higher peak, and the
#      rounds list what each one measured (version-1 records read as one round)
CALIBRATION_VERSION = 2
CALIBRATION_FORMAT = Format(
    name=None,
    version=CALIBRATION_VERSION,
    title="peak calibration record",
    label="peak calibration version",
    fix="calibrate again with effbench run",
    upgrades={1: lambda raw: raw},  # no rounds: one round, the record itself
    version_key="version",
)

_GFLOPS = number(optional=True, minimum=0)


@dataclass(frozen=True, kw_only=True)
class SizeRun(Record):
    """One matrix size of one kernel: the rate of every sustained window (GFLOP/s = reps x 2n^3 / t)."""

    n: int
    repeats: int  # calls per window
    windows_gflops: tuple[float, ...] = field(metadata=numbers(minimum=0))
    first_call_s: float
    call_s: float
    time_s: float

    @property
    def gflops(self) -> float:
        return max(self.windows_gflops)


@dataclass(frozen=True, kw_only=True)
class KernelRun(Record):
    """One GEMM library at one precision over its sizes, or the reason it could not run."""

    kernel: str  # torch-onednn | torch-blas | numpy-blas | openvino
    library: str | None  # name, version and code path, e.g. "torch 2.13.0 (oneDNN, mkldnn_linear float32)"
    sizes: tuple[SizeRun, ...] = field(metadata=nested(SizeRun, many=True))
    error: str | None = None
    stopped: str | None = None  # why no larger size was tried (plateau, budget); None: all sizes ran
    time_s: float = 0.0

    @property
    def gflops(self) -> float | None:
        return max((s.gflops for s in self.sizes), default=None)


@dataclass(frozen=True, kw_only=True)
class PrecisionPeak(Record):
    """The measured peak of one precision (the best window of the best kernel) and the flags x GHz figure."""

    precision: str
    gflops: float | None = field(default=None, metadata=_GFLOPS)  # None: not measured, see `unavailable`
    library: str | None = None
    n: int | None = None  # the matrix size that gave the peak
    method: str = ""
    unavailable: str | None = None
    kernels: tuple[KernelRun, ...] = field(default=(), metadata=nested(KernelRun, many=True))
    theoretical_gflops: float | None = field(default=None, metadata=_GFLOPS)
    theoretical_basis: str = ""

    _derived = ("status",)

    @property
    def status(self) -> str:
        return "measured" if self.gflops is not None else "unavailable"


@dataclass(frozen=True, kw_only=True)
class CalibrationRound(Record):
    """One of the calibrations that went into a record: when, the peak per precision, how long it took."""

    when: str
    gflops: dict[str, float | None] = field(default_factory=dict)  # precision -> GFLOP/s, None: unavailable
    duration_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class PeakCalibration(Record):
    """What bench.probes.calibrate measured on `cpus` with `threads` threads (a result document's calibrations)."""

    cpus: tuple[int, ...] = field(metadata=numbers(integer=True, minimum=0))
    threads: int = field(metadata=number(integer=True, minimum=1))
    peaks: tuple[PrecisionPeak, ...] = field(metadata=nested(PrecisionPeak, keyed_by="precision"))
    duration_s: float = 0.0  # wall time of the whole calibration, worker start and imports included
    measure_s: float = 0.0  # the timed part inside the worker
    affinity: tuple[int, ...] = ()
    cpu_wall_ratio: float | None = None
    warnings: tuple[str, ...] = ()
    cpu_brand: str | None = None
    hz_advertised: float | None = None
    virtualized: bool = False
    version: int = CALIBRATION_VERSION
    # Each calibration that went into this record; empty: one calibration, this record itself.
    rounds: tuple[CalibrationRound, ...] = field(default=(), metadata=nested(CalibrationRound, many=True))

    _format = CALIBRATION_FORMAT

    def peak(self, precision: str) -> PrecisionPeak | None:
        return next((p for p in self.peaks if p.precision == precision), None)

    def gflops(self, precision: str) -> float | None:
        found = self.peak(precision)
        return found.gflops if found else None

    def round_summary(self, when: str) -> CalibrationRound:
        return CalibrationRound(
            when=when, gflops={p.precision: p.gflops for p in self.peaks}, duration_s=self.duration_s
        )
