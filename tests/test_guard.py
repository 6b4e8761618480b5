"""The size guard: estimates from the blueprint, refusal of specs too large to count or build, without torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import EffbenchError
from bench.zoo import REGISTRY, check_buildable, check_countable, estimate_size, guard, resolve_model

ROOT = Path(__file__).resolve().parent.parent
GB = 10**9


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_b7", "resnet152", "mobilenet_v3_small"])
def test_estimate_of_a_countable_spec_is_its_exact_count(name: str) -> None:
    spec = REGISTRY[name]
    estimate = estimate_size(spec)
    assert estimate.exact
    assert (estimate.params, estimate.macs) == (spec.params, spec.macs)
    assert estimate.required_bytes == 4 * spec.params + estimate.peak_activation_bytes


@pytest.mark.parametrize(("name", "side"), [("b0", 112), ("b0:r=32", 16)])
def test_peak_activation_of_b0_is_its_first_expanded_tensor_twice(name: str, side: int) -> None:
    # B0's largest live set: the 96-channel expansion of stage 2 at half resolution, BN's input and output.
    assert estimate_size(resolve_model(name)).peak_activation_bytes == 2 * 96 * side * side * 4


def test_peak_activation_counts_the_input_held_for_a_residual_add() -> None:
    from bench.zoo.blueprint import BatchNorm, Conv, Residual, seq

    block = Residual("block", seq(Conv(8, 8, 1), BatchNorm(8)), add=True)
    size = 8 * 4 * 4
    # conv: held input + its input + output; then the sum: input, body output and result.
    assert guard._peak_values(block, (8, 4, 4), 0) == (3 * size, (8, 4, 4))
    plain = Residual("block", seq(Conv(8, 8, 1), BatchNorm(8)), add=False)
    assert guard._peak_values(plain, (8, 4, 4), 0)[0] == 2 * size


def test_a_deep_spec_is_estimated_from_a_shallower_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = resolve_model("b0:d=40")  # 640 blocks
    monkeypatch.setattr(guard, "MAX_COUNTED_BLOCKS", 300)
    monkeypatch.setattr(guard, "ESTIMATE_BLOCKS", 100)
    estimate = estimate_size(spec)
    assert not estimate.exact and estimate.blocks == guard.block_count(spec) == 640
    assert estimate.params == pytest.approx(spec.params, rel=0.03)
    assert estimate.macs == pytest.approx(spec.macs, rel=0.03)
    assert estimate.peak_activation_bytes == estimate_size(REGISTRY["efficientnet_b0"]).peak_activation_bytes


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_block_count_without_a_blueprint_matches_the_blueprint(name: str) -> None:
    spec = resolve_model(f"{name}:w=1" if REGISTRY[name].family == "mobilenet_v3" else f"{name}:d=1.7")

    def blocks(node: object) -> int:
        from bench.zoo.blueprint import Bottleneck, Residual, Seq

        if isinstance(node, (Residual, Bottleneck)):
            return 1
        if isinstance(node, Seq):
            # MobileNetV1's separable blocks are plain Seqs of two conv-BN-ReLU Seqs
            if node.children and all(isinstance(c, Seq) for _, c in node.children) and len(node.children) == 2:
                first = node.children[0][1]
                if isinstance(first, Seq) and any(getattr(c, "groups", 1) > 1 for _, c in first.children):
                    return 1
            return sum(blocks(child) for _, child in node.children)
        return 0

    assert guard.block_count(spec) == blocks(spec.blueprint())


def test_check_buildable_compares_with_the_memory_given() -> None:
    spec = resolve_model("b0:r=32")
    estimate = check_buildable(spec, available_bytes=GB)
    assert estimate.required_bytes == 4 * 5_288_548 + 196_608
    assert check_buildable(spec, available_bytes=estimate.required_bytes) == estimate
    with pytest.raises(EffbenchError) as excinfo:
        check_buildable(spec, available_bytes=estimate.required_bytes - 1)
    message = str(excinfo.value)
    assert message.startswith("efficientnet_b0:r=32 is too large to build here: 5.29 M parameters and 9.74 M MACs")
    assert "21.4 MB for fp32 weights and activations at batch 1, more than the 21.4 MB of memory available" in message
    assert "choose smaller scaling values (w, d, r)" in message and "\n" not in message


def test_an_absurd_phi_is_refused_with_the_largest_phi_that_fits() -> None:
    limit = 16 * GB
    with pytest.raises(EffbenchError) as excinfo:
        check_buildable(resolve_model("efficientnet:phi=99"), available_bytes=limit)
    message = str(excinfo.value)
    assert message.startswith("efficientnet:phi=99 is too large to build here: about ")
    assert "parameters and" in message and "more than the 16 GB of memory available" in message
    fitting = int(message.rsplit("(at most ", 1)[1].split(" ")[0])
    check_buildable(resolve_model(f"efficientnet:phi={fitting}"), available_bytes=limit)
    with pytest.raises(EffbenchError):
        check_buildable(resolve_model(f"efficientnet:phi={fitting + 1}"), available_bytes=limit)


def test_a_spec_past_float_range_is_refused_not_crashed() -> None:
    with pytest.raises(EffbenchError, match=r"efficientnet_b0:d=1e\+300 is too large to estimate .*choose smaller"):
        check_buildable(resolve_model("b0:d=1e300"), available_bytes=GB)
    with pytest.raises(EffbenchError, match=r"w=1e\+300 is too large to build here: 3.77e\+606 parameters"):
        check_buildable(resolve_model("b0:w=1e300"), available_bytes=GB)


def test_check_countable_refuses_only_what_cannot_be_counted_exactly() -> None:
    check_countable(resolve_model("efficientnet:phi=20"))  # 8 G parameters, but only 640 blocks
    with pytest.raises(EffbenchError) as excinfo:
        check_countable(resolve_model("efficientnet:phi=99"))
    message = str(excinfo.value)
    assert message.startswith("efficientnet:phi=99 has 1,104,239,664 blocks, more than the 5,000 effbench counts")
    fitting = int(message.rsplit("(at most ", 1)[1].rstrip(")"))
    assert estimate_size(resolve_model(f"efficientnet:phi={fitting}")).exact
    assert not estimate_size(resolve_model(f"efficientnet:phi={fitting + 1}")).exact


def test_available_memory_reads_memavailable(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       32000000 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n")
    assert guard.available_memory_bytes(meminfo) == 20_000_000 * 1024
    fallback = guard.available_memory_bytes(tmp_path / "missing")
    assert fallback is None or fallback > 0


def test_models_cli_counts_a_large_spec_and_refuses_an_uncountable_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "efficientnet:phi=20", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("efficientnet:phi=20,3666,8178458752,")
    assert main(["models", "efficientnet:phi=99"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("effbench: error: efficientnet:phi=99 has 1,104,239,664 blocks") and err.count("\n") == 1


def test_export_and_latency_refuse_an_absurd_spec_before_importing_torch(tmp_path: Path) -> None:
    config = tmp_path / "bench.toml"
    config.write_text(f'[paths]\ncache_dir = "{tmp_path / "cache"}"\nresults_dir = "{tmp_path / "results"}"\n')
    code = (
        "import sys\n"
        "from bench.cli import main\n"
        f"codes = [main(['--config', {str(config)!r}, command, '--model', 'efficientnet:phi=99'])\n"
        "         for command in ('export', 'latency')]\n"
        "print(codes, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[2, 2] False", out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.startswith("effbench: error: efficientnet:phi=99 is too large to build here: about ")
        assert "parameters and" in line and "of memory available; choose a smaller phi" in line
    assert not (tmp_path / "cache").exists() and not (tmp_path / "results").exists()
