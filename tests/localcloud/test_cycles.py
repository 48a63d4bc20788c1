"""`python -m localcloud cycles` and `make cycles`: the loop reached through the local cloud's one command line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from localcloud import cycles
from localcloud.__main__ import main
from localcloud.host import ROOT_MESSAGE
from model.project import ROOT
from tests.support.services import require_tool


@pytest.fixture
def loops(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    """The cycles the command line asks for, recorded instead of run; the first run fails one."""
    asked: list[tuple[object, ...]] = []

    def run(count: int, layouts: list[str], log: Path, lock: Path | None) -> int:
        asked.append((count, tuple(layouts), log, lock))
        return 1 if len(asked) == 1 else 0

    monkeypatch.setattr(cycles, "run", run)
    return asked


def test_cycles_refuses_without_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], loops: list[tuple[object, ...]],
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["cycles", "--count", "1"]) == 2
    assert capsys.readouterr().err.strip() == ROOT_MESSAGE
    assert not loops


def test_cycles_passes_its_arguments_to_the_loop_and_fails_when_a_cycle_did(
    monkeypatch: pytest.MonkeyPatch, loops: list[tuple[object, ...]],
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert main(["cycles", "--count", "3", "--log", "build/x.log", "--lock", "/run/lock/cloud"]) == 1
    assert main(["cycles", "--layouts", "onebox,pool"]) == 0
    assert loops == [
        (3, cycles.LAYOUTS, Path("build/x.log"), Path("/run/lock/cloud")),
        (20, ("onebox", "pool"), Path("build/cycles.log"), None),
    ]


@pytest.mark.parametrize(("variables", "command"), [
    ([], "venv/bin/python -m localcloud cycles --count 20"),
    (["COUNT=3", "LOG=build/x.log", "LOCK=/run/lock/cloud"],
     "venv/bin/python -m localcloud cycles --count 3 --log build/x.log --lock /run/lock/cloud"),
])
def test_make_cycles_runs_the_subcommand(variables: list[str], command: str) -> None:
    make = require_tool("make")
    # -n prints what make would run; -o: neither the packages nor the virtualenv are made for it.
    # Under `make test` this make is a sub-make: without --no-print-directory it would also print
    # "Entering directory", and the caller's MAKEFLAGS would be its own.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    shown = subprocess.run([make, "--no-print-directory", "-n", "-o", "system-deps", "-o", "venv/.installed", "cycles",
                            *variables], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == command.split()


def test_the_host_cpu_share_is_the_busy_ticks_over_all(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    #                 user nice system idle iowait irq softirq steal
    stat.write_text("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
    before = cycles.host_cpu(stat)
    assert before == (150, 1000)
    stat.write_text("cpu  250 0 100 850 100 0 0 0 0 0\n")
    assert cycles.busy_share(before, cycles.host_cpu(stat)) == 0.67, "200 busy ticks of 300"
    assert cycles.busy_share(before, before) == 0.0
