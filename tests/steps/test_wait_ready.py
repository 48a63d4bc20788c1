"""wait-ready.sh against the real cloud-init command.

cloud-init reports from /run/cloud-init/{status,result}.json; each run gets a
private mount namespace whose /run/cloud-init is a scratch directory the test
fills, so the real `cloud-init status --wait` decides.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from render import steps
from tests.support.services import require_tool, run_env


@pytest.fixture
def script(tmp_path: Path) -> Path:
    return steps.write_all(tmp_path)["wait-ready.sh"]


def _status(run_dir: Path, *, finished: bool, errors: list[str] | None = None) -> None:
    stage = {"errors": errors or [], "start": 100.0, "finished": 101.0 if finished else 0}
    (run_dir / "status.json").write_text(
        json.dumps({"v1": {"datasource": "DataSourceNoCloud", "init": stage, "stage": None if finished else "init"}})
    )
    if finished:
        (run_dir / "result.json").write_text(json.dumps({"v1": {"datasource": "DataSourceNoCloud", "errors": errors or []}}))


def _start(command: str, run_dir: Path) -> subprocess.Popen[str]:
    """`command` in a mount namespace whose /run/cloud-init is `run_dir`."""
    require_tool("cloud-init")
    require_tool("unshare")
    inner = f"mount -t tmpfs tmpfs /run && mkdir /run/cloud-init && mount --bind {run_dir} /run/cloud-init && exec {command}"
    return subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=run_env({}),
    )


def _run(script: Path, run_dir: Path) -> subprocess.CompletedProcess[str]:
    process = _start(f"bash {script}", run_dir)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_done_passes_twice(script: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _status(run_dir, finished=True)
    for _ in range(2):
        result = _run(script, run_dir)
        assert result.returncode == 0, result.stderr
        assert "cloud-init has finished" in result.stdout


def test_waits_while_cloud_init_runs(script: Path, tmp_path: Path) -> None:
    """The script is still waiting long after cloud-init could have answered once, and returns once cloud-init is done.

    How long one answer takes is measured here, so a slow machine lengthens the wait instead of failing it.
    """
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _status(run_dir, finished=False)
    started = time.monotonic()
    probe = _start("cloud-init status", run_dir)
    assert "running" in probe.communicate(timeout=60)[0]
    patience = max(1.5, 3 * (time.monotonic() - started))
    waiting = _start(f"bash {script}", run_dir)
    try:
        try:
            waiting.wait(timeout=patience)
        except subprocess.TimeoutExpired:
            pass
        else:
            pytest.fail(f"wait-ready returned within {patience:.1f}s while cloud-init still ran: {waiting.communicate()}")
        _status(run_dir, finished=True)
        stdout, stderr = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 0, stderr
    assert "cloud-init has finished" in stdout


def test_errors_fail(script: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _status(run_dir, finished=True, errors=["('scripts_user', RuntimeError('boom'))"])
    result = _run(script, run_dir)
    assert result.returncode == 1
    assert "cloud-init failed" in result.stderr
    assert "boom" in result.stderr


def test_recoverable_errors_are_accepted_with_a_warning(script: Path, tmp_path: Path) -> None:
    """cloud-init >= 23.4 exits 2 for recoverable errors; 22.4 cannot, so a stand-in reports it."""
    stand_in = tmp_path / "cloud-init"
    stand_in.write_text('#!/bin/sh\n[ "$2" = --wait ] && exit 2\necho "status: done (recoverable errors)"\n')
    stand_in.chmod(0o755)
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=run_env({"CLOUD_INIT": str(stand_in)}))
    assert result.returncode == 0, result.stderr
    assert "warning: cloud-init finished with recoverable errors" in result.stdout
