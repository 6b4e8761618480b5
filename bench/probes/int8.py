"""How much of an int8 model ran in int8, as the runtime itself tells it: the share of multiply-adds and of compute
layers, the layers that did not, and the kernels (ISA path) that did.

OpenVINO: each node of the compiled (runtime) model carries its runtimePrecision (u8/i8 for int8 kernels) and its
primitiveType (the kernel, e.g. brgconv_avx512_I8 or ..._amx_I8), with logical shapes for the multiply-adds.
ONNX Runtime: one profiled run names each node's kernel (QLinearConv, QGemm: int8; Conv, FusedConv: fp32); the
multiply-adds come from the ONNX graph's shapes (the profile's are NHWC or channel-padded), matched by node name
(ORT names a fused node after the graph node it replaced, plus a suffix such as "_token_7").
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.probes.layer_kinds import classify, graph_name_of, graph_nodes

# ONNX Runtime kernels that compute in int8 (its contrib QLinear* ops and the integer ones).
ORT_INT8_OPS = frozenset({"QGemm", "ConvInteger", "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"})
# The layers named in a record or a warning: enough to see the pattern (SE, depthwise, the stem), not a dump.
LISTED = 6
# Below this share of multiply-adds in int8 an "int8" timing mostly times fp32 kernels.
MIN_INT8_MACS_SHARE = 0.5


def ort_kernel_is_int8(op: str) -> bool:
    """Whether ONNX Runtime's kernel `op` (a profile's op_name) computes in int8."""
    return op.startswith("QLinear") or op in ORT_INT8_OPS


@dataclass(frozen=True)
class ComputeNode:
    """One layer with multiply-adds, as the runtime ran it."""

    name: str
    kind: str  # bench.probes.layers.KINDS
    macs: int
    int8: bool
    kernel: str  # the runtime's kernel or primitive name


@dataclass(frozen=True)
class Int8Share:
    """The int8 share of one runtime's compiled model (recorded under a process's effective settings, "int8")."""

    source: str
    macs_share: float | None
    nodes_share: float | None
    nodes: int
    int8_nodes: int
    not_int8_kinds: dict[str, int] = field(default_factory=dict)  # layer kind -> layers not in int8
    not_int8_layers: tuple[str, ...] = ()  # the largest (by multiply-adds) layers not in int8, LISTED at most
    kernels: dict[str, int] = field(default_factory=dict)  # kernels of the int8 layers (the ISA path) -> layers

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "not_int8_layers": list(self.not_int8_layers)}


def share_of(nodes: Iterable[ComputeNode], source: str) -> Int8Share:
    """The share of multiply-adds and layers in int8 among `nodes`."""
    found = list(nodes)
    macs = sum(n.macs for n in found)
    int8 = [n for n in found if n.int8]
    rest = sorted((n for n in found if not n.int8), key=lambda n: -n.macs)
    return Int8Share(
        source=source,
        macs_share=sum(n.macs for n in int8) / macs if macs else None,
        nodes_share=len(int8) / len(found) if found else None,
        nodes=len(found),
        int8_nodes=len(int8),
        not_int8_kinds=dict(sorted(Counter(n.kind for n in rest).items())),
        not_int8_layers=tuple(n.name for n in rest[:LISTED]),
        kernels=dict(Counter(n.kernel for n in int8).most_common()),
    )


def openvino_share(compiled: Any) -> Int8Share:
    """The share from an OpenVINO compiled model's runtime model (runtimePrecision and primitiveType per node)."""
    nodes = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
        shapes = [[[d.get_length() for d in p.get_partial_shape()] for p in ports if p.get_partial_shape().is_static]
                  for ports in (op.inputs(), op.outputs())]  # fmt: skip
        kind, macs, _ = classify(layer, shapes[0], shapes[1])
        if kind == "other":
            continue
        precision = info["runtimePrecision"].astype(str).lower() if "runtimePrecision" in info else "unknown"
        kernel = info["primitiveType"].astype(str) if "primitiveType" in info else layer
        nodes.append(ComputeNode(op.get_friendly_name(), kind, macs, precision in ("u8", "i8"), kernel))
    return share_of(nodes, "openvino runtimePrecision per node")


def onnxruntime_share(ort: Any, path: Path, options: Any, input_name: str, array: Any) -> Int8Share:
    """The share from one profiled run of the ONNX file in ONNX Runtime with `options` (a fresh SessionOptions of
    the cell's settings); the graph's multiply-adds by node name (bench.probes.layers.graph_nodes)."""
    with tempfile.TemporaryDirectory(prefix="effbench-int8-") as tmp:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        session.run(None, {input_name: array})
        events = json.loads(Path(session.end_profiling()).read_text(encoding="utf-8"))
    graph = {name: (kind, macs) for name, kind, macs, _ in graph_nodes(path)}
    kernels: dict[str, str] = {}
    for event in events:
        name = str(event.get("name", ""))
        if event.get("cat") == "Node" and name.endswith("_kernel_time"):
            origin = graph_name_of(name.removesuffix("_kernel_time"), graph)
            op = str((event.get("args") or {}).get("op_name", "?"))
            if origin is not None and (origin not in kernels or ort_kernel_is_int8(op)):
                kernels[origin] = op
    nodes = [
        ComputeNode(name, kind, macs, ort_kernel_is_int8(kernels.get(name, "?")), kernels.get(name, "not run"))
        for name, (kind, macs) in graph.items()
    ]
    return share_of(nodes, "onnxruntime profiler kernel names")


def int8_warnings(share: Mapping[str, Any], backend: str) -> list[str]:
    """A warning when under MIN_INT8_MACS_SHARE of the multiply-adds ran in int8, naming the layers that did not."""
    macs_share = share.get("macs_share")
    if macs_share is None or macs_share >= MIN_INT8_MACS_SHARE:
        return []
    kinds = ", ".join(f"{kind} x{count}" for kind, count in (share.get("not_int8_kinds") or {}).items())
    layers = ", ".join(share.get("not_int8_layers") or ())
    return [
        f"{backend}: only {macs_share:.0%} of the multiply-adds ran in int8 ({share.get('int8_nodes')} of "
        f"{share.get('nodes')} layers): the int8 timing is mostly fp32. Not in int8: {kinds} (largest: {layers}); "
        "check the quantized graph (effbench layers --precision int8) and the CPU's VNNI support"
    ]
