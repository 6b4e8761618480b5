"""Builds torch modules from the zoo's blueprints: seeded random weights (never downloaded) or a user state dict.

Module names follow torchvision's (features.N…, layerN.M.convK, classifier.1, fc), so a torchvision state dict of
the same architecture loads with --weights.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from bench.errors import EffbenchError
from bench.zoo.blueprint import (
    Act,
    BatchNorm,
    Bottleneck,
    Conv,
    Dropout,
    Flatten,
    GlobalAvgPool,
    Linear,
    MaxPool,
    Node,
    Residual,
    Seq,
    SqueezeExcite,
    bottleneck_layers,
)
from bench.zoo.registry import ModelSpec

ResidualNode = Residual

if TYPE_CHECKING:
    import torch

# TF-derived families use BN eps 1e-3 (torchvision does the same for EfficientNet and MobileNetV3).
_BN_EPS = {"efficientnet": 1e-3, "mobilenet_v3": 1e-3}


def build_torch_model(spec: ModelSpec, seed: int = 0, weights: Path | None = None) -> torch.nn.Module:
    """The model in eval mode, with deterministic random weights from `seed` or the state dict in `weights`."""

    module = _to_module(spec.blueprint(), _BN_EPS.get(spec.family, 1e-5))
    if weights is not None:
        load_weights(module, weights)
    else:
        _init_random(module, seed, spec.resolution)
    return module.eval()


def _to_module(node: Node, eps: float) -> torch.nn.Module:
    from torch import nn

    if isinstance(node, Seq):
        return nn.Sequential(OrderedDict((name, _to_module(child, eps)) for name, child in node.children))
    if isinstance(node, Conv):
        return nn.Conv2d(
            node.cin, node.cout, node.kernel, node.stride, node.padding, groups=node.groups, bias=node.bias
        )
    if isinstance(node, BatchNorm):
        return nn.BatchNorm2d(node.channels, eps=eps)
    if isinstance(node, Act):
        return _activation(node.kind)
    if isinstance(node, MaxPool):
        return nn.MaxPool2d(node.kernel, node.stride, node.padding)
    if isinstance(node, GlobalAvgPool):
        return nn.AdaptiveAvgPool2d(1)
    if isinstance(node, Flatten):
        return nn.Flatten(1)
    if isinstance(node, Dropout):
        return nn.Dropout(node.p)
    if isinstance(node, Linear):
        return nn.Linear(node.fin, node.fout)
    if isinstance(node, SqueezeExcite):
        return _SqueezeExcite(node)
    if isinstance(node, Residual):
        return _Residual(node, _to_module(node.body, eps))
    if isinstance(node, Bottleneck):
        return _Bottleneck(node, eps)
    raise TypeError(f"no torch module for blueprint node {node!r}")


def _activation(kind: str) -> torch.nn.Module:
    from torch import nn

    table = {
        "relu": nn.ReLU,
        "relu6": nn.ReLU6,
        "silu": nn.SiLU,
        "hardswish": nn.Hardswish,
        "sigmoid": nn.Sigmoid,
        "hardsigmoid": nn.Hardsigmoid,
    }
    return table[kind](inplace=True) if kind in ("relu", "relu6", "silu", "hardswish") else table[kind]()


def _SqueezeExcite(node: SqueezeExcite) -> torch.nn.Module:
    return _module_classes()["SqueezeExcitation"](node)


def _Residual(node: Residual, body: torch.nn.Module) -> torch.nn.Module:
    return _module_classes()["Residual"](node, body)


def _Bottleneck(node: Bottleneck, eps: float) -> torch.nn.Module:
    return _module_classes()["Bottleneck"](node, eps)


@functools.cache
def _module_classes() -> dict[str, type]:
    """Module classes are defined on first use so that importing bench.nets does not import torch."""
    from torch import nn

    class SqueezeExcitation(nn.Module):
        def __init__(self, node: SqueezeExcite) -> None:
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(node.channels, node.squeeze, 1)
            self.fc2 = nn.Conv2d(node.squeeze, node.channels, 1)
            self.activation = _activation(node.act)
            self.scale_activation = _activation(node.gate)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
            return x * scale

    class ResidualModule(nn.Module):
        def __init__(self, node: ResidualNode, body: nn.Module) -> None:
            super().__init__()
            self.attr: str = node.attr
            self.add: bool = node.add
            setattr(self, node.attr, body)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = getattr(self, self.attr)(x)
            return y + x if self.add else y

    class BottleneckModule(nn.Module):
        def __init__(self, node: Bottleneck, eps: float) -> None:
            super().__init__()
            layers = {name: _to_module(child, eps) for name, child in bottleneck_layers(node).children}
            self.conv1, self.bn1 = layers["conv1"], layers["bn1"]
            self.conv2, self.bn2 = layers["conv2"], layers["bn2"]
            self.conv3, self.bn3 = layers["conv3"], layers["bn3"]
            self.relu = nn.ReLU(inplace=True)
            self.downsample: nn.Module | None = layers.get("downsample")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(out + identity)

    return {"SqueezeExcitation": SqueezeExcitation, "Residual": ResidualModule, "Bottleneck": BottleneckModule}


def _init_random(module: torch.nn.Module, seed: int, resolution: int) -> None:
    """Seeded random weights, then BN statistics calibrated on one seeded batch, the same bytes on every CPU.

    Calibrating BN keeps every layer's activations near unit scale, as in a trained network: uncalibrated random
    nets explode or vanish with depth (B7 has 55 blocks), which makes parity checks meaningless and can fill
    tensors with denormals that run at a different speed.

    The float32 bytes must not depend on the CPU, or no two machines could ever run the same model: float32
    sampling and a float32 calibration pass follow the kernels' vector width (ATen's AVX2/AVX-512 paths, oneDNN's
    AVX-512/AMX convolutions), so different CPUs got different weights. Here everything is computed in float64
    (sampling in float64 takes one scalar path; float64 kernels differ across ISAs only in the last bits) and the
    statistics are rounded to a grid far coarser than those bits before the one cast to float32.
    """
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    module.double()
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=gen)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.bias.zero_()
                m.momentum = None  # cumulative average over the calibration batch
                m.reset_running_stats()
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01, generator=gen)
                m.bias.zero_()
        # Enough samples per channel even where the last feature map is 1x1 (tiny test resolutions).
        final_side = max(1, resolution // 32)
        batch = max(2, -(-32 // (final_side * final_side)))
        calibration = torch.randn(batch, 3, resolution, resolution, generator=gen, dtype=torch.float64)
        module.train()
        module(calibration)
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
                _round_statistics(m)
    module.float()
    module.eval()


# Significant bits kept of a BN statistic: float64 kernels of different ISAs agree to ~1e-15 relative, so a 2^-20
# grid makes a statistic land on a different grid point about once in 10^9 values; 2^-20 of a channel's standard
# deviation is far below anything the benchmark can see.
_STAT_BITS = 20


def _round_statistics(bn: torch.nn.BatchNorm2d) -> None:
    """Round running_var to _STAT_BITS significant bits and running_mean to a grid of 2^-_STAT_BITS standard deviations.

    A mean on the grid of its own magnitude would not do: the mean after a 1x1 conv of a BN output is zero up to
    cancellation noise (1e-18, a different value on every CPU), which a grid relative to the channel's spread
    rounds to exactly zero (and to +0.0: the sign of the noise would otherwise survive in the bytes).
    """
    import torch

    var = bn.running_var
    mean = bn.running_mean
    assert var is not None and mean is not None
    mantissa, exponent = torch.frexp(var)
    var_q = torch.ldexp(torch.round(torch.ldexp(mantissa, torch.tensor(_STAT_BITS))), exponent - _STAT_BITS)
    spread = torch.where(var_q > 0, var_q.sqrt(), mean.abs())
    step = torch.ldexp(torch.where(spread > 0, spread, torch.ones_like(spread)), torch.tensor(-_STAT_BITS))
    var.copy_(var_q)
    mean.copy_(torch.round(mean / step) * step + 0.0)  # + 0.0: a mean that rounds to -0.0 has the bytes of +0.0


def load_weights(module: torch.nn.Module, path: Path) -> None:
    """Load a state dict from .safetensors or a torch file (weights_only: never unpickles code)."""
    import torch

    if not path.is_file():
        raise EffbenchError(f"weights file {path} does not exist: pass a .safetensors or .pt state dict")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the libraries raise many types for a bad file
        raise EffbenchError(f"cannot read weights file {path}: {exc}; pass a valid state dict") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise EffbenchError(f"weights file {path} does not hold a state dict (found {type(state).__name__})")
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        k for k in own if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if mismatched:
            parts.append(f"{len(mismatched)} with other shapes (e.g. {', '.join(mismatched[:3])})")
        raise EffbenchError(
            f"weights file {path} does not match the model: keys {'; '.join(parts)}; "
            "pass a state dict of this exact architecture"
        )
    module.load_state_dict(state)


def measured_macs(module: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of one forward pass counted on the real module with hooks (conv incl. depthwise and SE, linear).

    The same convention as the blueprint's count: the tests use it to check the two agree.
    """
    import torch

    total = 0

    def conv_hook(m: torch.nn.Conv2d, _inp: object, out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m: torch.nn.Linear, _inp: object, _out: object) -> None:
        nonlocal total
        total += m.in_features * m.out_features

    handles = []
    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, torch.nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    try:
        with torch.inference_mode():
            module(torch.zeros(input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return total
