"""Suites: the shipped ones parse and expand to the expected cells with and without bf16; every config error is
one line naming the key (and the nearest valid one); globs, specs, files, export folders and bundles expand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.config import load_config
from bench.engine import policy
from bench.errors import EffbenchError
from bench.suite.definition import Suite, SuiteCell, list_suites, load_suite

PROJECT_TOML = Path(__file__).resolve().parent.parent / "bench.toml"
BF16_CPU = frozenset({"avx2", "fma", "avx512f", "avx512_bf16"})
PLAIN_CPU = frozenset({"avx2", "fma"})


def everything_installed(backend: str) -> bool:
    return True


def write_suite(tmp_path: Path, body: str, name: str = "s") -> Path:
    path = tmp_path / "bench.toml"
    path.write_text(f"[suite.{name}]\n{body}\n", encoding="utf-8")
    return path


def load(tmp_path: Path, body: str) -> Suite:
    return load_suite(write_suite(tmp_path, body), "s")


# -------------------------------------------------------------------------------- the shipped suites


def test_effbench_ships_paper_table3_quick_and_the_scaling_suites() -> None:
    assert list_suites(PROJECT_TOML) == ["paper", "table3", "quick", "scaling", "paper-short", "scaling-wide"]


def test_paper_suite_expands_with_and_without_bf16() -> None:
    suite = load_suite(PROJECT_TOML, "paper")
    assert suite.models == (
        *(f"efficientnet_b{i}" for i in range(8)),
        "resnet50",
        "resnet152",
        "mobilenet_v1",
        "mobilenet_v2",
    )
    with_bf16 = suite.cells(BF16_CPU, everything_installed)
    assert len(with_bf16) == 12 * 8  # ORT fp32/int8, OV fp32/bf16/int8, torch fp32, inductor fp32/bf16
    assert all(c.skip_reason is None for c in with_bf16)
    assert {(c.backend, c.precision) for c in with_bf16} == {
        ("onnxruntime", "fp32"),
        ("onnxruntime", "int8"),
        ("openvino", "fp32"),
        ("openvino", "bf16"),
        ("openvino", "int8"),
        ("torch", "fp32"),
        ("inductor", "fp32"),
        ("inductor", "bf16"),
    }
    without = suite.cells(PLAIN_CPU, everything_installed)
    skipped = [c for c in without if c.skip_reason]
    assert len(without) == 96 and len(skipped) == 24  # int8 runs everywhere (without VNNI: 7-bit weights)
    assert {(c.backend, c.precision) for c in skipped} == {("openvino", "bf16"), ("inductor", "bf16")}
    assert "avx512_bf16" in (skipped[0].skip_reason or "")
    assert without[0] == SuiteCell("efficientnet_b0", "onnxruntime", "fp32", 1)
    recorded = json.loads(json.dumps(suite.to_dict()))
    assert recorded["precisions"] == {
        "onnxruntime": ["fp32", "int8"],
        "openvino": ["fp32", "bf16", "int8"],
        "torch": ["fp32"],
        "inductor": ["fp32", "bf16"],
    }
    assert recorded["models"][0] == "efficientnet_b0" and recorded["bf16"] == "if-supported"


def test_table3_suite_is_the_scaled_baselines() -> None:
    suite = load_suite(PROJECT_TOML, "table3")
    assert len(suite.models) == 14  # 3 baselines + 3 MobileNetV1, 4 MobileNetV2 and 4 ResNet-50 scalings
    assert {"mobilenet_v1_compound", "mobilenet_v2_d4", "resnet50_r2", "resnet50"} <= set(suite.models)
    assert "resnet152" not in suite.models and "mobilenet_v3_large" not in suite.models
    cells = suite.cells(PLAIN_CPU, everything_installed)
    assert len(cells) == 28 and not any(c.skip_reason for c in cells)


def test_quick_suite_is_small_and_fast() -> None:
    suite = load_suite(PROJECT_TOML, "quick")
    assert suite.preset == "fast" and suite.backends == ("onnxruntime",)
    assert [c.model for c in suite.cells(PLAIN_CPU, everything_installed)] == ["mobilenet_v2", "efficientnet_b0"]


def test_a_loaded_config_and_the_nearest_file_give_the_same_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_suite(tmp_path, 'models = ["b0"]\noutput = "out"')
    from_path = load_suite(path, "s")
    assert load_suite(load_config(path), "s") == from_path
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert load_suite(None, "s").models == ("efficientnet_b0",)
    assert from_path.output == tmp_path.resolve() / "out"


# ------------------------------------------------------------------------------------ the matrix


def test_defaults(tmp_path: Path) -> None:
    suite = load(tmp_path, 'models = ["b0"]')
    assert suite.backends == ("torch", "onnxruntime", "openvino")
    assert suite.precisions_for("openvino") == ("fp32",)
    assert (suite.threads, suite.preset, suite.bf16, suite.output, suite.cpus) == (
        (1,),
        "default",
        "if-supported",
        None,
        None,
    )


def test_shared_precisions_skip_what_a_backend_or_the_cpu_cannot_run(tmp_path: Path) -> None:
    suite = load(tmp_path, 'models = ["b0"]\nbackends = ["ort", "ov"]\nprecisions = ["fp32", "bf16"]\nthreads = [1, 2]')
    cells = suite.cells(PLAIN_CPU, everything_installed)
    assert len(cells) == 2 * 2 * 2  # backends x precisions x threads
    reasons = {(c.backend, c.precision): c.skip_reason for c in cells}
    assert reasons["onnxruntime", "fp32"] is None and reasons["openvino", "fp32"] is None
    assert "onnxruntime" in (reasons["onnxruntime", "bf16"] or "")  # the backend's own reason comes first
    assert "avx512_bf16" in (reasons["openvino", "bf16"] or "")
    assert [c.threads for c in cells[:2]] == [1, 2]
    assert not any(c.skip_reason for c in suite.cells(BF16_CPU, everything_installed) if c.backend == "openvino")


def test_bf16_always_measures_even_without_the_flags(tmp_path: Path) -> None:
    suite = load(tmp_path, 'models = ["b0"]\nbackends = ["openvino"]\nprecisions = ["bf16"]\nbf16 = "always"')
    (cell,) = suite.cells(PLAIN_CPU, everything_installed)
    assert cell.skip_reason is None


def test_a_missing_runtime_is_a_skipped_cell_not_an_error(tmp_path: Path) -> None:
    suite = load(tmp_path, 'models = ["b0"]\nbackends = ["torch", "onnxruntime"]')
    cells = suite.cells(PLAIN_CPU, lambda backend: backend != "torch")
    assert cells[0].backend == "torch" and "torch is not installed" in (cells[0].skip_reason or "")
    assert cells[1].skip_reason is None


def test_a_precision_table_names_the_backends_and_defaults_the_rest_to_fp32(tmp_path: Path) -> None:
    only_table = load(tmp_path, 'models = ["b0"]\nprecisions = { openvino = ["bf16", "fp32"], torch = ["fp32"] }')
    assert only_table.backends == ("openvino", "torch")
    assert only_table.precisions_for("openvino") == ("bf16", "fp32")
    with_list = load(
        tmp_path, 'models = ["b0"]\nbackends = ["onnxruntime", "openvino"]\nprecisions = { ov = ["bf16"] }'
    )
    assert with_list.precisions == (("onnxruntime", ("fp32",)), ("openvino", ("bf16",)))


def test_globs_specs_and_duplicates(tmp_path: Path) -> None:
    suite = load(tmp_path, 'models = ["b1", "efficientnet_b[0-2]", "mobilenet_v3*", "b0:r=32", "efficientnet-b1"]')
    assert suite.models == (
        "efficientnet_b1",
        "efficientnet_b0",
        "efficientnet_b2",
        "mobilenet_v3_large",
        "mobilenet_v3_small",
        "efficientnet_b0:r=32",
    )


def test_model_files_export_folders_and_bundles(tmp_path: Path) -> None:
    (tmp_path / "net.onnx").write_bytes(b"not checked here")
    export = tmp_path / "exports" / "b0-abc"
    export.mkdir(parents=True)
    (export / "manifest.json").write_text("{}")
    bundle = tmp_path / "bundle"
    for folder in ("b0", "b1"):
        (bundle / folder).mkdir(parents=True)
    index = {"format": "effbench-bundle", "format_version": 1, "entries": [{"folder": "b0"}, {"folder": "b1"}]}
    (bundle / "index.json").write_text(json.dumps(index))
    suite = load(tmp_path, 'models = ["net.onnx", "exports/b0-abc", "bundle", "b0"]')
    root = tmp_path.resolve()
    assert suite.models == (
        str(root / "net.onnx"),
        str(root / "exports" / "b0-abc"),
        str(root / "bundle" / "b0"),
        str(root / "bundle" / "b1"),
        "efficientnet_b0",
    )


def test_presets_come_from_the_policy_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A preset that exists nowhere but the policy module is refused, then accepted once the module defines it.
    with pytest.raises(EffbenchError, match="turbo"):
        load(tmp_path, 'models = ["b0"]\npreset = "turbo"')
    monkeypatch.setitem(policy.PRESETS, "turbo", policy.PRESETS["fast"])
    assert load(tmp_path, 'models = ["b0"]\npreset = "turbo"').preset == "turbo"


def test_cpus_as_a_list_or_a_kernel_cpu_list(tmp_path: Path) -> None:
    assert load(tmp_path, 'models = ["b0"]\ncpus = "1-2"\nthreads = 2').cpus == (1, 2)
    assert load(tmp_path, 'models = ["b0"]\ncpus = [3, 1]').cpus == (1, 3)


# ---------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('modles = ["b0"]', "[suite.s] unknown key 'modles' (did you mean 'models'?) (known keys: description, "),
        ('models = ["b0"]\nthread = 2', "unknown key 'thread' (did you mean 'threads'?)"),
        ('models = ["b0"]\nbackend = "ort"', "unknown key 'backend' (did you mean 'backends'?)"),
        ('models = ["b0"]\nflavour = 1', "unknown key 'flavour' (known keys:"),
        ("description = 'x'", "[suite.s] has no models: add models = [...]"),
        ("models = []", "[suite.s] models = []: it is empty"),
        ("models = 3", "[suite.s] models = 3: it must be a non-empty list"),
        ('models = [""]', "models = ['']: it must be"),
        ('models = ["efficentnet_b0"]', "models: unknown model 'efficentnet_b0'; did you mean efficientnet_b0"),
        ('models = ["efficentnet_b*"]', "'efficentnet_b*' matches no model (did you mean 'efficientnet_b"),
        ('models = ["b0:r=7"]', "invalid model spec 'b0:r=7'"),
        ('models = ["missing.onnx"]', "missing.onnx does not exist (paths are relative to bench.toml's folder)"),
        ('models = ["b0"]\nbackends = ["onnxruntim"]', "unknown backend 'onnxruntim' (did you mean 'onnxruntime'?)"),
        ('models = ["b0"]\nbackends = []', "backends = []: it is empty"),
        ('models = ["b0"]\nbackends = 3', "backends = 3: it must be a list of backend names"),
        ('models = ["b0"]\nthreads = "two"', "threads = 'two': it must be a whole number >= 1"),
        ('models = ["b0"]\nthreads = 0', "threads = 0: it must be"),
        ('models = ["b0"]\nthreads = []', "threads = []: it must be"),
        ('models = ["b0"]\nthreads = true', "threads = True: it must be"),
        (
            'models = ["b0"]\nprecisions = ["fp33"]',
            "unknown precision 'fp33' (did you mean 'fp32'?) (known: fp32, bf16, int8)",
        ),
        ('models = ["b0"]\nprecisions = []', "precisions = []: it is empty"),
        ('models = ["b0"]\nprecisions = 32', "precisions = 32: it must be a list drawn from"),
        (
            'models = ["b0"]\nprecisions = { openvin = ["bf16"] }',
            "unknown backend 'openvin' (did you mean 'openvino'?)",
        ),
        (
            'models = ["b0"]\nbackends = ["openvino"]\nprecisions = { openvin = ["bf16"] }',
            "precisions = {'openvin': ['bf16']}: unknown backend 'openvin'",
        ),
        (
            'models = ["b0"]\nbackends = ["onnxruntime"]\nprecisions = { torch = ["fp32"] }',
            "'torch' is not one of the suite's backends (onnxruntime)",
        ),
        ('models = ["b0"]\npreset = "rigorus"', 'preset = \'rigorus\': it must be one of "fast", "default"'),
        ('models = ["b0"]\npreset = "rigorus"', "did you mean 'rigorous'?"),
        ('models = ["b0"]\nbf16 = "maybe"', 'bf16 = \'maybe\': it must be one of "if-supported", "always"'),
        ('models = ["b0"]\ncpus = "x"', "cpus = 'x': it must be a CPU list"),
        ('models = ["b0"]\ncpus = [-1]', "cpus = [-1]: it must be"),
        ('models = ["b0"]\ncpus = "1"\nthreads = 2', "threads = 2 needs as many CPUs but cpus lists 1"),
        ('models = ["b0"]\noutput = 3', "output = 3: it must be a folder path"),
        ('models = ["b0"]\ndescription = 3', "description = 3: it must be a string"),
    ],
)
def test_invalid_suites_give_one_line_naming_the_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(EffbenchError) as info:
        load(tmp_path, body)
    text = str(info.value)
    assert message in text
    assert "\n" not in text and text.startswith(f"invalid {tmp_path / 'bench.toml'}: [suite.s]")
    assert info.value.exit_code == 2


def test_bad_model_paths(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EffbenchError, match=r"notes\.txt is not a model file: use a \.onnx"):
        load(tmp_path, 'models = ["notes.txt"]')
    with pytest.raises(EffbenchError, match="is neither an export folder"):
        load(tmp_path, 'models = ["empty"]')


def test_unknown_suite_lists_the_available_ones(tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    path.write_text('[suite.mine]\nmodels = ["b0"]\n[suite.quick]\nmodels = ["b0"]\n')
    with pytest.raises(
        EffbenchError,
        match=r"unknown suite 'papr' \(did you mean 'paper'\?\) \(shipped: paper, table3, scaling, paper-short, "
        r"scaling-wide; .*bench.toml: quick, mine; add a \[suite.papr\] table to bench.toml",
    ):
        load_suite(path, "papr")


def test_a_bench_toml_without_suites_runs_the_shipped_ones(tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    path.write_text("[paths]\n")
    assert load_suite(path, "paper") == load_suite(PROJECT_TOML, "paper")
    assert load_suite(path, "paper").source is None


def test_shipped_suites_from_a_folder_without_bench_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert list_suites() == ["paper", "table3", "quick", "scaling", "paper-short", "scaling-wide"]
    quick = load_suite(None, "quick")
    assert quick.models == ("mobilenet_v2", "efficientnet_b0") and quick.source is None
    recorded = quick.to_dict()
    assert recorded["source"] is None and recorded["shipped"] is True
    assert Suite.from_dict(json.loads(json.dumps(recorded))) == quick


def test_a_project_suite_overrides_the_shipped_one_by_name(tmp_path: Path) -> None:
    path = write_suite(tmp_path, 'models = ["b0"]\npreset = "fast"', name="quick")
    mine = load_suite(path, "quick")
    assert mine.models == ("efficientnet_b0",) and mine.source == path and mine.overrides_shipped
    assert "shipped" not in mine.to_dict()
    assert list_suites(path) == ["paper", "table3", "quick", "scaling", "paper-short", "scaling-wide"]
    added = write_suite(tmp_path, 'models = ["b0"]', name="extra")
    assert list_suites(added)[-1] == "extra" and not load_suite(added, "extra").overrides_shipped


def test_unreadable_config_files(tmp_path: Path) -> None:
    with pytest.raises(EffbenchError, match="does not exist"):
        load_suite(tmp_path / "nope.toml", "paper")
    bad = tmp_path / "bench.toml"
    bad.write_text("[suite.x\n")
    with pytest.raises(EffbenchError, match="fix the TOML syntax"):
        load_suite(bad, "x")
    bad.write_text("suite = 3\n")
    with pytest.raises(EffbenchError, match=r"'suite' must hold tables"):
        load_suite(bad, "x")
    bad.write_text("[suite]\nx = 3\n")
    with pytest.raises(EffbenchError, match=r"\[suite.x\] must be a table"):
        load_suite(bad, "x")
