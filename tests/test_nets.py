"""Torch modules built from blueprints: counts agree with the blueprint, forward shapes, seeds, user weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import EffbenchError
from bench.zoo import REGISTRY, resolve_model

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from bench.nets import build_torch_model, measured_macs  # noqa: E402


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_torch_module_matches_blueprint(name: str) -> None:
    spec = resolve_model(f"{name}:r=64")
    model = build_torch_model(spec)
    assert sum(p.numel() for p in model.parameters()) == spec.params == REGISTRY[name].params
    assert measured_macs(model, spec.input_shape) == spec.macs
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
