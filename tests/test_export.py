"""Export pipeline: tiny exports with parity, the cache (hit, miss, corruption, races), user files, bundles, and
every bad input the export command accepts (one line on stderr, exit code 2, nothing left in the cache)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bench.errors import EffbenchError, ExportError
from bench.export import (
    PARITY_RTOL,
    SUPPORTED_OPSETS,
    ensure_artifacts,
    export_model,
    make_plan,
    normalize_formats,
    plans,
    write_bundle,
)
from bench.export import build as build_mod
from bench.export import parity as parity_mod
from bench.export.cache import (
    LOCKS_FOLDER,
    STAGING_PREFIX,
    library_versions,
    read_manifest,
    sha256_file,
    sha256_files,
)
from bench.export.plans import MODEL_CODE_FILES, model_code_digest

if TYPE_CHECKING:
    from conftest import Cli

REPO = Path(__file__).resolve().parents[1]
TINY = "b0:r=32"
NEEDS_ALL = [pytest.mark.torch, pytest.mark.onnxruntime, pytest.mark.openvino]
NEEDS_RUNTIMES = [pytest.mark.onnxruntime, pytest.mark.openvino]


def _need(*modules: str) -> None:
    for name in modules:
        pytest.importorskip(name)


def entries(cache: Path) -> list[str]:
    """Entry folders in a cache, and any leftover temp folders (names starting with '.tmp-')."""
    if not cache.exists():
        return []
    return sorted(p.name for p in cache.iterdir() if p.name != LOCKS_FOLDER)


def make_tiny_onnx(
    path: Path,
    shape: list[int | str] | None = None,
    opset: int = 17,
    seed: int = 0,
) -> Path:
    """A 1-conv ONNX model built without torch: input [N,3,16,16] by default (dynamic batch)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shape = shape if shape is not None else ["N", 3, 16, 16]
    rng = np.random.default_rng(seed)
    weight = numpy_helper.from_array(rng.standard_normal((16, 3, 3, 3)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b")
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [shape[0], 16])],
        [weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8  # readable by every ONNX Runtime effbench supports
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def b0_export(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One real export of the tiny B0 (both formats) shared by the tests that only read it."""
    _need("torch", "onnx", "onnxruntime", "openvino")
    cache = tmp_path_factory.mktemp("cache")
    messages: list[str] = []
    outcome = export_model(TINY, cache_dir=cache, progress=messages.append)
    return outcome, cache, messages


@pytest.fixture
def tiny_onnx(tmp_path: Path) -> Path:
    _need("onnx")
    return make_tiny_onnx(tmp_path / "tiny.onnx")


# ---------------------------------------------------------------- the PyTorch pipeline


@pytest.mark.torch
@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_tiny_export_writes_both_formats_with_parity(b0_export: Any) -> None:
    outcome, cache, messages = b0_export
    arts = outcome.artifacts
    assert outcome.status == "exported"
    assert arts.model_name == "efficientnet_b0:r=32"
    assert arts.spec is not None and arts.spec.resolution == 32
    assert arts.input_name == "input" and arts.input_shape == (1, 3, 32, 32) and arts.input_dtype == "float32"
    assert set(arts.files) == {"onnx", "openvino"}
    assert arts.files["openvino"].suffix == ".xml"
    folder = arts.files["onnx"].parent
    assert folder.parent == cache and arts.fingerprint[:16] in folder.name
    # sha256: the .onnx file; the IR's .xml and .bin together; every file again in the manifest.
    assert arts.sha256["onnx"] == sha256_file(arts.files["onnx"])
    assert arts.sha256["openvino"] == sha256_files([arts.files["openvino"], folder / "model.bin"])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == arts.manifest
    for name, info in manifest["files"].items():
        assert sha256_file(folder / name) == info["sha256"]
    assert manifest["fingerprint"] == arts.fingerprint
    assert manifest["input"] == {"name": "input", "shape": [1, 3, 32, 32], "dtype": "float32"}
    assert manifest["outputs"][0]["name"] == "logits" and manifest["outputs"][0]["shape"] == [1, 1000]
    assert manifest["artifacts"]["onnx"]["opset"] == 17
    assert manifest["exporter"]["dynamo"] is False
    assert manifest["exporter"]["supported_opsets"] == list(SUPPORTED_OPSETS)
    installed = library_versions(("torch", "onnx", "onnxruntime", "openvino", "numpy"))
    assert {k: manifest["versions"][k] for k in installed} == installed and None not in installed.values()
    exported_at = datetime.fromisoformat(manifest["exported_at"])
    assert exported_at.tzinfo is not None and exported_at <= datetime.now(UTC)
    ov = manifest["artifacts"]["openvino"]
    assert ov["compress_to_fp16"] is False and "f16" not in ov["constant_element_types"]
    assert ov["converted_from"] == "model.onnx"
    parity = manifest["parity"]
    assert parity["reference"] == "pytorch" and parity["tolerance"]["max_rel_error"] == PARITY_RTOL
    for runtime in ("onnxruntime", "openvino"):
        result = parity["results"][runtime]
        assert result["ok"] is True and result["reference"] == "pytorch"
        assert 0 <= result["max_rel_error"] <= PARITY_RTOL and result["reference_max_abs"] > 0
        # relative = max|out - ref| / max|ref|: the two errors and the scale recorded must agree
        assert result["max_abs_error"] == pytest.approx(result["max_rel_error"] * result["reference_max_abs"])
    assert parity["results"]["openvino"]["effective"]["INFERENCE_PRECISION_HINT"] == "f32"
    assert parity["denormals"]["openvino"]["CPU_DENORMALS_OPTIMIZATION"] is True
    assert parity["denormals"]["onnxruntime"] == {"session.set_denormal_as_zero": "1"}
    # What torch reported when the export asked it to flush denormals (it was asked in this process already).
    import torch

    assert parity["denormals"]["pytorch"] == {"torch.set_flush_denormal(True)": torch.set_flush_denormal(True)}
    assert any("exporting ONNX" in m for m in messages)
    assert entries(cache) == [folder.name]  # no temp folders left behind


@pytest.mark.torch
@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_exported_onnx_is_static_batch_1_and_checks(b0_export: Any) -> None:
    import onnx

    arts = b0_export[0].artifacts
    model = onnx.load(str(arts.files["onnx"]))
    onnx.checker.check_model(model, full_check=True)
    (inp,) = model.graph.input
    assert inp.name == "input"
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim] == [1, 3, 32, 32]
    assert [o.name for o in model.graph.output] == ["logits"]


@pytest.mark.torch
@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_second_export_is_a_verified_cache_hit(b0_export: Any) -> None:
    outcome, cache, _ = b0_export
    folder = outcome.folder
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    messages: list[str] = []
    again = export_model(TINY, cache_dir=cache, progress=messages.append)
    assert again.status == "cached"
    assert again.artifacts.fingerprint == outcome.artifacts.fingerprint
    assert again.artifacts.files == outcome.artifacts.files
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == mtimes
    assert any("cache hit" in m for m in messages)
    # Asking for one format is served by the same entry.
    assert ensure_artifacts("efficientnet_b0:r=32", formats=("onnx",), cache_dir=cache).fingerprint == (
        outcome.artifacts.fingerprint
    )


@pytest.mark.torch
@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_corrupted_cache_entry_is_detected_and_exported_again(b0_export: Any, tmp_path: Path) -> None:
    outcome, cache, _ = b0_export
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    folder = copy / outcome.folder.name
    weights = folder / "model.bin"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, same name: only the hash can tell
    weights.write_bytes(bytes(data))
    stat = (outcome.folder / "model.bin").stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    messages: list[str] = []
    again = export_model(TINY, cache_dir=copy, progress=messages.append)
    assert again.status == "exported"
    assert any("cannot be reused" in m and "model.bin does not match" in m for m in messages)
    assert sha256_file(weights) == again.artifacts.manifest["files"]["model.bin"]["sha256"]
    # The export is deterministic: same ONNX bytes and IR weights. (The IR's .xml can differ in auto-generated
    # node names, which OpenVINO numbers with a process-wide counter.)
    assert again.artifacts.sha256["onnx"] == outcome.artifacts.sha256["onnx"]
    assert again.artifacts.manifest["files"]["model.bin"] == outcome.artifacts.manifest["files"]["model.bin"]
    assert entries(copy) == [folder.name]


@pytest.mark.torch
@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_parity_failure_fails_the_export_and_caches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    _need("torch", "onnx", "onnxruntime", "openvino")
    real = parity_mod.run_onnxruntime

    def off_by_a_bit(path: Path, name: str, x: Any) -> Any:
        outputs, effective = real(path, name, x)
        return [o + 1e-2 * float(abs(o).max()) for o in outputs], effective

    monkeypatch.setattr(parity_mod, "run_onnxruntime", off_by_a_bit)
    cache = tmp_path / "cache"
    code, _out, err = cli("export", "--model", "b0:w=0.25,d=0.25,r=32", "--cache-dir", str(cache), "-q")
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("effbench: error: ")
    assert "onnxruntime output differs from pytorch" in err and "nothing was cached" in err
    assert entries(cache) == []


@pytest.mark.torch
@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_parity_tolerance_follows_pytorch_fp32_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    # A deep model whose PyTorch fp32 output is 1e-3 from float64 (as ResNet-152's is 3e-4) gets a tolerance of
    # 4e-3: a runtime 2e-3 from PyTorch fp32 is as accurate as PyTorch itself and passes; 1e-2 still fails.
    _need("torch", "onnx", "onnxruntime", "openvino")
    real_reference = build_mod.float64_reference
    real_ort = parity_mod.run_onnxruntime

    def poorly_conditioned(module: Any, x: Any, reference: Any) -> Any:
        reference64, _error = real_reference(module, x, reference)
        return reference64, 1e-3

    def off_by(rel: float) -> Any:
        def run(path: Path, name: str, x: Any) -> Any:
            outputs, effective = real_ort(path, name, x)
            return [o + rel * float(abs(o).max()) for o in outputs], effective

        return run

    monkeypatch.setattr(build_mod, "float64_reference", poorly_conditioned)
    monkeypatch.setattr(parity_mod, "run_onnxruntime", off_by(2e-3))
    cache = tmp_path / "cache"
    model = "b0:w=0.25,d=0.25,r=32"
    code, _out, err = cli("export", "--model", model, "--cache-dir", str(cache), "-q")
    assert code == 0, err
    (entry,) = entries(cache)
    parity = json.loads((cache / entry / "manifest.json").read_text())["parity"]
    assert parity["tolerance"]["max_rel_error"] == pytest.approx(4e-3)
    assert parity["pytorch_fp32_max_rel_error_vs_fp64"] == 1e-3
    assert parity["results"]["onnxruntime"]["ok"] is True
    assert parity["results"]["openvino"]["max_rel_error_vs_fp64"] < 1e-4

    monkeypatch.setattr(parity_mod, "run_onnxruntime", off_by(1e-2))
    code, _out, err = cli("export", "--model", model, "--cache-dir", str(tmp_path / "other"), "--force", "-q")
    assert code == 1 and "max relative error 0.01 > 0.004" in err


@pytest.mark.torch
@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_export_from_a_weights_file_matches_the_seeded_export(tmp_path: Path) -> None:
    _need("torch", "onnx", "onnxruntime", "openvino")
    import torch

    from bench.nets import build_torch_model
    from bench.zoo import resolve_model

    small = "b0:w=0.25,d=0.25,r=32"
    weights = tmp_path / "weights.pt"
    torch.save(build_torch_model(resolve_model(small), seed=7).state_dict(), weights)
    cache = tmp_path / "cache"
    from_file = ensure_artifacts(small, formats=("onnx",), cache_dir=cache, weights=weights)
    source = from_file.manifest["source"]
    assert source["seed"] is None and source["weights"]["sha256"] == sha256_file(weights)
    assert from_file.manifest["parity"]["results"]["onnxruntime"]["ok"] is True
    seeded = ensure_artifacts(small, formats=("onnx",), cache_dir=cache, seed=7)
    assert seeded.fingerprint != from_file.fingerprint
    assert seeded.sha256["onnx"] == from_file.sha256["onnx"]  # same weights, same bytes


def test_fingerprint_covers_what_determines_the_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = make_plan(TINY, ("onnx", "openvino"), opset=None, seed=0, weights=None, input_shape=None)
    assert base.fingerprint == make_plan("efficientnet_b0:r=32", ("onnx",), 17, 0, None, None).fingerprint
    assert base.fingerprint != make_plan(TINY, ("onnx",), 13, 0, None, None).fingerprint
    assert base.fingerprint != make_plan(TINY, ("onnx",), None, 1, None, None).fingerprint
    assert base.fingerprint != make_plan("b0:r=64", ("onnx",), None, 0, None, None).fingerprint
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"one")
    with_weights = make_plan(TINY, ("onnx",), None, 0, weights, None)
    weights.write_bytes(b"two")
    assert with_weights.fingerprint != make_plan(TINY, ("onnx",), None, 0, weights, None).fingerprint
    assert base.fingerprint_inputs["versions"].keys() == {"torch", "onnx", "openvino"}
    assert base.fingerprint_inputs["exporter"]["dynamo"] is False
    # The model code is fingerprinted: every file it names exists (a renamed one would silently drop out of the
    # digest), and a change to it is another fingerprint.
    assert all((REPO / "bench" / name).is_file() for name in MODEL_CODE_FILES)
    assert base.fingerprint_inputs["model_code_sha256"] == model_code_digest()
    monkeypatch.setattr(plans, "model_code_digest", lambda: "0" * 64)
    assert make_plan(TINY, ("onnx",), None, 0, None, None).fingerprint != base.fingerprint


def test_missing_model_code_file_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fingerprinted file that moved must not drop out of the digest (old cache entries would stay valid).
    monkeypatch.setattr(plans, "MODEL_CODE_FILES", (*MODEL_CODE_FILES, "zoo/moved_away.py"))
    with pytest.raises(RuntimeError, match=r"moved_away\.py is missing"):
        model_code_digest()


@pytest.mark.torch
@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_cache_hit_and_user_onnx_do_not_import_torch(b0_export: Any, tmp_path: Path) -> None:
    _, cache, _ = b0_export
    user = make_tiny_onnx(tmp_path / "user.onnx")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from bench.export import ensure_artifacts\n"
        "hit = ensure_artifacts(sys.argv[1], cache_dir=Path(sys.argv[2]))\n"
        "assert 'torch' not in sys.modules, 'cache hit imported torch'\n"
        "user = ensure_artifacts(sys.argv[3], cache_dir=Path(sys.argv[4]))\n"
        "assert 'torch' not in sys.modules, 'user ONNX imported torch'\n"
        "print(hit.model_name, user.model_name)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, TINY, str(cache), str(user), str(tmp_path / "c2")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["efficientnet_b0:r=32", "user.onnx"]


@pytest.mark.torch
@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_cli_export_prints_parity_and_bundle_works_without_torch(b0_export: Any, tmp_path: Path, cli: Cli) -> None:
    outcome, cache, _ = b0_export
    bundle = tmp_path / "bundle"
    code, out, err = cli("export", "--model", TINY, "--cache-dir", str(cache), "--bundle", str(bundle))
    assert code == 0, err
    assert "efficientnet_b0:r=32: cache hit" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert set(rows) == {"onnx", "openvino"}
    assert all("parity vs pytorch" in row for row in rows.values())
    index = json.loads((bundle / "index.json").read_text())
    assert index["format"] == "effbench-bundle"
    (entry,) = index["entries"]
    assert entry["fingerprint"] == outcome.artifacts.fingerprint
    assert entry["files"] == {"onnx": f"{entry['folder']}/model.onnx", "openvino": f"{entry['folder']}/model.xml"}
    assert (bundle / "README.md").read_text().count(entry["folder"]) >= 1
    assert read_manifest(bundle / entry["folder"]) == outcome.artifacts.manifest

    # A machine without torch: importing it fails, the bundle still serves both formats.
    code_text = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "from pathlib import Path\n"
        "from bench.export import export_model\n"
        "b = Path(sys.argv[1])\n"
        "for model, fmt in [(b / sys.argv[2] / 'model.onnx', 'onnx'), (b / sys.argv[2] / 'model.xml', 'openvino'),"
        " (b, 'openvino'), (b / sys.argv[2], 'onnx')]:\n"
        "    o = export_model(str(model), formats=(fmt,), cache_dir=Path(sys.argv[3]))\n"
        "    print(o.status, o.artifacts.model_name, o.artifacts.files[fmt].parent.name)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code_text, str(bundle), entry["folder"], str(tmp_path / "unused")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == [f"prebuilt efficientnet_b0:r=32 {entry['folder']}"] * 4
    assert not (tmp_path / "unused").exists()

    # A tampered bundle is refused, not trusted.
    (bundle / entry["folder"] / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(EffbenchError, match="cannot be trusted"):
        ensure_artifacts(str(bundle / entry["folder"] / "model.onnx"), cache_dir=tmp_path / "unused")


def _modes(root: Path) -> tuple[set[int], set[int]]:
    """The permission bits of every file and every folder under `root` (root included)."""
    files: set[int] = set()
    folders = {root.stat().st_mode & 0o777}
    for path in root.rglob("*"):
        (folders if path.is_dir() else files).add(path.stat().st_mode & 0o777)
    return files, folders


@pytest.mark.torch
@pytest.mark.onnxruntime
@pytest.mark.openvino
@pytest.mark.parametrize(("umask", "file_mode", "folder_mode"), [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775)])
def test_cache_entries_and_bundles_get_the_permissions_the_umask_gives(
    tiny_onnx: Path, tmp_path: Path, umask: int, file_mode: int, folder_mode: int
) -> None:
    _need("torch", "onnx", "onnxruntime", "openvino")
    cache, bundle = tmp_path / "models", tmp_path / "bundle"
    previous = os.umask(umask)
    try:
        arts = [ensure_artifacts(str(tiny_onnx), cache_dir=cache)]  # a user file: static copy and the IR
        if umask == 0o022:  # the PyTorch export once is enough: its writers are the same for any umask
            arts.append(ensure_artifacts("b0:w=0.25,d=0.25,r=32", formats=("onnx",), cache_dir=cache))
        write_bundle(arts, bundle)
        write_bundle(arts[:1], bundle)  # updating a bundle keeps it clean too
    finally:
        os.umask(previous)
    for entry in arts:
        assert entry.files["onnx"].parent.parent == cache
    assert _modes(cache) == ({file_mode}, {folder_mode})  # the entries, and the cache's lock files and folders
    assert _modes(bundle) == ({file_mode}, {folder_mode})
    # A bundle is meant to be copied: no lock files, no staging folders, only the entries and the index.
    names = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*"))
    assert not [n for n in names if n.endswith(".lock") or ".locks" in n or n.startswith(".")], names
    folders = [p.name for p in bundle.iterdir() if p.is_dir()]
    assert sorted(p.name for p in bundle.iterdir() if p.is_file()) == ["README.md", "index.json"]
    assert len(folders) == len(arts)


def test_bundle_writers_take_turns_without_a_lock_file(tmp_path: Path) -> None:
    import fcntl

    from bench.export.bundle import _folder_lock

    def can_lock() -> bool:
        fd = os.open(tmp_path, os.O_RDONLY)  # another open file description, as another process would have
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    with _folder_lock(tmp_path):
        assert not can_lock()
        assert list(tmp_path.iterdir()) == []
    assert can_lock()
    assert not (tmp_path.parent / f".{tmp_path.name}.lock").exists()


# ---------------------------------------------------------------- user ONNX and IR files


@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_user_onnx_dynamic_batch_becomes_1_and_is_cached(tiny_onnx: Path, tmp_path: Path) -> None:
    _need("onnxruntime", "openvino")
    import onnx

    cache = tmp_path / "cache"
    outcome = export_model(str(tiny_onnx), cache_dir=cache)
    arts = outcome.artifacts
    assert outcome.status == "exported"
    assert arts.model_name == "tiny.onnx" and arts.spec is None
    assert arts.input_name == "x" and arts.input_shape == (1, 3, 16, 16)
    manifest = arts.manifest
    assert manifest["source"]["kind"] == "onnx-file"
    assert manifest["source"]["sha256"] == sha256_file(tiny_onnx)
    assert manifest["source"]["declared_input_shape"] == ["N", 3, 16, 16]
    parity = manifest["parity"]
    assert parity["reference"] == "onnxruntime"
    assert parity["results"]["openvino"]["ok"] is True
    assert parity["results"]["openvino"]["max_rel_error"] <= PARITY_RTOL
    cached = onnx.load(str(arts.files["onnx"]))
    assert [d.dim_value for d in cached.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 16, 16]
    assert export_model(str(tiny_onnx), cache_dir=cache).status == "cached"
    assert export_model(str(tiny_onnx), cache_dir=cache, force=True).status == "exported"
    (outcome.folder / "manifest.json").write_text("{ not json")
    assert export_model(str(tiny_onnx), cache_dir=cache).status == "exported"
    (outcome.folder / "model.xml").unlink()
    assert export_model(str(tiny_onnx), cache_dir=cache).status == "exported"
    assert export_model(str(tiny_onnx), cache_dir=cache).status == "cached"
    assert len(entries(cache)) == 1


@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_user_onnx_other_dynamic_dims_need_input_shape(tmp_path: Path, cli: Cli) -> None:
    _need("onnxruntime", "openvino")
    model = make_tiny_onnx(tmp_path / "dyn.onnx", shape=["N", 3, "H", "W"])
    cache = tmp_path / "cache"
    code, _, err = cli("export", "--model", str(model), "--cache-dir", str(cache))
    assert code == 2
    assert "dynamic input dims [N, 3, H, W]" in err and "--input-shape 1,3,N,N" in err
    assert err.count("\n") == 1
    assert entries(cache) == []
    code, out, err = cli("export", "--model", str(model), "--cache-dir", str(cache), "--input-shape", "1,3,24,24", "-q")
    assert code == 0, err
    assert "[1,3,24,24]" in out and "parity vs onnxruntime" in out
    # The override is part of the fingerprint: another shape is another entry.
    arts = ensure_artifacts(str(model), cache_dir=cache, input_shape=(1, 3, 40, 40))
    assert arts.input_shape == (1, 3, 40, 40)
    assert len(entries(cache)) == 2


@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_adding_a_format_to_an_entry_and_prebuilt_format_checks(tiny_onnx: Path, tmp_path: Path) -> None:
    _need("onnxruntime", "openvino")
    cache = tmp_path / "cache"
    only_onnx = export_model(str(tiny_onnx), formats=("onnx",), cache_dir=cache)
    assert set(only_onnx.artifacts.files) == {"onnx"}
    assert only_onnx.artifacts.manifest["parity"]["results"]["onnxruntime"]["note"] == (
        "no second runtime to compare with"
    )
    with pytest.raises(EffbenchError, match=r"has no openvino artifact \(it has onnx\)"):
        ensure_artifacts(str(only_onnx.folder), cache_dir=cache)
    both = export_model(str(tiny_onnx), cache_dir=cache)
    assert both.status == "exported" and both.folder == only_onnx.folder
    assert set(both.artifacts.files) == {"onnx", "openvino"}
    assert both.artifacts.sha256["onnx"] == only_onnx.artifacts.sha256["onnx"]
    assert export_model(str(tiny_onnx), formats=("onnx",), cache_dir=cache).status == "cached"
    assert export_model(str(both.folder / "model.xml"), formats=("openvino",), cache_dir=cache).status == ("prebuilt")


@pytest.mark.openvino
def test_user_ir_runs_only_in_openvino(tmp_path: Path, tiny_onnx: Path) -> None:
    _need("openvino")
    import openvino as ov

    xml = tmp_path / "ir" / "tiny.xml"
    xml.parent.mkdir()
    ov.save_model(ov.convert_model(str(tiny_onnx)), str(xml), compress_to_fp16=False)
    arts = ensure_artifacts(str(xml), cache_dir=tmp_path / "cache")
    assert set(arts.files) == {"openvino"}
    assert arts.input_shape == (1, 3, 16, 16)  # the dynamic batch became 1
    result = arts.manifest["parity"]["results"]["openvino"]
    assert result["reference"] is None and "only run in OpenVINO" in result["note"]
    assert arts.manifest["parity"]["reference"] is None
    assert "_outputs" not in arts.manifest["parity"]
    # The IR's outputs are named from the file and shaped by the parity run.
    assert arts.manifest["outputs"] == [{"name": "y", "shape": [1, 16]}]
    assert arts.manifest["source"]["kind"] == "openvino-ir"
    reshaped = ov.Core().read_model(str(arts.files["openvino"]))
    assert list(reshaped.inputs[0].get_shape()) == [1, 3, 16, 16]
    with pytest.raises(EffbenchError, match="cannot be turned into ONNX: use --format openvino"):
        ensure_artifacts(str(xml), formats=("onnx",), cache_dir=tmp_path / "cache")
    xml.with_suffix(".bin").unlink()
    with pytest.raises(EffbenchError, match=r"no weights file tiny\.bin"):
        ensure_artifacts(str(xml), formats=("openvino",), cache_dir=tmp_path / "cache2")


@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_user_onnx_parity_failure_exits_1(
    tiny_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _need("onnxruntime", "openvino")
    real = parity_mod.run_openvino

    def drifting(xml: Path, x: Any) -> Any:
        outputs, effective = real(xml, x)
        return [o * 1.01 for o in outputs], effective

    monkeypatch.setattr(parity_mod, "run_openvino", drifting)
    cache = tmp_path / "cache"
    with pytest.raises(ExportError, match=r"openvino output differs from onnxruntime: max relative error"):
        export_model(str(tiny_onnx), cache_dir=cache)
    assert entries(cache) == []


@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_crash_mid_export_leaves_nothing_half_written(
    tiny_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need("onnxruntime", "openvino")
    cache = tmp_path / "cache"
    plan = make_plan(str(tiny_onnx), ("onnx", "openvino"), None, 0, None, None)
    from bench.export.cache import entry_folder_name

    folder = entry_folder_name(plan.model_name, plan.fingerprint)
    cache.mkdir()
    (cache / f"{STAGING_PREFIX}{folder}-killed").mkdir()  # left by an export that was killed

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(build_mod, "convert_to_openvino", boom)
    with pytest.raises(RuntimeError, match="boom"):
        export_model(str(tiny_onnx), cache_dir=cache)
    assert entries(cache) == []  # neither the new temp folder nor the old leftover remains
    monkeypatch.undo()
    assert export_model(str(tiny_onnx), cache_dir=cache).status == "exported"
    assert entries(cache) == [folder]


@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_concurrent_exports_of_the_same_model_do_not_corrupt_the_cache(tiny_onnx: Path, tmp_path: Path) -> None:
    _need("onnxruntime", "openvino")
    cache = tmp_path / "cache"
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from bench.export import export_model\n"
        "print(export_model(sys.argv[1], cache_dir=Path(sys.argv[2])).status)\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tiny_onnx), str(cache)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    assert sorted(out.strip() for out, _ in results) == ["cached", "exported"]
    (folder,) = entries(cache)
    manifest = read_manifest(cache / folder)
    assert manifest is not None
    for name, info in manifest["files"].items():
        assert sha256_file(cache / folder / name) == info["sha256"]


@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_an_export_waits_for_the_lock_held_by_another(tiny_onnx: Path, tmp_path: Path) -> None:
    _need("onnxruntime", "openvino")
    import filelock

    from bench.export.cache import entry_folder_name

    cache = tmp_path / "cache"
    plan = make_plan(str(tiny_onnx), ("onnx", "openvino"), None, 0, None, None)
    folder = entry_folder_name(plan.model_name, plan.fingerprint)
    (cache / LOCKS_FOLDER).mkdir(parents=True)
    lock = filelock.FileLock(str(cache / LOCKS_FOLDER / f"{folder}.lock"))
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from bench.export import export_model\n"
        "say = lambda m: print(m, file=sys.stderr, flush=True)\n"
        "print(export_model(sys.argv[1], cache_dir=Path(sys.argv[2]), progress=say).status)\n"
    )
    with lock:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(tiny_onnx), str(cache)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert "waiting for another process" in first, first
        assert entries(cache) == []  # nothing is written while another process holds the lock
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.strip() == "exported"
    assert entries(cache) == [folder]


@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_config_cache_dir_is_used(tiny_onnx: Path, tmp_path: Path, cli: Cli) -> None:
    _need("onnxruntime", "openvino")
    config = tmp_path / "bench.toml"
    config.write_text('[paths]\ncache_dir = "elsewhere"\n[export]\nopset = 17\nformats = ["onnx"]\n')
    code, out, err = cli("--config", str(config), "export", "--model", str(tiny_onnx), "--json", "-q")
    assert code == 0, err
    (doc,) = json.loads(out)
    assert Path(doc["folder"]).parent == tmp_path / "elsewhere"
    assert set(doc["files"]) == {"onnx"}  # bench.toml's formats; bench.toml's opset does not apply to files


# ---------------------------------------------------------------- bad input: one line, exit 2, cache untouched


def _bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    import numpy as np

    good = make_tiny_onnx(tmp / "good.onnx", shape=[1, 3, 16, 16])
    data = good.read_bytes()
    (tmp / "notes.onnx").write_text("these are my notes, not a model\n")
    (tmp / "truncated.onnx").write_bytes(data[: len(data) // 2])
    (tmp / "corrupt.onnx").write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8)) + data[64:])
    (tmp / "empty.onnx").write_bytes(b"")
    (tmp / "ckpt.onnx").write_bytes(b"PK\x03\x04" + bytes(64))
    (tmp / "weights.pt").write_bytes(b"PK\x03\x04")
    (tmp / "a_file").write_text("not a folder")
    fixed8 = make_tiny_onnx(tmp / "batch8.onnx", shape=[8, 3, 16, 16])
    (tmp / "broken.xml").write_text("<net><layers><layer id='0'")
    (tmp / "broken.bin").write_bytes(b"")
    (tmp / "lonely.xml").write_text("<net/>")
    return [
        (["--model", str(tmp / "missing.onnx")], "does not exist: check the path"),
        (["--model", str(tmp / "notes.onnx")], "is not a readable ONNX model: it looks like a text file"),
        (["--model", str(tmp / "truncated.onnx")], "is not a readable ONNX model: truncated or corrupt"),
        (["--model", str(tmp / "corrupt.onnx")], "is not a readable ONNX model"),
        (["--model", str(tmp / "empty.onnx")], "the file is empty"),
        (["--model", str(tmp / "ckpt.onnx")], "zip archive (a PyTorch checkpoint?"),
        (["--model", str(tmp / "weights.pt")], "unsupported model file"),
        (["--model", str(tmp)], "is a folder without an effbench manifest.json"),
        (
            ["--model", TINY, "--opset", "99"],
            f"unsupported opset 99: the PyTorch TorchScript exporter supports "
            f"opsets {SUPPORTED_OPSETS[0]}-{SUPPORTED_OPSETS[1]}",
        ),
        (["--model", TINY, "--opset", "6"], "supports opsets 7-20"),
        (["--model", str(good), "--opset", "13"], "--opset 13 cannot apply to"),
        (["--model", "b99"], "unknown model 'b99'"),
        (["--model", TINY, "--format", "tflite"], "unknown export format tflite: choose from onnx, openvino"),
        (["--model", TINY, "--input-shape", "1,3,x"], "invalid --input-shape '1,3,x'"),
        (["--model", TINY, "--input-shape", "1,3,64,64"], "differs from efficientnet_b0:r=32's input 1,3,32,32"),
        (["--model", str(good), "--input-shape", "1,3,32,32"], "disagrees with"),
        (["--model", str(good), "--input-shape", "1,3,16"], "has 3 dims but"),
        (["--model", str(fixed8)], "has a fixed batch of 8"),
        (["--model", str(tmp / "broken.xml")], "is not a readable OpenVINO IR"),
        (["--model", str(tmp / "lonely.xml")], "has no weights file lonely.bin beside it"),
        (["--model", str(tmp / "broken.xml"), "--format", "onnx"], "cannot be turned into ONNX"),
        (["--model", TINY, "--weights", str(tmp / "nope.safetensors")], "weights file"),
        (["--model", str(good), "--cache-dir", str(tmp / "a_file")], "is not writable"),
        (["--model", str(good), "--cache-dir", str(tmp / "a_file" / "sub")], "is not writable"),
    ]


@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_every_bad_input_is_one_line_exit_2_and_leaves_no_cache(tmp_path: Path, cli: Cli) -> None:
    _need("onnx", "onnxruntime", "openvino")
    cases = _bad_inputs(tmp_path)
    cache = tmp_path / "cache"
    for argv, expected in cases:
        args = ["export", *argv] if "--cache-dir" in argv else ["export", *argv, "--cache-dir", str(cache)]
        code, out, err = cli(*args)
        assert code == 2, (argv, out, err)
        assert err.startswith("effbench: error: ") and err.count("\n") == 1, (argv, err)
        assert expected in err, (argv, err)
        assert out == ""
        assert not cache.exists(), argv  # bad input is refused before the cache is touched


def test_a_missing_runtime_is_named_with_the_fix(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['openvino'] = None\n"
        "sys.modules['torch'] = None\n"
        "from bench.errors import EffbenchError\n"
        "from bench.export import ensure_artifacts\n"
        "for model in ('b0:r=32', sys.argv[1]):\n"
        "    try:\n"
        "        ensure_artifacts(model, cache_dir=sys.argv[2])\n"
        "    except EffbenchError as exc:\n"
        "        print(exc)\n"
    )
    xml = tmp_path / "m.xml"
    xml.write_text("<net/>")
    xml.with_suffix(".bin").write_bytes(b"")
    proc = subprocess.run(
        [sys.executable, "-c", code, str(xml), str(tmp_path / "cache")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert "needs torch, which is not installed: pip install 'effbench[torch]'" in first
    assert "needs openvino, which is not installed: pip install 'effbench[openvino]'" in second
    assert not (tmp_path / "cache").exists()


def test_unknown_opset_fails_before_torch_is_imported() -> None:
    code = (
        "import sys\n"
        "from bench.errors import EffbenchError\n"
        "from bench.export import ensure_artifacts\n"
        "try:\n"
        "    ensure_artifacts('b0:r=32', opset=21, cache_dir='/nonexistent/never')\n"
        "except EffbenchError as exc:\n"
        "    print(exc)\n"
        "assert 'torch' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "unsupported opset 21" in proc.stdout and "7-20" in proc.stdout


def test_parity_check_names_the_failing_runtime_and_keeps_the_manifest_format() -> None:
    from bench.export.parity import ParityCheck

    passing = {"reference": "pytorch", "max_abs_error": 1e-7, "max_rel_error": 1e-7, "tolerance": 1e-4, "ok": True}
    failing = {**passing, "max_abs_error": 0.5, "max_rel_error": 2e-3, "ok": False}
    check = ParityCheck(
        reference="pytorch",
        tolerance=1e-4,
        seed=3,
        results={"onnxruntime": passing, "openvino": failing},
        denormals={"onnxruntime": {"session.set_denormal_as_zero": "1"}},
        output_shapes=((1, 1000),),
        reference_fp32_error=2e-5,
    )
    why = check.failure("m")
    assert why is not None
    assert why.startswith("m: openvino output differs from pytorch: max relative error 0.002 > 0.0001")
    assert why.endswith("nothing was cached")
    assert ParityCheck("pytorch", 1e-4, 3, {"onnxruntime": passing}, {}, ()).failure("m") is None
    block = check.to_manifest()
    assert list(block) == [
        "reference",
        "input",
        "tolerance",
        "results",
        "denormals",
        "pytorch_fp32_max_rel_error_vs_fp64",
    ]
    assert block["input"]["seed"] == 3 and block["tolerance"]["max_rel_error"] == 1e-4
    assert block["pytorch_fp32_max_rel_error_vs_fp64"] == 2e-5
    assert "pytorch_fp32_max_rel_error_vs_fp64" not in ParityCheck(None, 1e-4, 0, {}, {}, ()).to_manifest()


def test_formats_are_normalized() -> None:
    assert normalize_formats("openvino,onnx") == ("onnx", "openvino")
    assert normalize_formats(["IR"]) == ("openvino",)
    with pytest.raises(EffbenchError, match="unknown export format"):
        normalize_formats(())


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores folder permissions")
@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_read_only_cache_folder_is_reported(tiny_onnx: Path, tmp_path: Path) -> None:
    cache = tmp_path / "ro"
    cache.mkdir()
    cache.chmod(0o500)
    try:
        with pytest.raises(EffbenchError, match="is not writable"):
            ensure_artifacts(str(tiny_onnx), cache_dir=cache)
    finally:
        cache.chmod(0o700)


@pytest.mark.torch
@pytest.mark.onnxruntime
@pytest.mark.openvino
def test_the_ir_depends_on_the_onnx_file_alone_not_on_earlier_conversions(b0_export: Any, tmp_path: Path) -> None:
    """OpenVINO names new nodes from a process-wide counter: converting in this process twice gave two different
    .xml files. Each conversion runs in a fresh process, so the same ONNX file always gives the same IR bytes."""
    _need("openvino")
    from bench.export.convert import convert_to_openvino

    outcome, _cache, _messages = b0_export
    onnx_path = outcome.artifacts.files["onnx"]
    digests = set()
    for run in range(2):
        xml = tmp_path / f"run{run}" / "model.xml"
        xml.parent.mkdir()
        record = convert_to_openvino(onnx_path, xml, error=EffbenchError)
        assert record["constant_element_types"].get("f32") and not record["constant_element_types"].get("f16")
        digests.add((xml.read_bytes(), xml.with_suffix(".bin").read_bytes()))
    assert len(digests) == 1
    assert outcome.artifacts.files["openvino"].read_bytes() == next(iter(digests))[0]  # the cached IR too


@pytest.mark.openvino
def test_a_failed_conversion_is_one_line_naming_the_file(tmp_path: Path) -> None:
    _need("openvino")
    from bench.export.convert import convert_to_openvino

    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(EffbenchError, match=r"OpenVINO could not convert broken\.onnx \(.+\); nothing was cached"):
        convert_to_openvino(bad, tmp_path / "model.xml", error=EffbenchError)
