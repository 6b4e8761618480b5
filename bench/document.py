"""The data contract: typed records for the worker job, process record, cell, summary and result document.

Every JSON key of the result document is spelled here and nowhere else: a record's keys are its field names, in
field order. `to_dict()` gives the JSON-ready dict, `from_dict()` reads one back. Reading never loses anything:
keys this version does not know are kept in `extra` and written back, and a key that was absent stays absent
(while its field holds the default), in the order the file had, so a loaded document is written back
byte-for-byte. Standard library only: the worker reads its job with this before it imports numpy or a runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from bench.errors import EffbenchError

FORMAT = "effbench-result"

# Result format history (bump FORMAT_VERSION and add an upgrade function to _UPGRADES for each change):
#
# 1 - (effbench 0.1.0) first version: format/format_version/created, effbench {version, git_commit,
#     git_dirty, run_id, command}, machine (bench.machine.collect_machine_metadata, with "id"), settings,
#     status, warnings, cells[] with per-process raw samples_ns/warmup_ns and a bench.engine.stats summary.
#     Documents of the first 0.1.0 builds have no settings.weights / settings.input_shape.
# 2 - (effbench 0.2.0) optional keys, written only when they say something: effbench.label and
#     effbench.commit_under_test (`--label`, `--commit`: what the history orders a series by), suite (the
#     `effbench run --suite` definition as run), calibrations (bench.probes.calibrate.PeakCalibration records, one per
#     thread count: the measured peak behind "% of peak"), and a cell's arm ("base" | "new" in an `effbench ab`
#     document). Bumped although every key is optional: an older effbench would show the two arms of an A/B
#     document as two unrelated cells, so it must refuse the file. A version-1 document upgrades as it is.
FORMAT_VERSION = 2

# Upgrades of older documents, keyed by the version they read: _UPGRADES[n] turns a version-n document (the raw
# JSON dict) into a version-(n + 1) one. A change to the format adds one function here; upgrade_document chains.
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: lambda raw: raw,  # format 2 only adds optional keys
}

R = TypeVar("R", bound="Record")


class DocumentError(ValueError):
    """A document (or worker record) that does not have the shape of this contract; says where."""


def _nested(record: type, *, many: bool = False) -> dict[str, Any]:
    """Field metadata: the field holds a nested record (or a tuple of them, `many`), read with its from_dict."""
    return {"record": record, "many": many}


# Field metadata of the optional keys added after format 1: written only when they hold something, so that a
# document that does not use them (a plain `effbench latency` run) keeps format 1's shape.
OMIT_EMPTY: dict[str, Any] = {"omit_empty": True}


def _default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def _to_json(value: Any) -> Any:
    if isinstance(value, Record | MachineInfo):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return value


@dataclass(frozen=True, kw_only=True)
class Record:
    """Base of every record: keys = field names; unknown keys kept in `extra`; absent keys stay absent."""

    extra: dict[str, Any] = field(default_factory=dict)
    # The keys the record was read with, in their order (empty for a record built in code).
    loaded_keys: tuple[str, ...] = field(default=(), compare=False, repr=False)

    _bookkeeping: ClassVar[frozenset[str]] = frozenset({"extra", "loaded_keys"})

    @classmethod
    def _data_fields(cls) -> list[Field[Any]]:
        return [f for f in fields(cls) if f.name not in cls._bookkeeping]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self._data_fields():
            value = getattr(self, f.name)
            if self.loaded_keys and f.name not in self.loaded_keys and value == _default(f):
                continue  # absent in the file it came from, and still nothing to say
            if f.metadata.get("omit_empty") and value in (None, (), {}):
                continue
            out[f.name] = _to_json(value)
        out.update(self.extra)
        if self.loaded_keys:
            rank = {key: i for i, key in enumerate(self.loaded_keys)}
            out = dict(sorted(out.items(), key=lambda item: rank.get(item[0], len(rank))))  # stable: new keys last
        return out

    @classmethod
    def from_dict(cls: type[R], data: Any, where: str = "") -> R:
        where = where or cls.__name__
        if not isinstance(data, Mapping):
            raise DocumentError(f"{where} is not an object")
        values: dict[str, Any] = {}
        known = set()
        for f in cls._data_fields():
            known.add(f.name)
            if f.name not in data:
                if _default(f) is MISSING:
                    raise DocumentError(f"{where}: '{f.name}' is missing")
                continue
            values[f.name] = _from_json(data[f.name], f, f"{where}.{f.name}")
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**values, extra=extra, loaded_keys=tuple(data))


def _from_json(value: Any, f: Field[Any], where: str) -> Any:
    record = f.metadata.get("record")
    if record is None:
        return tuple(value) if isinstance(value, list) else value
    if value is None:
        return None
    if not f.metadata.get("many"):
        return record.from_dict(value, where)
    if not isinstance(value, list):
        raise DocumentError(f"{where} is not a list")
    return tuple(record.from_dict(item, f"{where}[{i}]") for i, item in enumerate(value))


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
    cold_start: ColdStartTimes | None = field(default=None, metadata=_nested(ColdStartTimes))
    peak_rss_bytes: int = 0
    warmup_ns: tuple[int, ...] = ()
    warmup_reason: str = ""
    warmup_cap_hit: bool = False
    samples_ns: tuple[int, ...]
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


def read_worker_output(data: Any) -> ProcessRecord | WorkerFailure:
    """The record a worker wrote (DocumentError when it is not one)."""
    if isinstance(data, Mapping) and data.get("ok") is False:
        return WorkerFailure(error=str(data.get("error")), traceback=str(data.get("traceback") or ""))
    return ProcessRecord.from_dict(data, "worker record")


# --------------------------------------------------------------------------------------------- the cell


@dataclass(frozen=True, kw_only=True)
class FailedProcess(Record):
    """A worker of the cell that crashed, failed or hung: what it said."""

    process_index: int
    status: str  # "failed" | "timeout"
    error: str | None = None
    stderr_tail: str = ""


@dataclass(frozen=True, kw_only=True)
class Artifact(Record):
    """The exported file a backend loaded."""

    format: str
    path: str
    sha256: str | None = None


@dataclass(frozen=True, kw_only=True)
class Summary(Record):
    """bench.engine.stats.summarize over a cell's processes; times in ms, CIs as (low, high)."""

    confidence: float = 0.95
    n: int = 0
    processes: int = 0
    samples_per_process: tuple[int, ...] = ()
    median_ms: float | None = None
    mean_ms: float | None = None
    std_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    median_ci95_ms: tuple[float, float] | None = None
    p90_ci95_ms: tuple[float, float] | None = None
    ci_method: str | None = None
    median_ci95_pooled_ms: tuple[float, float] | None = None
    p90_ci95_pooled_ms: tuple[float, float] | None = None
    median_ci_rel_halfwidth: float | None = None
    p90_early_stop_ub_ms: float | None = None
    early_stop_discarded: int | None = None
    process_medians_ms: tuple[float, ...] = ()
    process_spread_rel: float | None = None
    cv: float | None = None


@dataclass(frozen=True, kw_only=True)
class CellRecord(Record):
    """One (model, backend) cell of a run: its plan, every process's record, the summary and warnings."""

    model: str
    model_spec: dict[str, Any] | None = None  # bench.zoo.ModelSpec.to_dict(); None for a user file
    fingerprint: str | None = None
    artifact: Artifact | None = field(default=None, metadata=_nested(Artifact))
    backend: str
    precision: str
    threads: int
    cpus: tuple[int, ...]
    status: str  # "ok" | "failed" | "interrupted" | "skipped"
    error: str | None = None
    stop_reason: str | None = None  # "target met …" or "cap hit …"
    elapsed_s: float = 0.0
    processes: tuple[ProcessRecord, ...] = field(default=(), metadata=_nested(ProcessRecord, many=True))
    failed_processes: tuple[FailedProcess, ...] = field(default=(), metadata=_nested(FailedProcess, many=True))
    summary: Summary | None = field(default=None, metadata=_nested(Summary))
    warnings: tuple[str, ...] = ()
    arm: str | None = field(default=None, metadata=OMIT_EMPTY)  # "base" | "new" in an `effbench ab` document
    # an adaptive A/B's processes of a block that ran while the CPU was busy, kept after it was measured again
    superseded_processes: tuple[ProcessRecord, ...] = field(
        default=(), metadata={**_nested(ProcessRecord, many=True), **OMIT_EMPTY}
    )

    @property
    def label(self) -> str:
        return f"{self.model} · {self.backend}"


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
    """How an adaptive A/B (`effbench ab --budget`) looked after every block (bench.compare.sequential): its
    budget, the most blocks asked for, each cell's share of α and the first look; its verdicts are judged again
    with the same design."""

    budget_s: float
    alpha: float  # each cell's share of the verdict options' α (Bonferroni over the run's cells)
    min_blocks: int
    cells: int
    max_blocks: int | None = None
    quantile: float  # each process enters its block by this quantile of its samples


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
    sequential: SequentialDesign | None = field(default=None, metadata={**_nested(SequentialDesign), **OMIT_EMPTY})


@dataclass(frozen=True)
class MachineInfo:
    """bench.machine.collect_machine_metadata's open-ended dict (py-cpuinfo's fields vary by CPU), kept whole,
    with typed accessors for the facts views and exports use."""

    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)

    @classmethod
    def from_dict(cls, data: Any, where: str = "machine") -> MachineInfo:
        if not isinstance(data, Mapping):
            raise DocumentError(f"{where} is not an object")
        return cls(dict(data))

    def _section(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        return value if isinstance(value, dict) else {}

    @property
    def id(self) -> str | None:
        return self.data.get("id") or None

    @property
    def hostname(self) -> str | None:
        return self.data.get("hostname")

    @property
    def cpu_brand(self) -> str | None:
        return self._section("cpu").get("brand")

    @property
    def cpu_flags(self) -> tuple[str, ...]:
        return tuple(self._section("cpu").get("flags") or ())

    @property
    def logical_cpus(self) -> int | None:
        return self._section("cores").get("logical")

    @property
    def python(self) -> dict[str, Any]:
        """{"version", "implementation", "executable"}."""
        return self._section("python")

    @property
    def load_avg_1min(self) -> float | None:
        return (self.data.get("load_avg") or [None])[0]

    @property
    def runtimes(self) -> dict[str, str | None]:
        """Runtime versions installed on the machine (not necessarily the ones a worker loaded)."""
        return self._section("runtimes")

    @property
    def pyperf(self) -> dict[str, Any]:
        """pyperf's own metadata of the machine, when it was collected."""
        return self._section("pyperf")

    @property
    def effbench(self) -> dict[str, Any]:
        """{"version", "git_commit", "git_dirty"} of the effbench that collected the metadata."""
        return self._section("effbench")

    def get(self, key: str) -> Any:
        """A top-level fact by its collect_machine_metadata key (platform, kernel, governor, boost, aslr…)."""
        return self.data.get(key)


@dataclass(frozen=True, kw_only=True)
class ResultDocument(Record):
    """One run of `effbench latency`: facts common to all cells once at the top, then the cells."""

    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    created: str  # ISO 8601 UTC, seconds
    effbench: EffbenchInfo = field(metadata=_nested(EffbenchInfo))
    machine: MachineInfo = field(metadata=_nested(MachineInfo))
    settings: Settings = field(metadata=_nested(Settings))
    # "interrupted" until the harness says "complete", so that a run that is killed leaves a truthful file
    status: str = "interrupted"
    warnings: tuple[str, ...] = ()
    cells: tuple[CellRecord, ...] = field(default=(), metadata=_nested(CellRecord, many=True))
    # `effbench run --suite`: {"name": ..., "definition": {...}} as run
    suite: dict[str, Any] | None = field(default=None, metadata=OMIT_EMPTY)
    # bench.probes.calibrate.PeakCalibration.to_dict(), one per thread count measured: the peak behind "% of peak"
    calibrations: tuple[dict[str, Any], ...] = field(default=(), metadata=OMIT_EMPTY)

    def calibration_for(self, threads: int) -> dict[str, Any] | None:
        """The peak calibration measured with `threads` threads, if the run made one."""
        return next((c for c in self.calibrations if c.get("threads") == threads), None)


# ------------------------------------------------------------------------------------- reading a document


def upgrade_document(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring a raw document of an older format_version up to FORMAT_VERSION, one version at a time."""
    version = int(raw["format_version"])
    while version < FORMAT_VERSION:
        step = _UPGRADES.get(version)
        if step is None:
            raise EffbenchError(
                f"result format {version} cannot be read by this effbench (no upgrade to {version + 1}); "
                "use the effbench version that wrote it"
            )
        raw = step(raw)
        version += 1
        raw["format_version"] = version
    return raw


def document_from_json(raw: Any) -> ResultDocument:
    """The typed document from parsed JSON, upgraded to FORMAT_VERSION.

    DocumentError messages complete "<path> …": "is not an effbench result: …", "was written by a newer …".
    """
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        hint = ""
        if isinstance(raw, dict) and "benchmarks" in raw and "version" in raw:
            hint = " (it looks like a pyperf file: read it with python -m pyperf)"
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise DocumentError(
            f"is not an effbench result: format is {found!r}, expected {FORMAT!r}{hint}; "
            "pass a file written by effbench latency"
        )
    version = raw.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DocumentError(
            f"has an invalid format_version {version!r}: expected an integer from 1 to {FORMAT_VERSION}"
        )
    if version > FORMAT_VERSION:
        raise DocumentError(f"was written by a newer effbench (format {version} > {FORMAT_VERSION}): upgrade effbench")
    raw = upgrade_document(raw)
    for key, kind in (("machine", dict), ("settings", dict), ("cells", list)):
        if not isinstance(raw.get(key), kind):
            raise DocumentError(
                f"is not a valid effbench result: '{key}' is missing or not a {kind.__name__}; re-run the measurement"
            )
    try:
        return ResultDocument.from_dict(raw, "document")
    except DocumentError as exc:
        raise DocumentError(f"is not a valid effbench result: {exc}; re-run the measurement") from None


def read_run_id(text: str) -> str | None:
    """effbench.run_id of a document's JSON text, or None (not a document, or no run id)."""
    import json
    import re

    match = re.search(r'"run_id"\s*:\s*"([0-9a-f]{32})"', text[: 1 << 16])  # near the top: no full parse
    if match:
        return match.group(1)
    try:
        found = json.loads(text)["effbench"]["run_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return str(found) if found else None
