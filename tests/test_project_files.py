"""Project habits that can drift: one version, the licence the package declares, a changelog entry for the
version, and a results/README.md that documents every published result document and its command."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from published import published_documents

import bench

ROOT = Path(__file__).resolve().parent.parent


def test_the_version_is_written_once_in_bench_init() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "bench.__version__"}
    pyprojecttoml = pytest.importorskip("setuptools.config.pyprojecttoml")
    assert pyprojecttoml.read_configuration(ROOT / "pyproject.toml")["project"]["version"] == bench.__version__


def test_the_declared_licence_is_the_licence_file() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_the_changelog_has_the_current_version_and_the_current_result_format() -> None:
    from bench.document import FORMAT_VERSION

    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{bench.__version__}] - " in changelog
    assert f"**Format {FORMAT_VERSION}**" in changelog.split("## Result format history", 1)[1]


def test_results_readme_documents_every_published_document() -> None:
    readme = (ROOT / "results" / "README.md").read_text()
    documents = published_documents()
    assert documents
    for path in documents:
        relative = path.relative_to(ROOT / "results").as_posix()
        assert f"`{relative}`" in readme, f"{relative} is not described in results/README.md"
        command = json.loads(path.read_text())["effbench"]["command"]
        if "--output" in command:  # written elsewhere and moved into the tree; the README says so
            at = command.index("--output")
            command = command[:at] + command[at + 2 :]
        assert f"`{' '.join(command)}`" in readme, f"{relative}: its command is not in results/README.md"


def test_the_device_scripts_run_the_suites_a_short_machine_slot_needs() -> None:
    """scripts/device_run.sh (a lent 16-core machine: no openvino, no network) runs B0, B1, B3, ResNet-50,
    ResNet-152 and MobileNetV2 on one core (ONNX Runtime fp32 and int8, OpenVINO f32, bf16 and int8) and B1 with
    ResNet-152 on ONNX Runtime at 1-16 threads; both scripts parse; the carry folder is ignored by git."""
    import re
    import subprocess

    from bench.suite.definition import load_suite

    script = (ROOT / "scripts" / "device_run.sh").read_text()
    one_core = re.search(r'one_core="\$\{1:-([\w-]+)\}"', script)
    scaling = re.search(r'scaling="\$\{2:-([\w-]+)\}"', script)
    assert one_core and scaling
    short = load_suite(ROOT / "bench.toml", one_core.group(1))
    assert set(short.models) >= {
        "efficientnet_b0", "efficientnet_b1", "efficientnet_b3", "resnet50", "resnet152", "mobilenet_v2"
    }  # fmt: skip
    assert short.precisions_for("onnxruntime") == ("fp32", "int8")
    assert short.precisions_for("openvino") == ("fp32", "bf16", "int8")
    assert "--precision fp32,int8" in script  # quantized with the exports, not inside the suite's time limit
    assert short.threads == (1,)
    wide = load_suite(ROOT / "bench.toml", scaling.group(1))
    assert set(wide.models) == {"efficientnet_b1", "resnet152"} and wide.backends == ("onnxruntime",)
    assert wide.threads == (1, 2, 4, 8, 16)
    assert "--cpus 1 " in script and "timeout -s INT" in script  # pinned, and stopped with Ctrl-C semantics
    for name in ("device_run.sh", "device_prepare.sh"):
        subprocess.run(["bash", "-n", str(ROOT / "scripts" / name)], check=True)
    ignored = subprocess.run(["git", "check-ignore", "-q", ".carry/site.zip"], cwd=ROOT)
    assert ignored.returncode == 0, ".carry/ must be ignored: the carried wheels must never be committed"


def _reference_paper_document() -> Path:
    """The paper document of the hardware report's reference machine (`--reference` in results/README.md's
    command): other machines' paper documents are in the command too."""
    import re

    readme = (ROOT / "results" / "README.md").read_text().split("## `hardware/`", 1)[1]
    machine = re.search(r"--reference (\S+)", readme)
    assert machine, "no --reference in results/README.md's hardware report command"
    return next(
        p
        for p in published_documents()
        if p.parent.name == machine.group(1) and p.name in readme and p.name.startswith("paper-")
    )


def test_constraints_pin_every_package_and_match_the_reference_results() -> None:
    """scripts/setup-venv.sh installs with -c constraints.txt, so machines set up from one commit export the same
    bytes; the pins are the versions the hardware report's reference document ran."""
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"constraints.txt: {line!r} is not NAME==VERSION"
            pins[name.lower().replace("_", "-")] = version
    assert '-c "$root/constraints.txt"' in (ROOT / "scripts" / "setup-venv.sh").read_text()
    assert {"torch", "onnx", "onnxruntime", "openvino", "protobuf", "numpy"} <= set(pins)
    runtimes = json.loads(_reference_paper_document().read_text())["machine"]["runtimes"]
    for name in ("torch", "onnx", "onnxruntime", "openvino", "numpy"):
        assert pins[name] == runtimes[name], (name, pins[name], runtimes[name])


def test_this_code_exports_what_the_reference_document_measured() -> None:
    """The export fingerprint hashes the model code (bench.export.plans.MODEL_CODE_FILES): a change there, even one
    that leaves the bytes alone, gives PyTorch cells another export recipe, and the hardware report then lists them
    apart from the reference's. Counting code belongs outside those files (bench.zoo.effective); a real change to the
    models means re-measuring the reference, as moving a pin does."""
    import importlib.metadata

    from bench.document import ResultDocument
    from bench.export.cache import compute_fingerprint
    from bench.export.plans import make_plan

    reference = ResultDocument.from_dict(json.loads(_reference_paper_document().read_text()))
    runtimes = reference.machine.data["runtimes"]
    for name in ("torch", "onnx", "openvino"):
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pytest.skip(f"{name} is not installed: the fingerprint names its version")
        if not runtimes[name].startswith(installed.split("+")[0]):
            pytest.skip(f"{name} {installed} is installed, the reference ran {runtimes[name]}")
    cells = [c for c in reference.cells if c.backend == "torch"]
    assert len(cells) == 12
    for cell in cells:
        plan = make_plan(cell.model, ("onnx",), None, reference.settings.seed, None, None)
        assert compute_fingerprint(plan.fingerprint_inputs) == cell.fingerprint, cell.model
