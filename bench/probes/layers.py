"""Where a model's time goes, by layer kind, against the core's measured peak.

A model's % of peak (bench.probes.calibrate) is one number; the paper's point is that EfficientNet's FLOP savings come
from layers that run far below it. `effbench layers` runs the model in a clean worker pinned like a cell
(bench.probes.layers_worker) with the runtime's profiler on (ONNX Runtime's profiler, or OpenVINO's per-node counters),
and sums every node's kernel time and multiply-adds by kind: dense k x k convolutions, 1 x 1 (pointwise)
convolutions, depthwise convolutions, convolutions on 1 x 1 maps (squeeze-excitation), fully connected layers, and
the rest (activations, pooling, the SE scale, layout reorders) that has time but no multiply-adds. For ONNX Runtime
the multiply-adds come from the ONNX graph (shape inference), because its blocked NCHWc layout pads channels (24 to
32 with AVX-512) and the profile reports the padded shapes; each kind's node count must then be the same in the
graph and in the profile. OpenVINO's runtime model reports logical shapes, so its nodes are their own graph. Either
way the multiply-adds sum to the model's MAC count, a check that every layer was seen. Rates (GFLOP/s, % of peak)
count effective multiply-adds, as a cell's do: a convolution's taps over its zero padding are left out (from the
ONNX node's pads and strides; for OpenVINO's runtime nodes, which keep no pads, from the shapes, taking the
padding as even as it can be), and they too sum to the zoo's count.

The profiler adds a little time to every node: the layer times sum to somewhat more than the plain latency of a
cell, and shares between kinds are what to read.
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bench.engine.job import Job, tuples_from_json
from bench.errors import EffbenchError
from bench.formats import Format, Record, decode_json, nested, read_bytes, upgrade
from bench.probes.calibrate import achieved_gflops, percent_of_peak
from bench.probes.layer_kinds import INT8_OPS, KINDS, classify, graph_kinds, graph_name_of, graph_nodes

if TYPE_CHECKING:
    from bench.engine.launchers import Launcher

LAYERS_FORMAT = "effbench-layers"
# Layers document format history:
#   1: first version (rates on every multiply-add)
#   2: each kind's and the profile's `effective_macs` (taps over zero padding left out); rates count those. A
#      version-1 document upgrades as it is: its kinds have no effective_macs (None), their rates count every tap.
LAYERS_VERSION = 2
LAYERS = Format(
    name=LAYERS_FORMAT,
    version=LAYERS_VERSION,
    title="effbench layers document",
    label="layers format",
    fix="write it again with effbench layers --output",
    upgrades={1: lambda raw: raw},
    noun="layers file",
    missing="pass a file written by effbench layers --output",
    wanted="pass a file written by effbench layers --output",
)

BACKENDS = ("onnxruntime", "openvino")
DEFAULT_RUNS = 50
DEFAULT_WARMUP = 10


@dataclass(frozen=True, kw_only=True)
class KindRow(Record):
    """One layer kind of a profile: its nodes' time and multiply-adds, and their rate."""

    kind: str
    nodes: int
    ms: float  # per inference: the sum over the kind's nodes of each node's median kernel time
    macs: int
    share_time: float  # of all nodes' time
    share_macs: float
    gflops: float | None  # 2 x effective MACs / ms (format 1: 2 x MACs / ms)
    pct_peak: float | None
    effective_macs: int | None = None  # taps over zero padding left out; None in format-1 documents


@dataclass(frozen=True, kw_only=True)
class LayerProfile(Record):
    """Where one model's time goes on one backend and precision, by layer kind (a layers document's profile)."""

    model: str
    onnx_sha256: str  # the profiled artifact's sha256 (the ONNX file, or the IR for OpenVINO)
    runs: int
    warmup: int
    threads: int
    cpus: tuple[int, ...]
    node_ms: float  # the sum of all nodes' median kernel times
    run_ms: float  # the median of the profiled runs' whole durations
    macs: int  # from the ONNX graph's shapes
    model_macs: int | None  # the zoo's count, when the model is a zoo model
    peak_gflops: float | None
    kinds: tuple[KindRow, ...] = field(metadata=nested(KindRow, many=True))
    runtime: str  # "onnxruntime 1.32.0", "openvino 2026.4.1-…"
    backend: str = "onnxruntime"
    precision: str = "fp32"
    effective_macs: int | None = None  # the kinds' effective MACs summed; None in format-1 documents
    model_effective_macs: int | None = None  # the zoo's effective count

    @property
    def series(self) -> str:
        return f"{self.backend} {self.precision}"


@dataclass(frozen=True)
class LayerNode:
    """One node as the profiler saw it: its op, logical input and output shapes, and its kernel time in each
    profiled run (ms)."""

    op: str
    inputs: tuple[tuple[int, ...], ...]
    outputs: tuple[tuple[int, ...], ...]
    ms: tuple[float, ...]
    name: str = ""  # ONNX Runtime's node name (an int8 kernel's kind is its ONNX node's; layer_kinds.graph_name_of)


@dataclass(frozen=True)
class LayersResult:
    """What the layer-profile worker sends back (bench.probes.layers_worker.run_job)."""

    runtime: str  # "onnxruntime 1.32.0", "openvino 2026.4.1-…"
    nodes: tuple[LayerNode, ...]  # in the order the profile first shows them
    run_ms: tuple[float, ...]  # each profiled run's whole duration
    pid: int = 0
    affinity: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayersResult:
        nodes = tuple(LayerNode(**tuples_from_json(node)) for node in data["nodes"])
        return cls(**{**tuples_from_json(data), "nodes": nodes})


@dataclass(frozen=True, kw_only=True)
class LayersJob(Job[LayersResult]):
    """What the layer-profile worker is asked: one artifact (ONNX file, or the IR's .xml for OpenVINO) on one
    runtime and precision, `warmup` runs and then `runs` profiled ones."""

    worker: ClassVar[str] = "bench.probes.layers_worker"
    artifact: str
    backend: str = "onnxruntime"
    precision: str = "fp32"
    runs: int = DEFAULT_RUNS
    warmup: int = DEFAULT_WARMUP

    def read_result(self, data: Any) -> LayersResult:
        return LayersResult.from_dict(data)


def record_kinds(record: LayersResult) -> dict[str, tuple[int, int, int]]:
    """kind -> (nodes, multiply-adds, effective multiply-adds) from the record's own shapes: OpenVINO's runtime
    model reports logical (unpadded) shapes, so its nodes are their own graph."""
    found: dict[str, list[int]] = {}
    for node in record.nodes:
        kind, macs, effective = classify(node.op, node.inputs, node.outputs)
        if kind != "other":
            entry = found.setdefault(kind, [0, 0, 0])
            entry[0] += 1
            entry[1] += macs
            entry[2] += effective
    return {kind: (count, macs, effective) for kind, (count, macs, effective) in found.items()}


def summarize(
    model: str,
    record: LayersResult,
    graph: dict[str, tuple[int, int, int]],
    *,
    onnx_sha256: str,
    runs: int,
    warmup: int,
    threads: int,
    cpus: Sequence[int],
    model_macs: int | None,
    peak_gflops: float | None,
    backend: str = "onnxruntime",
    precision: str = "fp32",
    model_effective_macs: int | None = None,
    names: Mapping[str, str] | None = None,
) -> LayerProfile:
    """The per-kind table from a worker record (bench.probes.layers_worker.run_job) and the graph's multiply-adds
    per kind (graph_kinds). A kind whose node count differs between the two is an error: ONNX Runtime fused or
    split those layers, and their multiply-adds cannot be put against their time. `names` (ONNX node name -> kind)
    gives ONNX Runtime's int8 kernels their kind, as their profile hides the weight shapes."""
    counts: dict[str, int] = dict.fromkeys(KINDS, 0)
    times: dict[str, float] = dict.fromkeys(KINDS, 0.0)
    for node in record.nodes:
        if names is not None and node.op in INT8_OPS:
            kind = names.get(graph_name_of(node.name, names) or "", "other")
        else:
            kind = classify(node.op, node.inputs, node.outputs)[0]
        counts[kind] += 1
        times[kind] += statistics.median(node.ms) if node.ms else 0.0
    differ = [f"{k}: {graph[k][0]} in the graph, {counts[k]} profiled" for k in graph if graph[k][0] != counts[k]]
    if differ:
        raise EffbenchError(f"{model}: the profile does not match the graph ({'; '.join(differ)})")
    node_ms = sum(times.values())
    all_macs = sum(entry[1] for entry in graph.values())
    all_effective = sum(entry[2] for entry in graph.values())
    rows = []
    for kind in KINDS:
        count, ms = counts[kind], times[kind]
        if not count:
            continue
        _nodes, macs, effective = graph.get(kind, (0, 0, 0))
        gflops = achieved_gflops(effective, ms) if effective and ms > 0 else None
        pct = percent_of_peak(gflops, peak_gflops)
        share_time = ms / node_ms if node_ms else 0.0
        share_macs = macs / all_macs if all_macs else 0.0
        rows.append(
            KindRow(
                kind=kind, nodes=count, ms=ms, macs=macs, share_time=share_time, share_macs=share_macs, gflops=gflops,
                pct_peak=pct, effective_macs=effective,
            )
        )  # fmt: skip
    run_ms = statistics.median(record.run_ms) if record.run_ms else 0.0
    return LayerProfile(
        model=model, onnx_sha256=onnx_sha256, runs=runs, warmup=warmup, threads=threads, cpus=tuple(cpus),
        node_ms=node_ms, run_ms=run_ms, macs=all_macs, model_macs=model_macs, peak_gflops=peak_gflops,
        kinds=tuple(rows), runtime=record.runtime, backend=backend, precision=precision,
        effective_macs=all_effective, model_effective_macs=model_effective_macs,
    )  # fmt: skip


def check_options(runs: int, warmup: int, backend: str, precision: str) -> None:
    """EffbenchError naming the bad option: runs, warm-up, a backend or a precision effbench layers cannot profile."""
    if runs < 1 or warmup < 0:
        raise EffbenchError(f"--runs must be >= 1 and --warmup >= 0, got {runs} and {warmup}")
    if backend not in BACKENDS:
        raise EffbenchError(f"effbench layers profiles {' or '.join(BACKENDS)}, not {backend!r}")
    if precision == "bf16" and backend != "openvino":
        raise EffbenchError("bf16 layer profiles need --backend openvino (ONNX Runtime runs fp32 here)")


def profile_layers(
    model: str,
    artifact: Path,
    artifact_sha256: str,
    cpus: Sequence[int],
    threads: int,
    *,
    backend: str = "onnxruntime",
    precision: str = "fp32",
    runs: int = DEFAULT_RUNS,
    warmup: int = DEFAULT_WARMUP,
    model_macs: int | None = None,
    peak_gflops: float | None = None,
    launcher: Launcher | None = None,
    timeout_s: float = 900.0,
    model_effective_macs: int | None = None,
) -> LayerProfile:
    """`artifact` is the ONNX file for ONNX Runtime, the IR's .xml for OpenVINO; the worker is a real pinned process
    unless `launcher` says otherwise."""
    from bench.engine.launchers import SubprocessLauncher

    check_options(runs, warmup, backend, precision)
    job = LayersJob(cpus=tuple(cpus), threads=threads, artifact=str(artifact), backend=backend, precision=precision,
                    runs=runs, warmup=warmup)  # fmt: skip
    outcome = (launcher or SubprocessLauncher()).launch(job, timeout_s)
    record = outcome.record
    if record is None:
        raise EffbenchError(f"{model}: the layer profile failed: {outcome.reason()}")
    if not record.nodes:
        raise EffbenchError(f"{model}: the runtime's profile named no node; nothing to report")
    graph = record_kinds(record) if backend == "openvino" else graph_kinds(artifact)
    names = None
    if backend == "onnxruntime" and precision == "int8":
        names = {name: kind for name, kind, _macs, _effective in graph_nodes(artifact)}
    return summarize(
        model, record, graph, onnx_sha256=artifact_sha256, runs=runs, warmup=warmup, threads=threads, cpus=cpus,
        model_macs=model_macs, peak_gflops=peak_gflops, backend=backend, precision=precision,
        model_effective_macs=model_effective_macs, names=names,
    )  # fmt: skip


def layers_document(profiles: Sequence[LayerProfile], machine: dict[str, Any], command: Sequence[str]) -> dict:
    from bench import __version__

    return {
        "format": LAYERS_FORMAT,
        "format_version": LAYERS_VERSION,
        "effbench": __version__,
        "command": list(command),
        "machine": {"id": machine.get("id"), "cpu": (machine.get("cpu") or {}).get("brand")},
        "profiles": [p.to_dict() for p in profiles],
    }


def profile_from_dict(data: Any, where: str = "profile") -> LayerProfile:
    """A profile of a layers document (DocumentError naming `where` when it is not one); unknown keys kept."""
    return LayerProfile.from_dict(data, where)


@dataclass(frozen=True)
class LayersFile:
    """A layers document as the hardware report uses it: machine, profiles and its provenance line."""

    machine: str
    profiles: list[LayerProfile]
    provenance: str  # "NAME (sha256 …): `command`"


def read_layers(path: Path) -> LayersFile:
    """A layers document (`effbench layers --output`) read once through bench.formats (format checked, an older
    version upgraded, a newer one refused); EffbenchError naming the problem for a missing or broken file."""
    raw = read_bytes(path, LAYERS)
    data = upgrade(decode_json(raw, LAYERS, str(path)), LAYERS, str(path))
    try:
        machine = str(data["machine"]["id"])
        profiles = [profile_from_dict(p, f"profiles[{i}]") for i, p in enumerate(data["profiles"])]
        command = " ".join(data.get("command") or [])
    except (KeyError, TypeError, ValueError) as exc:
        raise EffbenchError(f"{path} is a broken layers document ({exc}); {LAYERS.fix}") from None
    return LayersFile(machine, profiles, f"{path.name} (sha256 {hashlib.sha256(raw).hexdigest()}): `{command}`")


def load_layers(path: Path) -> tuple[str, list[LayerProfile]]:
    """A layers document's machine id and profiles (read_layers)."""
    found = read_layers(path)
    return found.machine, found.profiles
