"""`python -m localcloud cycles` and `make cycles`: the loop reached through the local cloud's one command line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from localcloud import cycles
from localcloud.__main__ import main
from localcloud.host import ROOT_MESSAGE
from localcloud.probe import Page
from localcloud.stack import NodeRow, UpResult
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


@pytest.mark.parametrize(("states", "failed"), [
    ({"box-1": ("running", ()), "db-1": ("running", ())}, []),
    ({"box-1": ("running", ()), "db-1": ("degraded", ("systemd-user-sessions.service",))},
     ["db-1: degraded (systemd-user-sessions.service)"]),
    ({"box-1": ("starting", ()), "db-1": ("running", ())}, ["box-1: starting"]),
])
def test_a_cycle_fails_when_a_node_s_boot_left_a_unit_failed(
    monkeypatch: pytest.MonkeyPatch, states: dict[str, tuple[str, tuple[str, ...]]], failed: list[str],
) -> None:
    """The site answers either way: only each node's systemd can tell that, say, ssh is refused for good."""
    nodes = tuple(NodeRow(n.split("-")[0], n, (), "10.0.0.2", f"cycle-dbsplit-{n}", "running", "") for n in states)
    downs: list[str] = []
    monkeypatch.setattr(cycles, "up", lambda stack, config, say: UpResult(stack, "http://10.0.0.2/", {}, nodes, (), 1.0))
    monkeypatch.setattr(cycles, "down", lambda stack, purge, say: downs.append(stack))
    monkeypatch.setattr(cycles, "fetch", lambda url: Page(200, {}, f"<p {cycles.SITE_MARK}>1</p>"))
    monkeypatch.setattr(cycles, "load_state", lambda machine: machine)
    monkeypatch.setattr(cycles, "system_state", lambda machine: states[machine.removeprefix("cycle-dbsplit-")])
    entry = cycles.cycle(1, "dbsplit", None)
    assert entry["units_failed"] == failed
    assert entry["ok"] is (not failed)
    assert ("error" in entry) is bool(failed) and all(f in str(entry.get("error")) for f in failed)
    assert downs == ["cycle-dbsplit"], "taken down either way"
