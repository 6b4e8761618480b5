"""Model zoo: exact counts against torchvision's, MACs against the reference and the paper, names and errors."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from bench.cli import main
from bench.errors import EffbenchError
from bench.zoo import PAPER, REGISTRY, list_models, resolve_model

if TYPE_CHECKING:
    from conftest import Cli

# REFERENCE.md §2: torchvision's trainable parameter counts and MACs at each model's resolution.
TORCHVISION = {
    "efficientnet_b0": (5_288_548, 0.386),
    "efficientnet_b1": (7_794_184, 0.687),
    "efficientnet_b2": (9_109_994, 0.994),
    "efficientnet_b3": (12_233_232, 1.827),
    "efficientnet_b4": (19_341_616, 4.394),
    "efficientnet_b5": (30_389_784, 10.266),
    "efficientnet_b6": (43_040_704, 19.068),
    "efficientnet_b7": (66_347_960, 37.746),
    "resnet50": (25_557_032, 4.089),
    "resnet152": (60_192_808, 11.514),
    "mobilenet_v1": (4_231_976, 0.569),
    "mobilenet_v2": (3_504_872, 0.301),
    "mobilenet_v3_large": (5_483_032, 0.217),
    "mobilenet_v3_small": (2_542_856, 0.057),
}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_param_count_equals_torchvision(name: str) -> None:
    assert resolve_model(name).params == TORCHVISION[name][0]


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_macs_within_one_percent_of_reference(name: str) -> None:
    macs_g = resolve_model(name).macs / 1e9
    assert macs_g == pytest.approx(TORCHVISION[name][1], rel=0.01)


def test_efficientnet_b2_at_288_matches_reference() -> None:
    assert resolve_model("b2:r=288").macs / 1e9 == pytest.approx(1.088, rel=0.01)


@pytest.mark.parametrize("index", range(8))
def test_efficientnet_flops_within_five_percent_of_paper_table2(index: int) -> None:
    spec = resolve_model(f"b{index}")
    paper = PAPER[spec.name]
    assert paper.flops_b is not None
    assert spec.macs / 1e9 == pytest.approx(paper.flops_b, rel=0.05)


def test_resnet101_params() -> None:
    assert resolve_model("resnet101").params == 44_549_160  # torchvision's resnet101


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("b1", "efficientnet_b1"),
        ("efficientnet-b1", "efficientnet_b1"),
        ("EfficientNet_B1", "efficientnet_b1"),
        ("efficientnetb7", "efficientnet_b7"),
        ("mobilenet-v2", "mobilenet_v2"),
        ("resnet-152", "resnet152"),
    ],
)
def test_aliases_resolve_to_the_same_model(alias: str, canonical: str) -> None:
    assert resolve_model(alias) == REGISTRY[canonical]


def test_explicit_coefficients_equal_b3() -> None:
    spec = resolve_model("efficientnet:w=1.2,d=1.4,r=300")
    b3 = REGISTRY["efficientnet_b3"]
    assert (spec.params, spec.macs) == (b3.params, b3.macs)
    assert spec.name == "efficientnet:w=1.2,d=1.4,r=300"


def test_phi_applies_paper_coefficients() -> None:
    spec = resolve_model("efficientnet:phi=2.5")
    assert spec.width == pytest.approx(1.1**2.5)
    assert spec.depth == pytest.approx(1.2**2.5)
    assert spec.resolution == round(224 * 1.15**2.5)
    # FLOPs grow by about (alpha * beta^2 * gamma^2)^phi ~ 1.92^phi (rounding of channels and layers aside).
    ratio = spec.macs / REGISTRY["efficientnet_b0"].macs
    assert ratio == pytest.approx((1.2 * 1.1**2 * 1.15**2) ** 2.5, rel=0.25)


def test_phi_zero_is_b0() -> None:
    spec = resolve_model("efficientnet:phi=0")
    assert spec.macs == REGISTRY["efficientnet_b0"].macs


def test_resolution_override_keeps_params_changes_macs() -> None:
    small = resolve_model("b0:r=32")
    assert small.name == "efficientnet_b0:r=32"
    assert small.input_shape == (1, 3, 32, 32)
    assert small.params == REGISTRY["efficientnet_b0"].params
    assert small.macs < REGISTRY["efficientnet_b0"].macs / 20


def test_width_override_multiplies_registered_coefficients() -> None:
    spec = resolve_model("b2:w=2")
    assert spec.width == pytest.approx(2.2)
    assert spec.depth == pytest.approx(1.2)


def test_spec_roundtrip_through_dict() -> None:
    spec = resolve_model("resnet50:d=2,r=64")
    assert type(spec).from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_table3_single_dimension_rows_near_paper() -> None:
    # Rows effbench builds exactly as the paper describes (one dimension scaled) land near its FLOPs.
    for name in ("mobilenet_v1_w2", "mobilenet_v1_r2", "mobilenet_v2_d4", "mobilenet_v2_w2", "mobilenet_v2_r2"):
        paper = PAPER[name].flops_b
        assert paper is not None
        assert REGISTRY[name].macs / 1e9 == pytest.approx(paper, rel=0.05), name
    assert REGISTRY["resnet50_r2"].macs / 1e9 == pytest.approx(16.4, rel=0.01)


def test_depth_scaling_rounds_repeats_up() -> None:
    # ResNet-50's (3, 4, 6, 3) bottlenecks times 1.4 are (4.2, 5.6, 8.4, 4.2): rounded up, not to nearest.
    stages = dict(resolve_model("resnet50:d=1.4").blueprint().children)
    assert [len(stages[f"layer{i}"].children) for i in range(1, 5)] == [5, 6, 9, 5]  # type: ignore[union-attr]


def test_glob_lists_matching_models() -> None:
    names = [s.name for s in list_models("efficientnet_*")]
    assert names == [f"efficientnet_b{i}" for i in range(8)]
    assert [s.name for s in list_models("b7")] == ["efficientnet_b7"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("effnet_b1", "unknown model 'effnet_b1'; did you mean efficientnet_b1"),
        ("resnet51", "did you mean"),
        ("efficientnet:phi=abc", "phi must be a number, got 'abc'"),
        ("efficientnet:w=-1", "w must be > 0"),
        ("efficientnet:d=0", "d must be > 0"),
        ("efficientnet:w=1,r=16", "resolution 16 is outside 32..4096"),
        ("efficientnet:r=31.5", "r is a resolution in pixels"),
        ("efficientnet:x=2", "is not KEY=VALUE"),
        ("efficientnet:w=nan", "must be finite"),
        ("efficientnet:phi=-1", "phi must be >= 0"),
        ("efficientnet:phi=5000", "phi=5000 overflows the scaling coefficients; choose a smaller phi"),
        ("resnet50:phi=1", "phi applies to the EfficientNet family only"),
        ("efficientnet:phi=1,w=2", "either phi or w/d/r"),
        ("mobilenet_v3_large:d=2", "depth scaling is not defined for MobileNetV3"),
        ("b0:", "nothing after ':'"),
        ("", "empty model name"),
    ],
)
def test_bad_model_names_raise_clear_errors(name: str, message: str) -> None:
    with pytest.raises(EffbenchError) as excinfo:
        resolve_model(name)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_models_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(REGISTRY)
    b0 = next(r for r in rows if r["name"] == "efficientnet_b0")
    assert {"name", "resolution", "params", "macs"} <= set(b0)
    assert (b0["resolution"], b0["params"], b0["paper_flops_b"]) == (224, 5_288_548, 0.39)


def test_models_cli_markdown_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "resnet152", "--format", "md"]) == 0
    md = capsys.readouterr().out.splitlines()
    assert md[0].startswith("| model | res | params | MACs (G)")
    assert md[2].startswith("| resnet152 | 224 | 60,192,808 | 11.514 | 4.2% | Table 2 | 60 | 11 |")
    assert main(["models", "mobilenet_v2*", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(",")[:4] == ["name", "resolution", "params", "macs_g"]
    assert lines[1].startswith("mobilenet_v2,224,3504872,")
    assert len(lines) == 1 + 5  # mobilenet_v2 and its four Table 3 variants


def test_models_cli_accepts_a_scaling_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "efficientnet:phi=1", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["efficientnet:phi=1"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["models", "effnet"], "unknown model 'effnet'"),
        (["models", "zzz*"], "no model matches 'zzz*'"),
        (["models", "efficientnet:phi=abc"], "phi must be a number"),
        (["models", "--format", "xml"], "invalid choice: 'xml'"),
    ],
)
def test_models_cli_bad_input_exit_2(argv: list[str], message: str, cli: Cli) -> None:
    code, _, err = cli(*argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pad"),
    [(7, 3, 1, 1), (14, 3, 2, 1), (7, 5, 1, 2), (224, 7, 2, 3), (9, 3, 1, 0), (1, 1, 1, 0)],
)
def test_inside_taps_counts_the_taps_that_land_on_the_input(size: int, kernel: int, stride: int, pad: int) -> None:
    from bench.zoo.effective import inside_taps

    out = (size + 2 * pad - kernel) // stride + 1
    brute = sum(0 <= o * stride - pad + j < size for o in range(out) for j in range(kernel))
    assert inside_taps(size, kernel, stride, pad) == brute
    assert inside_taps(size, kernel, stride, pad) <= out * kernel
    if pad == 0:
        assert inside_taps(size, kernel, stride, pad) == out * kernel


def test_effective_macs_leave_out_the_padding_taps() -> None:
    # A 3x3 conv on a 7x7 map has 19 of its 21 taps per axis inside: (19/21)^2 of its MACs are effective.
    from bench.zoo.blueprint import Conv, count
    from bench.zoo.effective import effective_count, effective_macs

    conv = Conv(512, 512, 3)
    assert count(conv, (512, 7, 7))[0].macs == 512 * 512 * 9 * 49
    assert effective_count(conv, (512, 7, 7)) == (512 * 512 * 19 * 19, (512, 7, 7))
    resnet152, mobilenet = resolve_model("resnet152"), resolve_model("mobilenet_v1")
    assert 0.95 < effective_macs(resnet152) / resnet152.macs < 0.97
    assert effective_macs(mobilenet) / mobilenet.macs > 0.998


def test_inside_taps_equals_brute_force_on_random_axes_with_uneven_padding() -> None:
    import random

    from bench.zoo.effective import inside_taps

    rng = random.Random(0)
    for _ in range(3000):
        size, kernel, stride = rng.randint(1, 40), rng.randint(1, 7), rng.randint(1, 3)
        begin, end = rng.randint(0, 4), rng.randint(0, 4)
        if size + begin + end < kernel:
            continue
        out = (size + begin + end - kernel) // stride + 1
        brute = sum(0 <= o * stride - begin + j < size for o in range(out) for j in range(kernel))
        assert inside_taps(size, kernel, stride, begin, end) == brute, (size, kernel, stride, begin, end)
