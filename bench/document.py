"""The data contract: typed records for the worker's process record, the cell, its summary, the suite and the
result document, with the result format's history and upgrades, and reading a document from its JSON.

Every JSON key of the result document is spelled here, but for the peak calibrations it nests, which are a
versioned record of their own (bench.calibration): a record's keys are its field names, in field order
(bench.formats.Record: unknown keys kept in `extra`, absent keys left absent, a loaded document written back byte
for byte). Numbers the views compute with are checked when a document is read, so that a damaged file is one line
naming the file, the cell and the value, never a traceback in a view. The worker's job is in bench.engine.job.
Standard library only: the worker reads its records with this before it imports a runtime.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.calibration import PeakCalibration
from bench.errors import EffbenchError
from bench.formats import (
    OMIT_EMPTY,
    DocumentError,
    FilePaths,
    Format,
    NewerFormatError,
    Record,
    map_file_paths,
    nested,
    number,
    numbers,
    relative_path,
    upgrade,
)
from bench.machine.info import MachineInfo

FORMAT = "effbench-result"

# Result format history (bump FORMAT_VERSION and add an upgrade step to _UPGRADES for each change):
#
# 1 - (effbench 0.1.0) first version: format/format_version/created, effbench {version, git_commit,
#     git_dirty, run_id, command}, machine (bench.machine.collect_machine_metadata, with "id"), settings,
#     status, warnings, cells[] with per-process raw samples_ns/warmup_ns and a bench.engine.stats summary.
#     Documents of the first 0.1.0 builds have no settings.weights / settings.input_shape.
# 2 - (effbench 0.2.0) optional keys, written only when they say something: effbench.label and
#     effbench.commit_under_test (`--label`, `--commit`: what the history orders a series by), suite (the
#     `effbench run --suite` definition as run), calibrations (PeakCalibration records, one per thread count: the
#     measured peak behind "% of peak"), and a cell's arm ("base" | "new" in an `effbench ab` document). Bumped
#     although every key is optional: an older effbench would show the two arms of an A/B document as two
#     unrelated cells, so it must refuse the file. A version-1 document upgrades as it is.
#     Later optional keys, not bumped because an effbench that ignores them reads the document right (paths are
#     shown, never opened): artifact.root, suite.bundle_root and suite.definition_root (the roots of the paths
#     beside them); superseded_processes and settings.sequential (an adaptive A/B: an older effbench judges it with
#     the fixed-size rule on medians, a different verdict: a candidate for format 3); a cell's quantization (an
#     int8 cell's recipe, calibration and agreement with fp32: an older effbench shows the cell as measured).
FORMAT_VERSION = 2

# _UPGRADES[n] turns a version-n document (the raw JSON dict) into a version-(n + 1) one; bench.formats.upgrade
# chains them (asv's update_to_N).
_UPGRADES = {1: lambda raw: raw}  # format 2 only adds optional keys
RESULT_FORMAT = Format(
    name=FORMAT,
    version=FORMAT_VERSION,
    title="effbench result",
    label="format",
    fix="re-run the measurement",
    upgrades=_UPGRADES,
    noun="result file",
    missing="check the path (results are under results/)",
    wanted="pass a file written by effbench latency",
)

# ------------------------------------------------------------------------------------------- a process


@dataclass(frozen=True, kw_only=True)
class ColdStartTimes(Record):
    """Seconds before the first timed inference: import the runtime, read the file, build the session, run once."""

    import_s: float = 0.0
    load_s: float = 0.0
    compile_s: float = 0.0
    first_inference_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ProcessRecord(Record):
    """What one worker process measured (bench.engine.worker.run_job): raw samples and the facts around them."""

    ok: bool = True
    process_index: int = 0
    pid: int = 0
    affinity: tuple[int, ...] = ()
    os_threads: int = -1
    versions: dict[str, str] = field(default_factory=dict)
    effective: dict[str, Any] = field(default_factory=dict)  # settings read back from the runtime
    cold_start: ColdStartTimes | None = field(default=None, metadata=nested(ColdStartTimes))
    peak_rss_bytes: int = 0
    warmup_ns: tuple[int, ...] = field(default=(), metadata=numbers(integer=True, minimum=0))
    warmup_reason: str = ""
    warmup_cap_hit: bool = False
    samples_ns: tuple[int, ...] = field(metadata=numbers(integer=True, minimum=0))
    cpu_time_s: float = 0.0
    wall_time_s: float = 0.0
    cpu_wall_ratio: float = 0.0
    machine_activity: dict[str, float | None] = field(default_factory=dict)
    stop_reason: str = ""
    cap_hit: bool = False
    warnings: tuple[str, ...] = ()
    torch_imported: bool = False
    runtimes_loaded: tuple[str, ...] = ()

    @property
    def effective_precision(self) -> str | None:
        value = self.effective.get("precision")
        return None if value is None else str(value)

    @property
    def compute_precisions(self) -> dict[str, int]:
        """OpenVINO's count of compute layers per precision ({} when the runtime does not report it)."""
        return dict((self.effective.get("runtime_precision") or {}).get("compute") or {})


@dataclass(frozen=True, kw_only=True)
class WorkerFailure:
    """What a worker that could not measure writes instead of a ProcessRecord."""

    error: str
    traceback: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error, "traceback": self.traceback}


# --------------------------------------------------------------------------------------------- the cell


@dataclass(frozen=True, kw_only=True)
class FailedProcess(Record):
    """A worker of the cell that crashed, failed or hung: what it said."""

    process_index: int
    status: str  # "failed" | "timeout"
    error: str | None = None
    stderr_tail: str = ""


# The folders a path in a document is relative to (Artifact.root, SuiteRecord.bundle_root), so that a published
# document holds no local path: the artifact cache, a bundle folder, the folder holding an export entry given by
# its path, the folder of the result document itself.
CACHE_ROOT, BUNDLE_ROOT, FOLDER_ROOT, RESULT_FOLDER = "cache", "bundle", "folder", "result folder"


@dataclass(frozen=True, kw_only=True)
class Artifact(Record):
    """The exported file a backend loaded: its sha256 names the bytes, its path says where they were found,
    relative to `root` (CACHE_ROOT, BUNDLE_ROOT or FOLDER_ROOT; absolute in documents written before root)."""

    format: str
    path: str
    sha256: str | None = None
    root: str | None = field(default=None, metadata=OMIT_EMPTY)


_MS = number(optional=True, minimum=0)  # a latency figure in ms: null when there were no samples
_MS_PAIR = numbers(length=2, optional=True, minimum=0)  # a confidence interval (low, high) in ms
_RATIO = number(optional=True)


@dataclass(frozen=True, kw_only=True)
class Summary(Record):
    """bench.engine.stats.summarize over a cell's processes; times in ms, CIs as (low, high)."""

    confidence: float = field(default=0.95, metadata=number(minimum=0))
    n: int = field(default=0, metadata=number(integer=True, minimum=0))
    processes: int = field(default=0, metadata=number(integer=True, minimum=0))
    samples_per_process: tuple[int, ...] = field(default=(), metadata=numbers(integer=True, minimum=0))
    median_ms: float | None = field(default=None, metadata=_MS)
    mean_ms: float | None = field(default=None, metadata=_MS)
    std_ms: float | None = field(default=None, metadata=_MS)
    min_ms: float | None = field(default=None, metadata=_MS)
    max_ms: float | None = field(default=None, metadata=_MS)
    p90_ms: float | None = field(default=None, metadata=_MS)
    p99_ms: float | None = field(default=None, metadata=_MS)
    p999_ms: float | None = field(default=None, metadata=_MS)
    median_ci95_ms: tuple[float, float] | None = field(default=None, metadata=_MS_PAIR)
    p90_ci95_ms: tuple[float, float] | None = field(default=None, metadata=_MS_PAIR)
    ci_method: str | None = None
    median_ci95_pooled_ms: tuple[float, float] | None = field(default=None, metadata=_MS_PAIR)
    p90_ci95_pooled_ms: tuple[float, float] | None = field(default=None, metadata=_MS_PAIR)
    median_ci_rel_halfwidth: float | None = field(default=None, metadata=_RATIO)
    p90_early_stop_ub_ms: float | None = field(default=None, metadata=_MS)
    early_stop_discarded: int | None = None
    process_medians_ms: tuple[float, ...] = field(default=(), metadata=numbers(minimum=0))
    process_spread_rel: float | None = field(default=None, metadata=_RATIO)
    cv: float | None = field(default=None, metadata=_RATIO)


_CPUS = numbers(integer=True, minimum=0)


@dataclass(frozen=True, kw_only=True)
class CellRecord(Record):
    """One (model, backend) cell of a run: its plan, every process's record, the summary and warnings."""

    model: str
    model_spec: dict[str, Any] | None = None  # bench.zoo.ModelSpec.to_dict(); None for a user file
    fingerprint: str | None = None
    artifact: Artifact | None = field(default=None, metadata=nested(Artifact))
    backend: str
    precision: str
    threads: int = field(metadata=number(integer=True, minimum=1))
    cpus: tuple[int, ...] = field(metadata=_CPUS)
    status: str  # "ok" | "failed" | "interrupted" | "skipped"
    error: str | None = None
    stop_reason: str | None = None  # "target met …" or "cap hit …"
    elapsed_s: float = field(default=0.0, metadata=number(minimum=0))
    processes: tuple[ProcessRecord, ...] = field(default=(), metadata=nested(ProcessRecord, many=True))
    failed_processes: tuple[FailedProcess, ...] = field(default=(), metadata=nested(FailedProcess, many=True))
    summary: Summary | None = field(default=None, metadata=nested(Summary))
    warnings: tuple[str, ...] = ()
    arm: str | None = field(default=None, metadata=OMIT_EMPTY)  # "base" | "new" in an `effbench ab` document
    # an adaptive A/B's processes of a block that ran while the CPU was busy, kept after it was measured again
    superseded_processes: tuple[ProcessRecord, ...] = field(
        default=(), metadata={**nested(ProcessRecord, many=True), **OMIT_EMPTY}
    )
    # an int8 cell's model: the quantization recipe, its calibration and agreement with fp32 (bench.export.quantize)
    quantization: dict[str, Any] | None = field(default=None, metadata=OMIT_EMPTY)

    @property
    def label(self) -> str:
        # int8 is named: its cells sit beside the same model's fp32 cells (published labels stay as they were).
        return f"{self.model} · {self.backend}" + (" · int8" if self.precision == "int8" else "")

    @classmethod
    def _where(cls, data: Any, where: str) -> str:
        if isinstance(data, Mapping) and isinstance(data.get("model"), str) and isinstance(data.get("backend"), str):
            return f"{where} ({data['model']} · {data['backend']})"
        return where


# ------------------------------------------------------------------------------------------- the suite


SUITE_PATHS = FilePaths(keys=("source", "output"), lists=("models",), suffixes=(".onnx", ".xml"))


@dataclass(frozen=True, kw_only=True)
class SuiteRecord(Record):
    """The `effbench run --suite` definition as run (bench.suite.definition.Suite.to_dict) and its bundle."""

    name: str
    definition: dict[str, Any]
    # The bundle it read its models from: relative to `bundle_root` (RESULT_FOLDER; absolute in documents written
    # before bundle_root).
    bundle: str | None = field(default=None, metadata=OMIT_EMPTY)
    bundle_root: str | None = field(default=None, metadata=OMIT_EMPTY)
    # The definition's files (bench.toml, output, model files): relative to this root (RESULT_FOLDER) when set
    definition_root: str | None = field(default=None, metadata=OMIT_EMPTY)

    def placed_in(self, folder: Path) -> SuiteRecord:
        """The record as a result file in `folder` keeps it: absolute paths (the bundle, the definition's files)
        made relative to that folder, so that a published document holds no local path (resolved_definition)."""
        record = self
        if self.bundle is not None and self.bundle_root is None:
            record = replace(record, bundle=relative_path(self.bundle, folder), bundle_root=RESULT_FOLDER)
        if self.definition_root is None:
            definition = map_file_paths(self.definition, SUITE_PATHS, lambda p: relative_path(p, folder))
            record = replace(record, definition=definition, definition_root=RESULT_FOLDER)
        return record

    def resolved_definition(self, folder: Path) -> dict[str, Any]:
        """The definition with its relative paths resolved against `folder`, the result file's folder."""
        if self.definition_root is None:
            return self.definition
        return map_file_paths(self.definition, SUITE_PATHS, lambda p: str(Path(folder) / p))  # absolute p: p


# ----------------------------------------------------------------------------------------- the document


@dataclass(frozen=True, kw_only=True)
class EffbenchInfo(Record):
    """Which effbench wrote the document, from which command; run_id names the run that owns the file."""

    version: str
    git_commit: str | None = None
    git_dirty: bool | None = None
    run_id: str | None = None
    command: tuple[str, ...] = ()
    label: str | None = field(default=None, metadata=OMIT_EMPTY)  # --label: a name for the run in the history
    commit_under_test: str | None = field(default=None, metadata=OMIT_EMPTY)  # --commit (default: git HEAD)


@dataclass(frozen=True, kw_only=True)
class SequentialDesign(Record):
    """How an adaptive A/B (`effbench ab --budget`) looked after every block (bench.compare.sequential)."""

    budget_s: float
    alpha: float  # each cell's share of the verdict options' α (Bonferroni over the run's cells)
    min_blocks: int
    cells: int
    max_blocks: int | None = None
    quantile: float  # each process enters its block by this quantile of its samples
    # set: each block was one process measuring both arms in bursts of this many seconds (bench.engine.paired);
    # absent: each block was four processes in ABBA order
    burst_s: float | None = field(default=None, metadata=OMIT_EMPTY)


@dataclass(frozen=True, kw_only=True)
class Settings(Record):
    """The settings every cell of the run shares (bench.engine.plan.LatencySettings.document_settings)."""

    threads: int
    cpus: tuple[int, ...]
    precision: str
    preset: str | None = None
    policy: dict[str, Any] = field(default_factory=dict)  # MeasurePolicy.to_dict() as used
    backends: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    seed: int = 0
    weights: str | None = None
    input_shape: tuple[int, ...] | None = None
    sequential: SequentialDesign | None = field(default=None, metadata={**nested(SequentialDesign), **OMIT_EMPTY})


@dataclass(frozen=True, kw_only=True)
class ResultDocument(Record):
    """One run of `effbench latency`: facts common to all cells once at the top, then the cells."""

    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    created: str  # ISO 8601 UTC, seconds
    effbench: EffbenchInfo = field(metadata=nested(EffbenchInfo))
    machine: MachineInfo = field(metadata=nested(MachineInfo))
    settings: Settings = field(metadata=nested(Settings))
    # "interrupted" until the harness says "complete", so that a run that is killed leaves a truthful file
    status: str = "interrupted"
    warnings: tuple[str, ...] = ()
    cells: tuple[CellRecord, ...] = field(default=(), metadata=nested(CellRecord, many=True))
    suite: SuiteRecord | None = field(default=None, metadata={**OMIT_EMPTY, **nested(SuiteRecord)})
    # One per thread count measured: the peak behind "% of peak"
    calibrations: tuple[PeakCalibration, ...] = field(
        default=(), metadata={**OMIT_EMPTY, **nested(PeakCalibration, many=True)}
    )

    def calibration_for(self, threads: int) -> PeakCalibration | None:
        """The peak calibration measured with `threads` threads, if the run made one."""
        return next((c for c in self.calibrations if c.threads == threads), None)


# ------------------------------------------------------------------------------------- reading a document


def document_from_json(raw: Any, where: str = "the document") -> ResultDocument:
    """The typed document from parsed JSON, upgraded to FORMAT_VERSION through bench.formats.upgrade; every
    problem is an EffbenchError line that starts with `where` (the file)."""
    if isinstance(raw, dict) and raw.get("format") != FORMAT and "benchmarks" in raw and "version" in raw:
        raise EffbenchError(
            f"{where} is not an effbench result: it looks like a pyperf file (read it with python -m pyperf); "
            f"{RESULT_FORMAT.wanted}"
        )
    raw = upgrade(raw, RESULT_FORMAT, where)
    for key, kind in (("machine", dict), ("settings", dict), ("cells", list)):
        if not isinstance(raw.get(key), kind):
            raise EffbenchError(
                f"{where} is not a valid effbench result: '{key}' is missing or not a {kind.__name__}; "
                f"{RESULT_FORMAT.fix}"
            )
    try:
        return ResultDocument.from_dict(raw, "document")
    except NewerFormatError as exc:  # a nested record of a newer version (a calibration)
        raise NewerFormatError(f"{where}: {exc}", exc.versions) from None
    except DocumentError as exc:
        raise EffbenchError(f"{where} is not a valid effbench result: {exc}; {RESULT_FORMAT.fix}") from None


def read_run_id(text: str) -> str | None:
    """effbench.run_id of a document's JSON text, or None (not a document, or no run id)."""
    match = re.search(r'"run_id"\s*:\s*"([0-9a-f]{32})"', text[: 1 << 16])  # near the top: no full parse
    if match:
        return match.group(1)
    try:
        found = json.loads(text)["effbench"]["run_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return str(found) if found else None
