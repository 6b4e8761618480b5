"""Layer kinds: which kind a convolution or matrix multiply is, and its multiply-adds, from its op and shapes.

bench.probes.layers sums a profile's nodes by these kinds; bench.probes.int8 counts the int8 share with them. The
shapes are logical NCHW ones: from the ONNX graph's shape inference (graph_nodes) or from OpenVINO's runtime model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Kinds in report order; "other" holds what has no multiply-adds.
KINDS = ("conv kxk", "conv 1x1", "conv depthwise", "conv on 1x1 maps (SE)", "fully connected", "other")
# ONNX / ONNX Runtime op types, then OpenVINO's runtime layer types (grouped weights are 5-D there).
CONV_OPS = ("Conv", "FusedConv", "NchwcConv", "Convolution", "GroupConvolution")
MATMUL_OPS = ("Gemm", "MatMul", "FusedGemm", "FusedMatMul", "FullyConnected")
# ONNX Runtime's int8 kernels (QDQ groups fused): their profile hides the prepacked weight, so their kind comes
# from the ONNX node they were fused from, found by name (graph_name_of).
INT8_OPS = ("QLinearConv", "QGemm", "QLinearMatMul", "ConvInteger", "MatMulInteger")


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


def graph_name_of(profiled: str, graph: Mapping[str, Any]) -> str | None:
    """The graph node a profiled node came from: its own name, or the longest graph name it extends with "_...".
    ("/b/Conv_1_token_3" is /b/Conv_1's, not /b/Conv's.)"""
    name = profiled
    while True:
        if name in graph:
            return name
        if "_" not in name:
            return None
        name = name.rsplit("_", 1)[0]
