"""The examples under examples/ (CI workflows, Kubernetes Job): they parse, call only known effbench commands with
known flags, pin CPUs, fail on a regression and not on an inconclusive verdict, and ask for exclusive cores."""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import __version__
from bench.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
AB_WORKFLOW = EXAMPLES / "github-actions" / "ab-regression.yml"
FLEET_WORKFLOW = EXAMPLES / "github-actions" / "fleet.yml"
K8S_JOB = EXAMPLES / "kubernetes" / "effbench-job.yaml"
WORKFLOWS = (AB_WORKFLOW, FLEET_WORKFLOW)
ALL_YAML = sorted([*EXAMPLES.rglob("*.yml"), *EXAMPLES.rglob("*.yaml")])

# Where the examples install effbench from: the source archive of a release tag (effbench is on no package index).
SOURCE_ARCHIVE = re.compile(r"https://github\.com/OWNER/effbench/archive/refs/tags/v([^/\s'\"]+)\.tar\.gz")
IMAGE_TAG = re.compile(r"\bimage: *\S+/effbench:(\S+)|\S+/effbench:(\d\S*?)`")
INDEX_PIN = re.compile(r"effbench(\[[^]]*\])? *==")

# Major versions the examples pin; a floating ref (@main) or a full-version pin would both surprise a copier.
PINNED_ACTIONS = {
    "actions/checkout": "v4",
    "actions/setup-python": "v5",
    "actions/upload-artifact": "v4",
    "actions/download-artifact": "v4",
}

# The exit codes of `effbench ab` and `effbench compare` (issue 9), and whether a CI job must fail on each.
EXIT_FAILS_JOB = {0: False, 1: True, 2: True, 3: True}

NFD_CPUID_PREFIX = "feature.node.kubernetes.io/cpu-cpuid."


# ---------------------------------------------------------------------------------------------------- helpers


def load_yaml(path: Path) -> Any:
    with path.open() as f:
        return yaml.safe_load(f)


def triggers(workflow: Mapping[Any, Any]) -> Mapping[str, Any]:
    # YAML 1.1 (pyyaml) reads GitHub's bare `on:` key as the boolean True.
    on = workflow.get("on", workflow.get(True))
    assert isinstance(on, dict), "the workflow's `on:` must be a mapping of triggers"
    return on


def steps_of(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def step_by_id(job: Mapping[str, Any], step_id: str) -> dict[str, Any]:
    found = [s for s in steps_of(job) if s.get("id") == step_id]
    assert len(found) == 1, f"expected one step with id {step_id!r}"
    return found[0]


def uses_steps(job: Mapping[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps_of(job) if str(s.get("uses", "")).split("@")[0] == action]


@dataclass(frozen=True)
class EffbenchCall:
    """One `effbench SUBCOMMAND ARGS...` found in an example's shell script, with the env it runs under."""

    where: str
    options: tuple[str, ...]  # top-level options before the subcommand (e.g. --config FILE)
    subcommand: str
    args: tuple[str, ...]
    env: Mapping[str, str]

    def flag_value(self, flag: str) -> str | None:
        for i, arg in enumerate(self.args):
            if arg == flag and i + 1 < len(self.args):
                return self.args[i + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
        return None

    def has(self, flag: str) -> bool:
        return any(a == flag or a.startswith(flag + "=") for a in self.args)


_PUNCTUATION = set("();<>|&")


def shell_words(script: str) -> Iterator[list[str]]:
    """Each logical line of a shell script as shell words (comments dropped, `;`, `|`, `>>` as their own words)."""
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        yield list(lexer)


def find_effbench_calls(script: str, where: str, env: Mapping[str, str]) -> list[EffbenchCall]:
    calls = []
    for words in shell_words(script):
        for i, word in enumerate(words):
            if os.path.basename(word) != "effbench":
                continue
            rest = []
            for w in words[i + 1 :]:
                if set(w) <= _PUNCTUATION:
                    break
                rest.append(w)
            options = []
            while rest and rest[0].startswith("-"):
                options.append(rest.pop(0))
                if options[-1] == "--config" and rest:
                    options.append(rest.pop(0))
            assert rest, f"{where}: `effbench` without a subcommand"
            calls.append(EffbenchCall(where, tuple(options), rest[0], tuple(rest[1:]), dict(env)))
    return calls


def workflow_calls(path: Path) -> list[tuple[str, EffbenchCall]]:
    """(job name, call) for every effbench call in a workflow's `run:` steps."""
    workflow = load_yaml(path)
    out = []
    for job_name, job in workflow["jobs"].items():
        for step in steps_of(job):
            if "run" not in step:
                continue
            env = {**workflow.get("env", {}), **job.get("env", {}), **step.get("env", {})}
            where = f"{path.name}: {job_name}: {step.get('name', step.get('id', step['run'][:30]))}"
            out += [(job_name, call) for call in find_effbench_calls(step["run"], where, env)]
    return out


def k8s_job() -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(K8S_JOB.read_text()) if d]
    jobs = [d for d in docs if d.get("kind") == "Job"]
    assert len(jobs) == 1, "effbench-job.yaml must hold exactly one Job"
    return jobs[0]


def k8s_pod_spec() -> dict[str, Any]:
    return k8s_job()["spec"]["template"]["spec"]


def k8s_script(container: Mapping[str, Any]) -> str:
    argv = [*container.get("command", []), *container.get("args", [])]
    if len(argv) >= 3 and os.path.basename(argv[0]) in {"sh", "bash"} and argv[1] == "-c":
        return str(argv[2])
    return shlex.join(str(a) for a in argv)


def k8s_calls() -> list[EffbenchCall]:
    calls = []
    for container in k8s_pod_spec()["containers"]:
        env = {e["name"]: str(e.get("value", "node-a")) for e in container.get("env", [])}
        calls += find_effbench_calls(k8s_script(container), f"{K8S_JOB.name}: {container['name']}", env)
    return calls


def every_call() -> list[EffbenchCall]:
    return [call for path in WORKFLOWS for _, call in workflow_calls(path)] + k8s_calls()


def parser_subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("bench/cli.py's parser has no subcommands")


def expand(word: str, env: Mapping[str, str]) -> str:
    """Shell-expand a word well enough for argparse: $(...) and unknown variables become a placeholder."""
    word = re.sub(r"\$\([^)]*\)", "1", word)
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m[1], "1"), word)


# ---------------------------------------------------------------------------------------------------- all files


def test_examples_exist() -> None:
    assert {AB_WORKFLOW, FLEET_WORKFLOW, K8S_JOB} <= set(ALL_YAML)


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_yaml_parses(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs and all(isinstance(d, dict) for d in docs)


def test_readme_names_every_example() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for path in ALL_YAML:
        assert str(path.relative_to(EXAMPLES)) in readme, f"examples/README.md does not describe {path.name}"


@pytest.mark.parametrize(
    "path", [FLEET_WORKFLOW, K8S_JOB, EXAMPLES / "README.md"], ids=lambda p: str(p.relative_to(EXAMPLES))
)
def test_examples_install_the_release_of_this_version(path: Path) -> None:
    text = path.read_text()
    pinned = SOURCE_ARCHIVE.findall(text) + [a or b for a, b in IMAGE_TAG.findall(text)]
    assert pinned, f"{path.name}: install effbench from its release's source archive (or an image of it)"
    for version in pinned:
        assert version == __version__, f"{path.name} names effbench {version}, bench.__version__ is {__version__}"
    assert not INDEX_PIN.search(text), f"{path.name}: effbench is on no package index, `effbench==...` finds nothing"


def test_every_workflow_install_of_effbench_is_pinned() -> None:
    fleet = load_yaml(FLEET_WORKFLOW)
    assert SOURCE_ARCHIVE.fullmatch(fleet["env"]["EFFBENCH_SOURCE"])
    for path in WORKFLOWS:
        for job in load_yaml(path)["jobs"].values():
            for step in steps_of(job):
                for line in step.get("run", "").splitlines():
                    if "pip install" in line and "effbench" in line:
                        assert "@ $EFFBENCH_SOURCE" in line, f"{path.name}: {line.strip()}"
                    elif "pip install" in line and "--upgrade pip" not in line:
                        assert re.search(r'"\.(/\S*)?\[all\]"', line), f"{path.name}: {line.strip()} installs what?"


def test_readme_explains_the_owner_placeholder() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    assert "Replace `OWNER`" in readme and "__version__" in readme


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_major_versions(path: Path) -> None:
    workflow = load_yaml(path)
    used = [step["uses"] for job in workflow["jobs"].values() for step in steps_of(job) if "uses" in step]
    assert used
    for ref in used:
        action, _, version = ref.partition("@")
        assert action in PINNED_ACTIONS, f"{path.name}: unexpected action {ref}"
        assert version == PINNED_ACTIONS[action], f"{path.name}: {ref} should be {action}@{PINNED_ACTIONS[action]}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_run_scripts_take_expressions_through_env(path: Path) -> None:
    # `${{ ... }}` inside a script is pasted in before bash runs (script injection, broken quoting); env is not.
    workflow = load_yaml(path)
    for job_name, job in workflow["jobs"].items():
        for step in steps_of(job):
            assert "${{" not in step.get("run", ""), f"{path.name}: {job_name}: pass expressions through env:"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_run_scripts_are_valid_bash(path: Path) -> None:
    for job in load_yaml(path)["jobs"].values():
        for step in steps_of(job):
            if "run" in step:
                done = subprocess.run(["bash", "-n"], input=step["run"], text=True, capture_output=True)
                assert done.returncode == 0, f"{path.name}: {step.get('name')}: {done.stderr}"


def test_every_effbench_subcommand_exists() -> None:
    known = set(parser_subcommands())
    calls = every_call()
    assert {c.subcommand for c in calls} >= {"ab", "compare", "run", "report", "export", "system"}
    for call in calls:
        assert call.subcommand in known, (
            f"{call.where}: `effbench {call.subcommand}` is not a subcommand of bench/cli.py"
        )


def test_every_effbench_call_parses(capsys: pytest.CaptureFixture[str]) -> None:
    parsers = parser_subcommands()
    parser = build_parser()
    for call in every_call():
        # argparse accepts unambiguous abbreviations (--cpu for --cpus); an example spells flags in full
        flags = {a.split("=", 1)[0] for a in call.args if a.startswith("--")}
        spelled = {o for action in parsers[call.subcommand]._actions for o in action.option_strings}
        assert flags <= spelled, f"{call.where}: `effbench {call.subcommand}` has no {sorted(flags - spelled)}"
        argv = [expand(w, call.env) for w in (*call.options, call.subcommand, *call.args)]
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{call.where}: `effbench {shlex.join(argv)}` does not parse: {capsys.readouterr().err}")


def test_every_measurement_is_pinned() -> None:
    measuring = [c for c in every_call() if c.subcommand in {"run", "ab", "latency"}]
    assert len(measuring) >= 4
    for call in measuring:
        assert call.flag_value("--cpus"), f"{call.where}: `effbench {call.subcommand}` must pin CPUs with --cpus"


def test_no_example_uses_strict() -> None:
    # --strict turns inconclusive/noisy into exit 3; the examples must not fail a job on an inconclusive verdict
    for call in every_call():
        assert not call.has("--strict"), f"{call.where}: --strict would fail the job on inconclusive cells"


# ---------------------------------------------------------------------------------------------------- simulate a job


def _resolve_expressions(value: str, contexts: Mapping[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        expr = m[1].strip()
        assert expr in contexts, f"the simulation has no value for ${{{{ {expr} }}}}"
        return contexts[expr]

    return re.sub(r"\$\{\{(.*?)\}\}", one, str(value))


FAKE_EFFBENCH = r"""#!{python}
# Logs its argv; writes --output where its folder exists, else prints Markdown; exits with $FAKE_RC_<SUBCOMMAND>.
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps(args) + "\n")
fmt = args[args.index("--format") + 1] if "--format" in args else "json"
text = "| fake | verdict |\n" if fmt == "md" else "{{}}\n"
if "--output" in args:
    out = args[args.index("--output") + 1]
    if os.path.isdir(os.path.dirname(out) or "."):
        open(out, "w").write(text)
elif fmt == "md":
    print(text, end="")
sys.exit(int(os.environ.get("FAKE_RC_" + args[0].upper().replace("-", "_"), "0")))
"""


@dataclass(frozen=True)
class JobRun:
    failed: bool
    calls: list[list[str]]
    summary: str


def fake_bin(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    fake = bin_dir / "effbench"
    fake.write_text(FAKE_EFFBENCH.format(python=sys.executable))
    fake.chmod(0o755)
    (bin_dir / "python3").symlink_to(sys.executable)
    return bin_dir


def simulate_job(
    path: Path,
    job_name: str,
    step_ids: list[str],
    workspace: Path,
    exit_codes: Mapping[str, int],
    contexts: Mapping[str, str],
    *,
    real_effbench: bool = False,
) -> JobRun:
    """Run the chosen `run:` steps of a job as GitHub would (bash -eo pipefail, GITHUB_OUTPUT per step, a shared
    step summary, later steps skipped after a failure unless `if: always()`), with a fake effbench on PATH (or,
    `real_effbench`, this venv's console script: no calls are logged then)."""
    workflow = load_yaml(path)
    job = workflow["jobs"][job_name]
    assert set(step_ids) <= {s.get("id") for s in steps_of(job)}, f"{job_name} lacks a step among {step_ids}"
    bin_dir = Path(sys.executable).parent if real_effbench else fake_bin(workspace.parent)
    log = workspace.parent / "effbench-calls.jsonl"
    summary = workspace.parent / "summary.md"
    outputs: dict[str, str] = {}
    failed = False
    for step in steps_of(job):
        if step.get("id") not in step_ids:
            continue
        condition = str(step.get("if", ""))
        assert condition in {"", "always()"}, f"the simulation does not evaluate `if: {condition}`"
        if failed and condition != "always()":
            continue
        step_contexts = {**contexts, **outputs}
        env = {
            k: _resolve_expressions(v, step_contexts)
            for k, v in {**workflow.get("env", {}), **job.get("env", {}), **step.get("env", {})}.items()
        }
        output_file = workspace.parent / f"output-{step['id']}"
        output_file.write_text("")
        env.update(
            PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            HOME=str(workspace),
            FAKE_LOG=str(log),
            GITHUB_OUTPUT=str(output_file),
            GITHUB_STEP_SUMMARY=str(summary),
            GITHUB_PATH=str(workspace.parent / "path"),
            GITHUB_SHA="0" * 40,
            **{f"FAKE_RC_{sub.upper()}": str(rc) for sub, rc in exit_codes.items()},
        )
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
        )
        failed |= done.returncode != 0
        for line in output_file.read_text().splitlines():
            name, _, value = line.partition("=")
            outputs[f"steps.{step['id']}.outputs.{name}"] = value
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return JobRun(failed, calls, summary.read_text() if summary.exists() else "")


# ---------------------------------------------------------------------------------------------------- A/B workflow


def test_ab_workflow_runs_on_pull_requests_and_blesses_by_hand() -> None:
    workflow = load_yaml(AB_WORKFLOW)
    on = triggers(workflow)
    assert "pull_request" in on
    assert on["workflow_dispatch"]["inputs"]["bless"]["type"] == "boolean"
    assert "pull_request" in workflow["jobs"]["ab"]["if"]
    assert "workflow_dispatch" in workflow["jobs"]["baseline"]["if"]


def test_ab_workflow_measures_the_merge_against_its_first_parent() -> None:
    job = load_yaml(AB_WORKFLOW)["jobs"]["ab"]
    (checkout,) = uses_steps(job, "actions/checkout")
    assert checkout["with"]["path"] == "new"
    assert checkout["with"]["fetch-depth"] >= 2  # the merge commit's parent must be there
    scripts = "\n".join(s.get("run", "") for s in steps_of(job))
    assert re.search(r"worktree add .*base.* HEAD\^1", scripts), "base/ must be the merge commit's first parent"
    assert re.search(r"for arm in base new", scripts) and "python -m venv" in scripts
    assert '"./$arm[all]"' in scripts, "each venv installs its own checkout"


def test_ab_workflow_compares_the_two_environments_on_one_core() -> None:
    calls = [c for job, c in workflow_calls(AB_WORKFLOW) if job == "ab"]
    (ab,) = [c for c in calls if c.subcommand == "ab"]
    assert ab.flag_value("--base-python") == "base/.venv/bin/python"
    assert ab.flag_value("--new-python") == "new/.venv/bin/python"
    assert expand(ab.flag_value("--cpus") or "", ab.env) == "1"
    assert ab.args[0] == ab.args[1]  # one model, two environments
    output = ab.flag_value("--output") or ""
    assert output.startswith("ab/")
    uploads = uses_steps(load_yaml(AB_WORKFLOW)["jobs"]["ab"], "actions/upload-artifact")
    assert [u["with"]["path"] for u in uploads] == ["ab/"]
    assert uploads[0]["if"] == "always()", "the documents are uploaded even when the job fails"


def test_ab_workflow_writes_markdown_verdicts_to_the_step_summary() -> None:
    step = step_by_id(load_yaml(AB_WORKFLOW)["jobs"]["ab"], "summary")
    (compare,) = find_effbench_calls(step["run"], "summary", {})
    assert compare.subcommand == "compare" and compare.flag_value("--format") == "md"
    assert '>> "$GITHUB_STEP_SUMMARY"' in step["run"]


@pytest.mark.parametrize("rc", sorted(EXIT_FAILS_JOB))
def test_ab_workflow_fails_only_on_regression_or_bad_input(tmp_path: Path, rc: int) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    run = simulate_job(
        AB_WORKFLOW,
        "ab",
        ["ab", "summary", "gate"],
        workspace,
        {"ab": rc, "compare": rc},
        {"steps.ab.outputs.regressions": "", "steps.ab.outputs.errors": ""},
    )
    assert run.failed is EXIT_FAILS_JOB[rc]
    models = load_yaml(AB_WORKFLOW)["env"]["QUICK_MODELS"].split()
    ab_calls = [c for c in run.calls if c[0] == "ab"]
    attempts = 2 if rc == 3 else 1  # an undecided A/B (exit 3) is measured once more
    want = [m for m in models for _ in range(attempts)]
    assert [c[1] for c in ab_calls] == want, "one A/B per model of the quick suite, none skipped after a failure"
    compared = [c[1] for c in run.calls if c[0] == "compare"]
    assert compared == [f"ab/{m}.json" for m in sorted(models)]
    assert run.summary.count("| fake | verdict |") == len(models)


def test_ab_workflow_gate_fails_when_the_ab_step_never_ran(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    contexts = {"steps.ab.outputs.regressions": "", "steps.ab.outputs.errors": ""}
    run = simulate_job(AB_WORKFLOW, "ab", ["gate"], workspace, {}, contexts)
    assert run.failed


def test_ab_baseline_job_measures_the_quick_suite_and_compares_with_the_stored_baseline() -> None:
    calls = {c.subcommand: c for job, c in workflow_calls(AB_WORKFLOW) if job == "baseline"}
    assert calls["run"].flag_value("--suite") == "quick"
    assert calls["compare"].args[0] == "$stored"
    step = step_by_id(load_yaml(AB_WORKFLOW)["jobs"]["baseline"], "compare")
    assert "stored=results/baselines/quick.json" in step["run"]


# ---------------------------------------------------------------------------------------------------- fleet


def test_fleet_matrix_has_one_self_hosted_job_per_cpu_type() -> None:
    job = load_yaml(FLEET_WORKFLOW)["jobs"]["measure"]
    assert job["runs-on"] == "${{ matrix.runner }}"
    assert job["strategy"]["fail-fast"] is False
    entries = job["strategy"]["matrix"]["include"]
    assert len(entries) >= 2
    cpu_labels = []
    for entry in entries:
        runner = entry["runner"]
        assert runner[0] == "self-hosted" and "linux" in runner
        (cpu_label,) = [label for label in runner if label.startswith("cpu-")]
        assert cpu_label == entry["machine"]
        cpu_labels.append(cpu_label)
    assert len(set(cpu_labels)) == len(cpu_labels), "each machine type needs its own runner label"


def test_fleet_exports_the_bundle_once_and_every_machine_measures_it_without_torch() -> None:
    jobs = load_yaml(FLEET_WORKFLOW)["jobs"]
    calls = workflow_calls(FLEET_WORKFLOW)
    (export,) = [c for job, c in calls if job == "export" and c.subcommand == "export"]
    bundle = export.flag_value("--bundle")
    assert bundle and export.flag_value("--model")
    (upload,) = uses_steps(jobs["export"], "actions/upload-artifact")
    assert upload["with"]["path"] == bundle

    measure = jobs["measure"]
    assert measure["needs"] == "export"
    (download,) = uses_steps(measure, "actions/download-artifact")
    assert download["with"]["name"] == upload["with"]["name"]
    assert download["with"]["path"] == bundle
    (run,) = [c for job, c in calls if job == "measure" and c.subcommand == "run"]
    assert run.flag_value("--suite") == "paper"
    assert run.flag_value("--bundle") == bundle
    assert expand(run.flag_value("--cpus") or "", run.env) == "1"
    installs = [s["run"] for s in steps_of(measure) if "pip install" in s.get("run", "")]
    assert len(installs) == 1 and "effbench[onnx,openvino]" in installs[0]
    assert not re.search(r"effbench\[[^]]*(all|torch)", installs[0]) and "pip install --quiet torch" not in installs[0]
    (result_upload,) = uses_steps(measure, "actions/upload-artifact")
    assert "${{ matrix.machine }}" in result_upload["with"]["name"]
    assert result_upload["if"] == "always()", "a partial document (finished cells) is still uploaded"
    assert (run.flag_value("--output") or "").startswith(result_upload["with"]["path"])


def test_fleet_collect_job_reports_compares_and_publishes() -> None:
    workflow = load_yaml(FLEET_WORKFLOW)
    collect = workflow["jobs"]["collect"]
    assert collect["needs"] == "measure" and "!cancelled()" in collect["if"]
    (download,) = uses_steps(collect, "actions/download-artifact")
    result_name = uses_steps(workflow["jobs"]["measure"], "actions/upload-artifact")[0]["with"]["name"]
    machine = workflow["jobs"]["measure"]["strategy"]["matrix"]["include"][0]["machine"]
    assert fnmatch.fnmatch(result_name.replace("${{ matrix.machine }}", machine), download["with"]["pattern"])
    assert download["with"]["merge-multiple"] is True

    calls = [c for job, c in workflow_calls(FLEET_WORKFLOW) if job == "collect"]
    reports = [c for c in calls if c.subcommand == "report"]
    assert {r.flag_value("--format") for r in reports} >= {"md", "html"}
    assert all(r.has("--machines") for r in reports)
    assert any(c.subcommand == "compare" for c in calls)
    scripts = "\n".join(s.get("run", "") for s in steps_of(collect))
    assert '>> "$GITHUB_STEP_SUMMARY"' in scripts
    publish = [u for u in uses_steps(collect, "actions/upload-artifact") if "report/" in u["with"]["path"]]
    assert publish and publish[0]["if"] == "always()"


@pytest.mark.parametrize("rc", sorted(EXIT_FAILS_JOB))
def test_fleet_collect_compares_each_machine_with_its_baseline(tmp_path: Path, rc: int) -> None:
    workspace = tmp_path / "ws"
    for machine in ("cpu-icx", "cpu-epyc-zen4"):
        (workspace / "fleet").mkdir(parents=True, exist_ok=True)
        (workspace / "fleet" / f"{machine}.json").write_text("{}")
    (workspace / "results" / "baselines" / "cpu-icx").mkdir(parents=True)
    (workspace / "results" / "baselines" / "cpu-icx" / "paper.json").write_text("{}")
    contexts = {"steps.compare.outputs.regressions": "", "steps.compare.outputs.errors": ""}
    job_run = simulate_job(FLEET_WORKFLOW, "collect", ["compare", "gate"], workspace, {"compare": rc}, contexts)
    assert job_run.failed is EXIT_FAILS_JOB[rc]
    assert job_run.calls == [
        ["compare", "results/baselines/cpu-icx/paper.json", "fleet/cpu-icx.json", "--threshold", "5%", "--format", "md"]
    ]
    assert "cpu-epyc-zen4: no baseline" in job_run.summary


def test_fleet_report_covers_every_downloaded_result(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "fleet").mkdir(parents=True)
    for machine in ("cpu-icx", "cpu-spr-amx"):
        (workspace / "fleet" / f"{machine}.json").write_text("{}")
    job_run = simulate_job(FLEET_WORKFLOW, "collect", ["report"], workspace, {}, {})
    assert not job_run.failed
    reports = [c for c in job_run.calls if c[0] == "report"]
    assert [c[c.index("--format") + 1] for c in reports] == ["md", "html"]
    for call in reports:
        assert call[1:4] == ["--machines", "fleet/cpu-icx.json", "fleet/cpu-spr-amx.json"]
    assert "| fake | verdict |" in job_run.summary, "the Markdown report goes into the step summary"


def test_fleet_collect_end_to_end_with_the_real_effbench(tmp_path: Path) -> None:
    """The collect job's report and compare steps as written, with the real effbench, on the committed paper runs of
    two machines: the hardware report leads with its summary, the machine with a baseline is compared with it (the
    same run: no regression), the other is said to have none, and the gate passes."""
    import shutil

    workspace = tmp_path / "ws"
    (workspace / "fleet").mkdir(parents=True)
    reference = ROOT / "results" / "amd-epyc-cbe573dd" / "paper-20261127T021740Z.json"
    other = ROOT / "results" / "amd-epyc-75392bb6" / "paper-20261203T165747Z.json"
    shutil.copy(reference, workspace / "fleet" / "amd-epyc-cbe573dd.json")
    shutil.copy(other, workspace / "fleet" / "amd-epyc-75392bb6.json")
    (workspace / "results" / "baselines" / "amd-epyc-cbe573dd").mkdir(parents=True)
    shutil.copy(reference, workspace / "results" / "baselines" / "amd-epyc-cbe573dd" / "paper.json")
    contexts = {"steps.compare.outputs.regressions": "", "steps.compare.outputs.errors": ""}
    steps = ["report", "compare", "gate"]
    job_run = simulate_job(FLEET_WORKFLOW, "collect", steps, workspace, {}, contexts, real_effbench=True)
    assert not job_run.failed, job_run.summary
    report = (workspace / "report" / "fleet.md").read_text(encoding="utf-8")
    assert report.startswith("# effbench hardware report (2 machines") and "\n## Summary\n" in report
    assert "`amd-epyc-75392bb6`" in report.split("\n## Machines")[0]
    assert (workspace / "report" / "fleet.html").read_text(encoding="utf-8").count("<h2 id='summary'>") == 1
    assert "amd-epyc-75392bb6: no baseline" in job_run.summary
    assert "## Summary" in job_run.summary  # the report went into the step summary
    assert (workspace / "report" / "compare-amd-epyc-cbe573dd.md").read_text(encoding="utf-8").strip()


# ---------------------------------------------------------------------------------------------------- Kubernetes


def _cpu_cores(quantity: object) -> Fraction:
    text = str(quantity)
    return Fraction(int(text[:-1]), 1000) if text.endswith("m") else Fraction(text)


def test_k8s_job_never_retries_a_measurement() -> None:
    job = k8s_job()
    assert job["apiVersion"] == "batch/v1"
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_k8s_pod_is_guaranteed_with_whole_cores() -> None:
    spec = k8s_pod_spec()
    containers = [*spec.get("initContainers", []), *spec["containers"]]
    for container in containers:
        resources = container["resources"]
        requests, limits = resources["requests"], resources["limits"]
        assert set(requests) >= {"cpu", "memory"}
        assert requests == limits, f"{container['name']}: requests must equal limits for Guaranteed QoS"
        cores = _cpu_cores(requests["cpu"])
        assert cores.denominator == 1 and cores >= 1, "the static CPU manager gives exclusive cores to whole CPUs"


def test_k8s_job_selects_nodes_by_cpu_feature_and_keeps_one_per_node() -> None:
    spec = k8s_pod_spec()
    keys = set(spec.get("nodeSelector", {}))
    node_affinity = spec.get("affinity", {}).get("nodeAffinity", {})
    for term in node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution", {}).get("nodeSelectorTerms", []):
        keys |= {e["key"] for e in term.get("matchExpressions", [])}
    assert any(k.startswith(NFD_CPUID_PREFIX) for k in keys), "select nodes by a Node Feature Discovery cpuid label"
    (anti,) = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    pod_labels = k8s_job()["spec"]["template"]["metadata"]["labels"]
    assert anti["labelSelector"]["matchLabels"].items() <= pod_labels.items(), "the rule must match effbench's pods"


def test_k8s_job_runs_the_suite_from_a_read_only_bundle_into_a_results_volume() -> None:
    spec = k8s_pod_spec()
    (container,) = spec["containers"]
    (run,) = [c for c in k8s_calls() if c.subcommand == "run"]
    bundle_dir = run.flag_value("--bundle")
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    bundle_mount = mounts[bundle_dir]
    assert bundle_mount["readOnly"] is True
    bundle_volume = volumes[bundle_mount["name"]]
    assert bundle_volume["persistentVolumeClaim"]["readOnly"] is True
    output = run.flag_value("--output") or ""
    results_mount = next(m for path, m in mounts.items() if output.startswith(path + "/"))
    assert not results_mount.get("readOnly", False)
    assert "persistentVolumeClaim" in volumes[results_mount["name"]]
    assert run.flag_value("--suite") and run.flag_value("--cpus")


def test_k8s_script_pins_to_a_cpu_of_the_pod(tmp_path: Path) -> None:
    (container,) = k8s_pod_spec()["containers"]
    bin_dir = fake_bin(tmp_path)
    log = tmp_path / "calls.jsonl"
    env = {e["name"]: str(e.get("value", "node-a")) for e in container.get("env", [])}
    env.update(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", FAKE_LOG=str(log))
    done = subprocess.run(["sh", "-c", k8s_script(container)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c[0] for c in calls] == ["system", "run"]
    allowed = {str(c) for c in os.sched_getaffinity(0)}
    for call in calls:
        assert call[call.index("--cpus") + 1] in allowed
