"""Blueprints of each model family, with width (channels) and depth (stage repeats) scaling.

Width scaling multiplies every stage's channel count and rounds it with `make_divisible` (multiples of 8, never
more than 10% low); depth scaling multiplies every stage's block count and rounds up. This is the EfficientNet
rule, applied the same way to the baselines so the paper's Table 3 rows can be rebuilt.
"""

from __future__ import annotations

import math

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
    conv_bn_act,
    make_divisible,
    seq,
)

NUM_CLASSES = 1000


def _repeats(layers: int, depth: float) -> int:
    return math.ceil(layers * depth)


def _named(**children: Node) -> Seq:
    return Seq(tuple(children.items()))


# ---------------------------------------------------------------- EfficientNet (paper Table 1, TF reference strides)

# (expand ratio, kernel, stride of the first block, input channels, output channels, layers)
EFFICIENTNET_B0_STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)


def _mbconv(cin: int, cout: int, expand: int, kernel: int, stride: int) -> Residual:
    expanded = make_divisible(cin * expand)
    squeeze = max(1, int(cin * 0.25))  # of the block *input* width, as in the reference code
    body = seq(
        conv_bn_act(cin, expanded, 1, act="silu") if expanded != cin else None,
        conv_bn_act(expanded, expanded, kernel, stride, groups=expanded, act="silu"),
        SqueezeExcite(expanded, squeeze, act="silu", gate="sigmoid"),
        conv_bn_act(expanded, cout, 1, act=None),
    )
    return Residual("block", body, add=stride == 1 and cin == cout)


def efficientnet(width: float, depth: float, dropout: float) -> Seq:
    stem = make_divisible(32 * width)
    stages: list[Node] = [conv_bn_act(3, stem, 3, 2, act="silu")]
    for expand, kernel, stride, cin, cout, layers in EFFICIENTNET_B0_STAGES:
        cin_s, cout_s = make_divisible(cin * width), make_divisible(cout * width)
        blocks = [
            _mbconv(cin_s if i == 0 else cout_s, cout_s, expand, kernel, stride if i == 0 else 1)
            for i in range(_repeats(layers, depth))
        ]
        stages.append(seq(*blocks))
    head = make_divisible(1280 * width)
    stages.append(conv_bn_act(make_divisible(320 * width), head, 1, act="silu"))
    return _named(
        features=seq(*stages),
        avgpool=GlobalAvgPool(),
        flatten=Flatten(),
        classifier=seq(Dropout(dropout), Linear(head, NUM_CLASSES)),
    )


# ---------------------------------------------------------------- ResNet v1.5 (stride on the 3x3 conv)

RESNET_LAYERS = {"50": (3, 4, 6, 3), "101": (3, 4, 23, 3), "152": (3, 8, 36, 3)}


def resnet(variant: str, width: float, depth: float) -> Seq:
    # Width scales the stem and every stage's bottleneck width (and so its 4x output); depth scales repeats.
    stem = make_divisible(64 * width)
    children: dict[str, Node] = {
        "conv1": Conv(3, stem, 7, 2),
        "bn1": _bn(stem),
        "relu": Act("relu"),
        "maxpool": MaxPool(3, 2, 1),
    }
    cin = stem
    for index, (planes, layers) in enumerate(zip((64, 128, 256, 512), RESNET_LAYERS[variant], strict=True)):
        planes_s = make_divisible(planes * width)
        cout = planes_s * 4
        blocks = []
        for i in range(_repeats(layers, depth)):
            stride = 2 if (i == 0 and index > 0) else 1
            blocks.append(Bottleneck(cin, planes_s, cout, stride))
            cin = cout
        children[f"layer{index + 1}"] = seq(*blocks)
    children.update(avgpool=GlobalAvgPool(), flatten=Flatten(), fc=Linear(cin, NUM_CLASSES))
    return Seq(tuple(children.items()))


def _bn(channels: int) -> Node:
    return BatchNorm(channels)


# ---------------------------------------------------------------- MobileNetV1 (1.0, 224, with BN and ReLU)

# (output channels, stride of the first block, blocks): depthwise-separable blocks grouped by width
MOBILENET_V1_STAGES = ((64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 2, 6), (1024, 2, 2))


def mobilenet_v1(width: float, depth: float, dropout: float = 0.001) -> Seq:
    stem = make_divisible(32 * width)
    layers: list[Node] = [conv_bn_act(3, stem, 3, 2, act="relu")]
    cin = stem
    for cout, stride, blocks in MOBILENET_V1_STAGES:
        cout_s = make_divisible(cout * width)
        for i in range(_repeats(blocks, depth)):
            layers.append(
                seq(
                    conv_bn_act(cin, cin, 3, stride if i == 0 else 1, groups=cin, act="relu"),
                    conv_bn_act(cin, cout_s, 1, act="relu"),
                )
            )
            cin = cout_s
    return _named(
        features=seq(*layers),
        avgpool=GlobalAvgPool(),
        flatten=Flatten(),
        classifier=seq(Dropout(dropout), Linear(cin, NUM_CLASSES)),
    )


# ---------------------------------------------------------------- MobileNetV2 (torchvision layout)

# (expand ratio t, output channels c, blocks n, stride s)
MOBILENET_V2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _inverted_residual_v2(cin: int, cout: int, stride: int, expand: int) -> Residual:
    hidden = round(cin * expand)
    body = seq(
        conv_bn_act(cin, hidden, 1, act="relu6") if expand != 1 else None,
        conv_bn_act(hidden, hidden, 3, stride, groups=hidden, act="relu6"),
        Conv(hidden, cout, 1),
        _bn(cout),
    )
    return Residual("conv", body, add=stride == 1 and cin == cout)


def mobilenet_v2(width: float, depth: float, dropout: float = 0.2) -> Seq:
    cin = make_divisible(32 * width)
    last = make_divisible(1280 * max(1.0, width))
    layers: list[Node] = [conv_bn_act(3, cin, 3, 2, act="relu6")]
    for t, c, n, s in MOBILENET_V2_STAGES:
        cout = make_divisible(c * width)
        for i in range(_repeats(n, depth)):
            layers.append(_inverted_residual_v2(cin, cout, s if i == 0 else 1, t))
            cin = cout
    layers.append(conv_bn_act(cin, last, 1, act="relu6"))
    return _named(
        features=seq(*layers),
        avgpool=GlobalAvgPool(),
        flatten=Flatten(),
        classifier=seq(Dropout(dropout), Linear(last, NUM_CLASSES)),
    )


# ---------------------------------------------------------------- MobileNetV3 (torchvision layout)

# (input, kernel, expanded, output, squeeze-excite, activation, stride)
MOBILENET_V3_BLOCKS = {
    "large": (
        (16, 3, 16, 16, False, "relu", 1),
        (16, 3, 64, 24, False, "relu", 2),
        (24, 3, 72, 24, False, "relu", 1),
        (24, 5, 72, 40, True, "relu", 2),
        (40, 5, 120, 40, True, "relu", 1),
        (40, 5, 120, 40, True, "relu", 1),
        (40, 3, 240, 80, False, "hardswish", 2),
        (80, 3, 200, 80, False, "hardswish", 1),
        (80, 3, 184, 80, False, "hardswish", 1),
        (80, 3, 184, 80, False, "hardswish", 1),
        (80, 3, 480, 112, True, "hardswish", 1),
        (112, 3, 672, 112, True, "hardswish", 1),
        (112, 5, 672, 160, True, "hardswish", 2),
        (160, 5, 960, 160, True, "hardswish", 1),
        (160, 5, 960, 160, True, "hardswish", 1),
    ),
    "small": (
        (16, 3, 16, 16, True, "relu", 2),
        (16, 3, 72, 24, False, "relu", 2),
        (24, 3, 88, 24, False, "relu", 1),
        (24, 5, 96, 40, True, "hardswish", 2),
        (40, 5, 240, 40, True, "hardswish", 1),
        (40, 5, 240, 40, True, "hardswish", 1),
        (40, 5, 120, 48, True, "hardswish", 1),
        (48, 5, 144, 48, True, "hardswish", 1),
        (48, 5, 288, 96, True, "hardswish", 2),
        (96, 5, 576, 96, True, "hardswish", 1),
        (96, 5, 576, 96, True, "hardswish", 1),
    ),
}
MOBILENET_V3_LAST = {"large": 1280, "small": 1024}


def mobilenet_v3(variant: str, width: float, dropout: float = 0.2) -> Seq:
    def adjust(channels: int) -> int:
        return make_divisible(channels * width)

    stem = adjust(16)
    layers: list[Node] = [conv_bn_act(3, stem, 3, 2, act="hardswish")]
    for cin, kernel, expanded, cout, use_se, act, stride in MOBILENET_V3_BLOCKS[variant]:
        cin_s, exp_s, cout_s = adjust(cin), adjust(expanded), adjust(cout)
        body = seq(
            conv_bn_act(cin_s, exp_s, 1, act=act) if exp_s != cin_s else None,
            conv_bn_act(exp_s, exp_s, kernel, stride, groups=exp_s, act=act),
            SqueezeExcite(exp_s, make_divisible(exp_s // 4), act="relu", gate="hardsigmoid") if use_se else None,
            conv_bn_act(exp_s, cout_s, 1, act=None),
        )
        layers.append(Residual("block", body, add=stride == 1 and cin_s == cout_s))
    last_in = adjust(MOBILENET_V3_BLOCKS[variant][-1][3])
    last_conv = 6 * last_in
    last = adjust(MOBILENET_V3_LAST[variant])
    layers.append(conv_bn_act(last_in, last_conv, 1, act="hardswish"))
    return _named(
        features=seq(*layers),
        avgpool=GlobalAvgPool(),
        flatten=Flatten(),
        classifier=seq(Linear(last_conv, last), Act("hardswish"), Dropout(dropout), Linear(last, NUM_CLASSES)),
    )
