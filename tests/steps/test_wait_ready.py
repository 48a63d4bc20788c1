"""wait-ready.sh against the real cloud-init command.

cloud-init reports from /run/cloud-init/{status,result}.json; each run gets a
private mount namespace whose /run/cloud-init is a scratch directory the test
fills, so the real `cloud-init status --wait` decides.
"""

from __future__ import annotations

import json
import subprocess
import threading
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


def _run(script: Path, run_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    require_tool("cloud-init")
    require_tool("unshare")
    inner = f"mount -t tmpfs tmpfs /run && mkdir /run/cloud-init && mount --bind {run_dir} /run/cloud-init && exec bash {script}"
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner],
        capture_output=True, text=True, timeout=60, env=run_env(env),
    )


def test_done_passes_twice(script: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _status(run_dir, finished=True)
    for _ in range(2):
        result = _run(script, run_dir)
        assert result.returncode == 0, result.stderr
        assert "cloud-init has finished" in result.stdout


def test_waits_while_cloud_init_runs(script: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _status(run_dir, finished=False)
    finisher = threading.Timer(1.5, _status, args=(run_dir,), kwargs={"finished": True})
    started = time.monotonic()
    finisher.start()
    result = _run(script, run_dir)
    finisher.join()
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 1.5


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
