"""Effective multiply-adds: a model's MACs less the convolution taps that fall on zero padding.

The paper's MACs (bench.zoo.blueprint.count) count every tap of every convolution. The taps over a convolution's
zero padding multiply zeros, and padding-aware kernels (oneDNN's brgconv in OpenVINO) skip them, so a rate counted
on every tap can pass the core's matrix-multiply peak: a 3x3 convolution on a 7x7 map has 18% of its taps on the
padding, on a 14x14 map 9% (scripts/padding_taps.py measures it). Rates against the peak (GFLOP/s, % of peak in
the reports and in `effbench layers`) count effective MACs; the MACs column keeps the paper's convention.

Kept apart from the blueprints on purpose: the blueprint and model files are fingerprinted (bench.export.plans
MODEL_CODE_FILES), and counting must not change which exports the cache holds.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from bench.zoo.blueprint import (
    Bottleneck,
    Conv,
    Linear,
    Node,
    Residual,
    Seq,
    SqueezeExcite,
    bottleneck_layers,
    count,
)

if TYPE_CHECKING:
    from bench.zoo.registry import ModelSpec


def inside_taps(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int | None = None) -> int:
    """Kernel taps, summed over the outputs of one spatial axis, that fall inside the input (not on its padding)."""
    out = (size + pad_begin + (pad_begin if pad_end is None else pad_end) - kernel) // stride + 1

    def inside(o: int) -> int:
        first = o * stride - pad_begin  # the input index under tap 0
        return max(0, min(kernel, size - first) - max(0, -first))

    # Only outputs whose window starts before the input or ends past it meet padding; counting just those keeps a
    # spec at a huge resolution quick to count. ceil(x / stride) is -(-x // stride).
    starts_inside = -(-pad_begin // stride)  # the first output whose window starts at index >= 0
    ends_past = -(-(size + pad_begin - kernel + 1) // stride)  # the first output whose window ends past the input
    edge = set(range(min(out, starts_inside))) | set(range(max(0, ends_past), out))
    return (out - len(edge)) * kernel + sum(inside(o) for o in edge)


def effective_count(node: Node, shape: tuple[int, int, int]) -> tuple[int, tuple[int, int, int]]:
    """Effective MACs of `node` for an input of shape (C, H, W), and its output shape. Composite nodes walk their
    children once; a leaf's output shape (and a layer without padding's MACs) come from blueprint.count."""
    if isinstance(node, Seq):
        total, current = 0, shape
        for _, child in node.children:
            macs, current = effective_count(child, current)
            total += macs
        return total, current
    if isinstance(node, Residual):
        return effective_count(node.body, shape)
    if isinstance(node, Bottleneck):
        layers = dict(bottleneck_layers(node).children)
        main, out_shape = effective_count(Seq(tuple((k, v) for k, v in layers.items() if k != "downsample")), shape)
        short = effective_count(layers["downsample"], shape)[0] if "downsample" in layers else 0
        return main + short, out_shape  # the shortcut sees the block input, as in blueprint.count
    counts, out_shape = count(node, shape)
    if isinstance(node, Conv):
        _, h, w = shape
        taps = inside_taps(h, node.kernel, node.stride, node.padding) * inside_taps(
            w, node.kernel, node.stride, node.padding
        )
        return node.cout * (node.cin // node.groups) * taps, out_shape
    if isinstance(node, (Linear, SqueezeExcite)):
        return counts.macs, out_shape  # no padding: every multiply-add is on the input
    return 0, out_shape  # BN, activations, pooling, flatten, dropout: no multiply-adds


@lru_cache(maxsize=256)
def effective_macs(spec: ModelSpec) -> int:
    """The model's MACs less the convolution taps over zero padding."""
    return effective_count(spec.blueprint(), (3, spec.resolution, spec.resolution))[0]
