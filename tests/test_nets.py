"""Torch modules built from blueprints: counts agree with the blueprint, forward shapes, seeds, user weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.errors import EffbenchError
from bench.zoo import REGISTRY, resolve_model

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from bench.nets import build_torch_model, measured_macs  # noqa: E402
from bench.zoo.effective import effective_macs  # noqa: E402


def _inside_macs(module: Any, input_shape: tuple[int, ...]) -> int:
    """Effective MACs of the real module: each conv run on ones with weights of ones in float64 sums to exactly its
    taps inside the input (a tap over zero padding adds 0); linear layers count in full."""
    total = 0

    def conv_hook(m: Any, inp: tuple[Any, ...], _out: Any) -> None:
        nonlocal total
        ones, weight = torch.ones(inp[0].shape, dtype=torch.float64), torch.ones(m.weight.shape, dtype=torch.float64)
        total += int(torch.nn.functional.conv2d(ones, weight, None, m.stride, m.padding, m.dilation, m.groups).sum())

    def linear_hook(m: Any, _inp: object, _out: object) -> None:
        nonlocal total
        total += m.in_features * m.out_features

    handles = [m.register_forward_hook(conv_hook) for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    handles += [m.register_forward_hook(linear_hook) for m in module.modules() if isinstance(m, torch.nn.Linear)]
    try:
        with torch.inference_mode():
            module(torch.zeros(input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return total


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_torch_module_matches_blueprint(name: str) -> None:
    spec = resolve_model(f"{name}:r=64")
    model = build_torch_model(spec)
    assert sum(p.numel() for p in model.parameters()) == spec.params == REGISTRY[name].params
    assert measured_macs(model, spec.input_shape) == spec.macs
    assert _inside_macs(model, spec.input_shape) == effective_macs(spec) < spec.macs
    assert not model.training


@pytest.mark.parametrize("name", ["b0", "resnet50", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small"])
def test_forward_shape_and_finite_output_at_reduced_resolution(name: str) -> None:
    spec = resolve_model(f"{name}:r=32")
    with torch.inference_mode():
        out = build_torch_model(spec)(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 1000)
    assert torch.isfinite(out).all()
    # BN calibration keeps activations at a sane scale (no vanishing to denormals, no explosion).
    assert 1e-4 < float(out.std()) < 1e3


def test_seed_is_deterministic_and_matters() -> None:
    spec = resolve_model("b0:r=32")
    a, b, c = (build_torch_model(spec, seed=s).state_dict() for s in (0, 0, 1))
    key = "features.1.0.block.0.0.weight"
    assert torch.equal(a[key], b[key])
    assert not torch.equal(a[key], c[key])


def test_torchvision_style_state_dict_names() -> None:
    keys = set(build_torch_model(resolve_model("resnet50:r=32")).state_dict())
    assert {"conv1.weight", "layer1.0.downsample.0.weight", "layer4.2.bn3.running_var", "fc.bias"} <= keys
    keys = set(build_torch_model(resolve_model("b0:r=32")).state_dict())
    assert {"features.1.0.block.1.fc1.weight", "features.8.0.weight", "classifier.1.weight"} <= keys


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_user_weights_load(tmp_path: Path, suffix: str) -> None:
    spec = resolve_model("mobilenet_v2:r=32")
    source = build_torch_model(spec, seed=7)
    path = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    else:
        torch.save(source.state_dict(), path)
    loaded = build_torch_model(spec, seed=0, weights=path)
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(loaded(x), source(x))


def test_mismatched_weights_name_the_keys(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save(build_torch_model(resolve_model("mobilenet_v2:r=32")).state_dict(), path)
    with pytest.raises(EffbenchError, match=r"does not match the model: keys \d+ missing"):
        build_torch_model(resolve_model("b0:r=32"), weights=path)


def test_missing_and_corrupt_weights_files(tmp_path: Path) -> None:
    spec = resolve_model("b0:r=32")
    with pytest.raises(EffbenchError, match="does not exist"):
        build_torch_model(spec, weights=tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(EffbenchError, match="cannot read weights file"):
        build_torch_model(spec, weights=bad)


_STATE_HASH = """
import hashlib, sys
from bench.nets import build_torch_model
from bench.zoo import resolve_model
state = build_torch_model(resolve_model(sys.argv[1])).state_dict()
print(hashlib.sha256(b"".join(v.numpy().tobytes() for v in state.values())).hexdigest())
"""


@pytest.mark.parametrize("name", ["b0:r=64", "resnet50:r=64"])
def test_random_weights_are_the_same_bytes_under_every_cpu_kernel(name: str) -> None:
    """Another CPU runs other kernels: ATen's scalar or AVX2 code, oneDNN and MKL at AVX2 (float32 sampling and a
    float32 calibration pass gave different bytes under each). Forcing those paths must not change one byte."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    variants = [
        {},
        {"ATEN_CPU_CAPABILITY": "default"},
        {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    ]
    hashes = [
        subprocess.run(
            [sys.executable, "-c", _STATE_HASH, name],
            env={**os.environ, **extra},
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for extra in variants
    ]
    assert len(hashes[0]) == 64
    assert hashes == [hashes[0]] * len(variants)


def test_rounded_statistics_drop_cancellation_noise() -> None:
    from bench.nets import _STAT_BITS, _round_statistics

    bn = torch.nn.BatchNorm2d(4).double()
    assert bn.running_mean is not None and bn.running_var is not None
    # A mean that is zero up to noise (either sign), a real mean, a zero-variance channel, a tiny-variance one.
    bn.running_mean.copy_(torch.tensor([-1.7e-18, 0.123456789, 2.5, 3e-9], dtype=torch.float64))
    bn.running_var.copy_(torch.tensor([0.8, 1.0 + 1e-15, 0.0, 1e-12], dtype=torch.float64))
    _round_statistics(bn)
    mean, var = bn.running_mean, bn.running_var
    assert mean[0].numpy().tobytes() == bytes(8)  # +0.0, not -0.0
    assert abs(mean[1].item() - 0.123456789) <= 2.0**-_STAT_BITS and mean[1].item() != 0.123456789
    assert var[1].item() == 1.0  # 1e-15 of kernel noise is below the grid
    assert mean[2].item() == 2.5 and var[2].item() == 0.0  # no spread: the mean's own magnitude sets the grid
    assert abs(mean[3].item() - 3e-9) <= 1e-6 * 2.0**-_STAT_BITS  # the grid follows the channel's spread
    scaled = torch.ldexp(torch.frexp(var)[0], torch.tensor(_STAT_BITS))
    assert torch.equal(scaled.round(), scaled)  # every variance has at most _STAT_BITS significant bits
