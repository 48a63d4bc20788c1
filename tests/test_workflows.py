"""The GitHub workflows: actionlint passes on them, and they preview, comment and deploy as the README says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from model.project import ROOT
from tests.support.services import missing, require_tool

WORKFLOWS = ROOT / ".github" / "workflows"
DEPLOYED_STACKS = ROOT / ".github" / "actions" / "deployed-stacks" / "action.yml"
PULUMI_ACTION = "pulumi/actions@"


def actionlint() -> str:
    """actionlint from the test virtualenv (its PyPI wrapper puts it beside the interpreter), or from PATH."""
    found = shutil.which("actionlint", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        missing("actionlint is not installed (pip install -r requirements-dev.txt)")
    return found


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    """actionlint on both workflows under `root`, with ShellCheck on every `run:` script."""
    files = [str(root / ".github" / "workflows" / name) for name in ("preview.yml", "deploy.yml")]
    return subprocess.run(
        [actionlint(), "-no-color", "-shellcheck", require_tool("shellcheck"), *files], cwd=root, capture_output=True, text=True,
    )


def test_actionlint_passes_on_both_workflows():
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_fails_on_a_broken_workflow(tmp_path):
    shutil.copytree(ROOT / ".github", tmp_path / ".github")
    preview = tmp_path / ".github" / "workflows" / "preview.yml"
    preview.write_text(preview.read_text().replace('BASE="origin/$GITHUB_BASE_REF"', "BASE=origin/$GITHUB_BASE_REF", 1))
    deploy = tmp_path / ".github" / "workflows" / "deploy.yml"
    deploy.write_text(deploy.read_text().replace("environment: ${{ matrix.stack }}", "environment: ${{ matrix.stak }}"))
    done = lint(tmp_path)
    assert done.returncode == 1
    assert "SC2086" in done.stdout and 'property "stak" is not defined' in done.stdout


def workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True)
    return data


def pulumi_step(job: dict) -> dict:
    (step,) = [s for s in job["steps"] if s.get("uses", "").startswith(PULUMI_ACTION)]
    return step["with"]


def test_a_pull_request_gets_the_offline_diff_and_a_preview_per_deployed_stack_each_in_one_edited_comment():
    preview = workflow("preview.yml")
    assert "pull_request" in preview["on"]
    assert any("make diff BASE=" in s.get("run", "") for s in preview["jobs"]["offline-diff"]["steps"])
    job = preview["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    step = pulumi_step(job)
    assert (step["command"], step["comment-on-pr"], step["edit-pr-comment"], step["policyPacks"]) == ("preview", True, True, "policy")
    assert "matrix.stack" in step["stack-name"]


def test_main_deploys_each_deployed_stack_behind_its_environment():
    deploy = workflow("deploy.yml")
    assert deploy["on"] == {"push": {"branches": ["main"]}}
    job = deploy["jobs"]["up"]
    assert job["environment"] == "${{ matrix.stack }}"
    assert job["concurrency"]["cancel-in-progress"] is False
    step = pulumi_step(job)
    assert (step["command"], step["policyPacks"]) == ("up", "policy")


def test_every_action_is_pinned_to_a_commit_and_every_secret_is_named_in_the_readme():
    texts = [p.read_text() for p in sorted(WORKFLOWS.glob("*.yml"))]
    uses = [u for text in texts for u in re.findall(r"uses: (\S+)", text) if not u.startswith("./")]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses), uses
    readme = (ROOT / "README.md").read_text()
    secrets = {s for text in texts for s in re.findall(r"secrets\.(\w+)", text)}
    assert secrets and all(f"`{s}`" in readme for s in secrets)


def _run_deployed_stacks(workdir: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    """The composite action's script, run as the runner runs it, in `workdir`: (the run, what it wrote as outputs)."""
    (step,) = yaml.safe_load(DEPLOYED_STACKS.read_text())["runs"]["steps"]
    script = workdir / "deployed-stacks.sh"
    script.write_text(step["run"])
    outputs = workdir / "outputs"
    outputs.touch()
    done = subprocess.run(
        ["bash", str(script)], cwd=workdir, capture_output=True, text=True, env={**os.environ, "GITHUB_OUTPUT": str(outputs)},
    )
    return done, outputs.read_text()


def test_the_deployed_stacks_script_passes_shellcheck(tmp_path):
    (step,) = yaml.safe_load(DEPLOYED_STACKS.read_text())["runs"]["steps"]
    script = tmp_path / "deployed-stacks.sh"
    script.write_text("#!/usr/bin/env bash\n" + step["run"])
    done = subprocess.run([require_tool("shellcheck"), str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_every_stack_the_repository_marks_deployed_has_its_stack_file(tmp_path):
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    done, outputs = _run_deployed_stacks(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.fullmatch(r'stacks=\[("[\w.-]+"(,"[\w.-]+")*)?\]\n', outputs)


@pytest.mark.parametrize(
    ("listed", "expected"),
    [("# deployed\n\npool\nsplit\n", 'stacks=["pool","split"]\n'), ("# none yet\n", "stacks=[]\n")],
)
def test_the_deployed_stacks_become_the_jobs_matrix(tmp_path, listed, expected):
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "deployed.txt").write_text(listed)
    for name in ("pool", "split", "onebox"):
        (tmp_path / "stacks" / f"Pulumi.{name}.yaml").write_text("config: {}\n")
    done, outputs = _run_deployed_stacks(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert outputs == expected


@pytest.mark.parametrize(("listed", "says"), [("pool\nnosuch\n", "nosuch is listed as deployed"), ("pool split\n", "is not a stack name")])
def test_a_bad_deployed_stacks_list_stops_the_workflow_with_one_error(tmp_path, listed, says):
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "deployed.txt").write_text(listed)
    (tmp_path / "stacks" / "Pulumi.pool.yaml").write_text("config: {}\n")
    done, outputs = _run_deployed_stacks(tmp_path)
    assert done.returncode == 1 and outputs == ""
    assert done.stdout.count("::error") == 1 and says in done.stdout
