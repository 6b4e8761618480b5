"""Torch-free network blueprints: a tree of layers from which both the torch module and the counts are made.

Keeping the architecture as plain data lets `effbench models` print exact parameter and MAC counts without
importing torch, and guarantees the counts describe the very module that is measured (bench.nets builds
modules from these same nodes; the tests check both agree).
"""

from __future__ import annotations

from dataclasses import dataclass

# Convention for MACs: multiply-accumulates of conv, depthwise conv, SE 1x1 convs and fully connected layers.
# BN, activations, pooling, the SE multiply and residual adds are not counted (as in the paper's "FLOPs").


@dataclass(frozen=True)
class Conv:
    cin: int
    cout: int
    kernel: int
    stride: int = 1
    groups: int = 1
    bias: bool = False

    @property
    def padding(self) -> int:
        return (self.kernel - 1) // 2


@dataclass(frozen=True)
class BatchNorm:
    channels: int


@dataclass(frozen=True)
class Act:
    kind: str  # relu, relu6, silu, hardswish, sigmoid, hardsigmoid


@dataclass(frozen=True)
class MaxPool:
    kernel: int = 3
    stride: int = 2
    padding: int = 1


@dataclass(frozen=True)
class GlobalAvgPool:
    pass


@dataclass(frozen=True)
class Flatten:
    pass


@dataclass(frozen=True)
class Dropout:
    p: float


@dataclass(frozen=True)
class Linear:
    fin: int
    fout: int


@dataclass(frozen=True)
class SqueezeExcite:
    """Global average → 1x1 conv (bias) → act → 1x1 conv (bias) → gate → multiply."""

    channels: int
    squeeze: int
    act: str
    gate: str


@dataclass(frozen=True)
class Seq:
    """Children run in order; names become torch module names (chosen to match torchvision's state dicts)."""

    children: tuple[tuple[str, Node], ...]


@dataclass(frozen=True)
class Residual:
    """A block whose body sits under attribute `attr`; the input is added back when `add` is true."""

    attr: str
    body: Seq
    add: bool


@dataclass(frozen=True)
class Bottleneck:
    """ResNet v1.5 bottleneck: 1x1 → 3x3 (stride here) → 1x1 (x4), projection shortcut when shapes change."""

    cin: int
    width: int
    cout: int
    stride: int

    @property
    def has_downsample(self) -> bool:
        return self.stride != 1 or self.cin != self.cout


Node = (
    Conv
    | BatchNorm
    | Act
    | MaxPool
    | GlobalAvgPool
    | Flatten
    | Dropout
    | Linear
    | SqueezeExcite
    | Seq
    | Residual
    | Bottleneck
)


def seq(*children: Node | None) -> Seq:
    """A Seq named 0, 1, 2, … like torch.nn.Sequential, skipping the None entries."""
    kept = [child for child in children if child is not None]
    return Seq(tuple((str(i), child) for i, child in enumerate(kept)))


def conv_bn_act(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: str | None = None) -> Seq:
    """torchvision's Conv2dNormActivation: conv (no bias) → BN → optional activation."""
    return seq(Conv(cin, cout, kernel, stride, groups), BatchNorm(cout), Act(act) if act else None)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of `divisor`, never going more than 10% below `value` (TF/torchvision rule)."""
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@dataclass(frozen=True)
class Counts:
    params: int
    macs: int


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def count(node: Node, shape: tuple[int, int, int]) -> tuple[Counts, tuple[int, int, int]]:
    """Trainable parameters and MACs of `node` for an input of shape (C, H, W); returns the output shape too."""
    c, h, w = shape
    if isinstance(node, Conv):
        if c != node.cin:
            raise ValueError(f"conv expects {node.cin} input channels, got {c}")
        ho = _conv_out(h, node.kernel, node.stride, node.padding)
        wo = _conv_out(w, node.kernel, node.stride, node.padding)
        per_out = (node.cin // node.groups) * node.kernel * node.kernel
        params = node.cout * per_out + (node.cout if node.bias else 0)
        return Counts(params, node.cout * per_out * ho * wo), (node.cout, ho, wo)
    if isinstance(node, BatchNorm):
        return Counts(2 * node.channels, 0), shape
    if isinstance(node, (Act, Dropout)):
        return Counts(0, 0), shape
    if isinstance(node, MaxPool):
        ho = _conv_out(h, node.kernel, node.stride, node.padding)
        wo = _conv_out(w, node.kernel, node.stride, node.padding)
        return Counts(0, 0), (c, ho, wo)
    if isinstance(node, GlobalAvgPool):
        return Counts(0, 0), (c, 1, 1)
    if isinstance(node, Flatten):
        return Counts(0, 0), (c * h * w, 1, 1)
    if isinstance(node, Linear):
        if c != node.fin:
            raise ValueError(f"linear expects {node.fin} features, got {c}")
        return Counts(node.fin * node.fout + node.fout, node.fin * node.fout), (node.fout, 1, 1)
    if isinstance(node, SqueezeExcite):
        params = 2 * node.channels * node.squeeze + node.squeeze + node.channels
        return Counts(params, 2 * node.channels * node.squeeze), shape
    if isinstance(node, Seq):
        total = Counts(0, 0)
        for _, child in node.children:
            sub, shape = count(child, shape)
            total = Counts(total.params + sub.params, total.macs + sub.macs)
        return total, shape
    if isinstance(node, Residual):
        return count(node.body, shape)
    if isinstance(node, Bottleneck):
        layers = dict(bottleneck_layers(node).children)
        main = Seq(tuple((k, v) for k, v in layers.items() if k != "downsample"))
        total, out_shape = count(main, shape)
        if "downsample" in layers:
            # The shortcut sees the block input, not conv3's output.
            short, _ = count(layers["downsample"], shape)
            total = Counts(total.params + short.params, total.macs + short.macs)
        return total, out_shape
    raise TypeError(f"unknown blueprint node {node!r}")


def bottleneck_layers(block: Bottleneck) -> Seq:
    """The layers of a bottleneck, named as torchvision names them (the shortcut under `downsample`)."""
    children: list[tuple[str, Node]] = [
        ("conv1", Conv(block.cin, block.width, 1)),
        ("bn1", BatchNorm(block.width)),
        ("conv2", Conv(block.width, block.width, 3, block.stride)),
        ("bn2", BatchNorm(block.width)),
        ("conv3", Conv(block.width, block.cout, 1)),
        ("bn3", BatchNorm(block.cout)),
    ]
    if block.has_downsample:
        children.append(("downsample", seq(Conv(block.cin, block.cout, 1, block.stride), BatchNorm(block.cout))))
    return Seq(tuple(children))
