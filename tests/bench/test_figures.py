"""The figures' load as started: which cgroup each generator runs in, seen through a fake runner."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import figures, site
from localcloud import limits
from localcloud.stack import NodeRow

WRK_SUMMARY = "  100 requests in 8.00s, 1.00MB read\nRequests/sec:     12.50\n"
ROWS = (NodeRow("box", "box-1", ("web", "app", "cache", "db"), "10.10.0.2", "dt-box-1", "running", ""),)


class _Started:
    """Every command the bench starts, by the program it comes to run (after the cgroup join and the namespace)."""

    def __init__(self) -> None:
        self.argvs: dict[str, list[list[str]]] = {}

    def note(self, argv: list[str]) -> None:
        program = next(a for a in argv if a in ("wrk", "slowhttptest"))
        self.argvs.setdefault(program, []).append(argv)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> _Started:
    """wrk answered with a sample summary, slowhttptest left running; no server, no machine, no wait."""
    seen = _Started()

    def run(argv: list[str], **_: object) -> subprocess.CompletedProcess[bytes]:
        seen.note(argv)
        return subprocess.CompletedProcess(argv, 0, WRK_SUMMARY.encode(), b"")

    class Popen:
        def __init__(self, argv: list[str], **_: object) -> None:
            seen.note(argv)

        def poll(self) -> None:
            return None

        def terminate(self) -> None:
            return None

        def wait(self, timeout: float) -> int:
            return 0

    monkeypatch.setattr(site, "run", run)
    monkeypatch.setattr(site, "subprocess", SimpleNamespace(Popen=Popen, DEVNULL=subprocess.DEVNULL))
    monkeypatch.setattr(site, "time", SimpleNamespace(sleep=lambda seconds: None))
    monkeypatch.setattr(figures, "machine_of", lambda row: SimpleNamespace(leader=4242))
    monkeypatch.setattr(figures, "DirectGunicorn", contextlib.nullcontext)
    return seen


def test_the_slow_clients_run_in_a_cgroup_apart_from_wrks(started: _Started, tmp_path: Path) -> None:
    """Sharing wrk's cgroup, the slow clients would take part of wrk's quota: the ratio would measure the generator."""
    wrk_cgroups, slow_cgroups = (tmp_path / "bench-wrk" / "cgroup.procs",), (tmp_path / "bench-slow" / "cgroup.procs",)
    load = site.Load(8, 16, wrk_cgroups, slow_cgroups)
    figures.slow_clients(ROWS, "http://10.10.0.2/", load, 1, lambda line: None)
    assert len(started.argvs["wrk"]) == 3 * 2 * 2 and len(started.argvs["slowhttptest"]) == 2 * 2
    for program, cgroups in (("wrk", wrk_cgroups), ("slowhttptest", slow_cgroups)):
        joined = limits.join_argv(cgroups, [])
        assert all(argv[:len(joined)] == joined for argv in started.argvs[program]), f"{program} runs in {cgroups}"
