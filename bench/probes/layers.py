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
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bench.engine.job import Job, tuples_from_json
from bench.errors import EffbenchError
from bench.formats import Format, Record, decode_json, nested, read_bytes, upgrade
from bench.probes.calibrate import achieved_gflops, percent_of_peak

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

# Kinds in report order; "other" holds what has no multiply-adds.
KINDS = ("conv kxk", "conv 1x1", "conv depthwise", "conv on 1x1 maps (SE)", "fully connected", "other")
# ONNX / ONNX Runtime op types, then OpenVINO's runtime layer types (grouped weights are 5-D there).
CONV_OPS = ("Conv", "FusedConv", "NchwcConv", "Convolution", "GroupConvolution")
MATMUL_OPS = ("Gemm", "MatMul", "FusedGemm", "FusedMatMul", "FullyConnected")
BACKENDS = ("onnxruntime", "openvino")
DEFAULT_RUNS = 50
DEFAULT_WARMUP = 10


@dataclass(frozen=True)
class Geometry:
    """A convolution's strides and pads per spatial axis (ONNX order: pads are all begins, then all ends)."""

    strides: tuple[int, ...]
    pads: tuple[int, ...]


def _axis_geometry(size: int, kernel: int, out: int) -> tuple[int, int, int] | None:
    """(stride, pad begin, pad end) that turn `size` into `out` with `kernel`, the padding as even as it can be
    (begin = total // 2); None when nothing does. On small maps several strides fit (4 -> 2 with a 5x5 kernel:
    stride 1 with pad 1, or stride 2 with pad 2): the one of "same" padding, out = ceil(size / stride), wins, as
    in every network here; otherwise the smallest. Mirrored pads (begin 0 / end 1 or 1 / 0) count the same taps."""
    fits = []
    for stride in range(1, max(size, kernel) + 1):
        total = (out - 1) * stride + kernel - size
        if 0 <= total < kernel + stride - 1 and (size + total - kernel) // stride + 1 == out:
            fits.append((stride, total // 2, total - total // 2))
    same = [fit for fit in fits if out == -(-size // fit[0])]
    chosen = same or fits
    return chosen[0] if chosen else None


def effective_conv_macs(x: Sequence[int], w: Sequence[int], y: Sequence[int], geometry: Geometry | None = None) -> int:
    """A convolution's multiply-adds on taps inside its input (NCHW x, [Cout, Cin/groups, kh, kw] w, NCHW y)."""
    from bench.zoo.effective import inside_taps

    macs = math.prod(y) * w[1] * w[2] * w[3]
    if len(x) != 4 or len(y) != 4:
        return macs
    taps = 1
    for axis in range(2):
        size, kernel, out = x[2 + axis], w[2 + axis], y[2 + axis]
        if geometry is not None and len(geometry.strides) == 2 and len(geometry.pads) == 4:
            stride, begin, end = geometry.strides[axis], geometry.pads[axis], geometry.pads[2 + axis]
        else:
            found = _axis_geometry(size, kernel, out)
            if found is None:
                return macs  # a geometry the shapes do not tell: count every tap
            stride, begin, end = found
        taps *= inside_taps(size, kernel, stride, begin, end)
    return y[0] * y[1] * w[1] * taps


def classify(
    op: str, inputs: Sequence[Sequence[int]], outputs: Sequence[Sequence[int]], geometry: Geometry | None = None
) -> tuple[str, int, int]:
    """A node's kind, multiply-adds and effective multiply-adds (taps over zero padding left out) from its op and
    the (logical NCHW) shapes the profiler reports; `geometry` is the node's own strides and pads when known."""
    if op in CONV_OPS and len(inputs) >= 2 and outputs and len(inputs[1]) == 5:
        # OpenVINO's grouped weights [groups, Cout/groups, Cin/groups, kh, kw] as [Cout, Cin/groups, kh, kw]
        g, co, ci, kh, kw = inputs[1]
        inputs = [inputs[0], [g * co, ci, kh, kw], *inputs[2:]]
    if op in CONV_OPS and len(inputs) >= 2 and outputs and len(inputs[1]) == 4:
        x, w, y = inputs[0], inputs[1], outputs[0]
        macs = math.prod(y) * w[1] * w[2] * w[3]  # every output element: Cin/groups x kh x kw multiply-adds
        effective = effective_conv_macs(x, w, y, geometry)
        if len(y) == 4 and y[2] * y[3] == 1:
            return "conv on 1x1 maps (SE)", macs, effective
        if w[1] == 1 and x[1] > 1:
            return "conv depthwise", macs, effective
        if w[2] * w[3] == 1:
            return "conv 1x1", macs, effective
        return "conv kxk", macs, effective
    if op in MATMUL_OPS and len(inputs) >= 2 and outputs:
        a, y = inputs[0], outputs[0]
        macs = math.prod(y) * a[-1]
        return "fully connected", macs, macs
    return "other", 0, 0


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


def _onnx_geometry(node: Any) -> Geometry | None:
    """A Conv node's explicit strides and pads (None with auto_pad, which leaves the pads to the shapes)."""
    attrs = {a.name: a for a in node.attribute}
    auto_pad = attrs["auto_pad"].s.decode() if "auto_pad" in attrs else "NOTSET"
    if auto_pad not in ("NOTSET", "VALID"):
        return None
    if any(d != 1 for d in (attrs["dilations"].ints if "dilations" in attrs else ())):
        return None
    strides = tuple(attrs["strides"].ints) if "strides" in attrs else (1, 1)
    pads = tuple(attrs["pads"].ints) if "pads" in attrs and auto_pad == "NOTSET" else (0,) * 2 * len(strides)
    return Geometry(strides, pads)


def graph_nodes(onnx_path: Path) -> list[tuple[str, str, int, int]]:
    """(name, kind, multiply-adds, effective multiply-adds) of every ONNX node with multiply-adds, from its logical
    shapes (onnx shape inference) and its convolutions' strides and pads."""
    import onnx
    from onnx import numpy_helper, shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(onnx_path)))
    graph = model.graph
    shapes: dict[str, list[int]] = {}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        dims = [d.dim_value for d in info.type.tensor_type.shape.dim]
        if dims and all(dims):
            shapes[info.name] = dims
    for init in graph.initializer:
        shapes[init.name] = list(numpy_helper.to_array(init).shape) if not init.dims else list(init.dims)
    found = []
    for node in graph.node:
        inputs = [shapes.get(name, []) for name in node.input]
        outputs = [shapes.get(name, []) for name in node.output]
        if node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute) and len(inputs) >= 2:
            inputs[1] = inputs[1][::-1]
        geometry = _onnx_geometry(node) if node.op_type == "Conv" else None
        kind, macs, effective = classify(node.op_type, inputs, outputs, geometry)
        if kind != "other":
            found.append((node.name, kind, macs, effective))
    return found


def graph_kinds(onnx_path: Path) -> dict[str, tuple[int, int, int]]:
    """kind -> (nodes, multiply-adds, effective multiply-adds) of the ONNX file (graph_nodes summed by kind)."""
    found: dict[str, list[int]] = {kind: [0, 0, 0] for kind in KINDS}
    for _name, kind, macs, effective in graph_nodes(onnx_path):
        found[kind][0] += 1
        found[kind][1] += macs
        found[kind][2] += effective
    return {kind: (count, macs, effective) for kind, (count, macs, effective) in found.items() if count}


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
) -> LayerProfile:
    """The per-kind table from a worker record (bench.probes.layers_worker.run_job) and the graph's multiply-adds
    per kind (graph_kinds). A kind whose node count differs between the two is an error: ONNX Runtime fused or
    split those layers, and their multiply-adds cannot be put against their time."""
    counts: dict[str, int] = dict.fromkeys(KINDS, 0)
    times: dict[str, float] = dict.fromkeys(KINDS, 0.0)
    for node in record.nodes:
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
    if precision == "int8" and backend != "openvino":
        raise EffbenchError(
            "int8 layer profiles need --backend openvino (ONNX Runtime's fused int8 kernels hide their weight "
            "shapes from its profiler, so their multiply-adds cannot be counted per kind)"
        )


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
    return summarize(
        model, record, graph, onnx_sha256=artifact_sha256, runs=runs, warmup=warmup, threads=threads, cpus=cpus,
        model_macs=model_macs, peak_gflops=peak_gflops, backend=backend, precision=precision,
        model_effective_macs=model_effective_macs,
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
