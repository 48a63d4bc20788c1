"""The load generators' CPU cap: a cgroup with a CFS quota, v2 or v1, and a command that runs inside it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench import cap


def test_quota_lines_for_each_cgroup_version() -> None:
    assert cap.quota_line("cpu.max", 0.5) == "50000 100000\n"
    assert cap.quota_line("cpu.cfs_quota_us", 1.5) == "150000\n"


def test_v2_takes_cpu_max(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    made = cap.cap("load", 0.5, root=tmp_path)
    assert (made.path / "cpu.max").read_text() == "50000 100000\n" and made.path.parent == tmp_path


def test_an_emptied_cgroup_is_removed(tmp_path: Path) -> None:
    made = cap.CpuCap(tmp_path / "django-tiers-bench-load-1", 0.5)
    made.path.mkdir()
    made.remove()
    assert not made.path.exists()


def test_v1_takes_a_quota_and_its_period(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified" / "cgroup.controllers").write_text("\n")
    made = cap.cap("load", 0.25, root=tmp_path)
    assert made.path.parent == tmp_path / "cpu"
    assert ((made.path / "cpu.cfs_quota_us").read_text(), (made.path / "cpu.cfs_period_us").read_text()) == (
        "25000\n", "100000\n")


def test_no_controller_is_said(tmp_path: Path) -> None:
    with pytest.raises(cap.NoCpuCap, match="uncapped"):
        cap.cap("load", 0.5, root=tmp_path)


def test_the_wrapped_command_puts_itself_in_the_cgroup_then_runs(tmp_path: Path) -> None:
    made = cap.CpuCap(tmp_path, 0.5)
    done = subprocess.run([*made.wrap(["sh", "-c", "echo ran $$"])], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    pid = (tmp_path / "cgroup.procs").read_text().strip()
    assert done.stdout == f"ran {pid}\n", "the command is the process that joined the cgroup (exec, no fork)"
