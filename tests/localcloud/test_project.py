"""Projects other than the demo, and releases that fail, on the local cloud.

A small project written for the tests (tests/project: manifest storage,
`{% static %}` on every page) serves every page through the entry on split
and on pool. The demo with a template that raises stops its rollout at the
first app node, which serves the previous release again, while visitors
never see a 5xx. `make manage` runs a command on the first app node and
passes its exit status through.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud.machine import load_state, run_in
from localcloud.probe import fetch, finish_load, start_load
from localcloud.stack import UpResult, apply_sets, down, stack_dir, up
from localcloud.state import StackState
from model import paths
from model.project import ROOT, stack_config
from sim.resources import COMMAND
from tests.support.services import require_local_cloud

pytestmark = pytest.mark.localcloud

TOOLS = ("systemd-nspawn", "nsenter", "ip", "nft", "haproxy", "ssh", "curl", "mount", "debootstrap", "make")
PROJECT = ROOT / "tests" / "project"
PAGES = ("/", "/about/", "/notes/")
OWN_APP = {"source": str(PROJECT), "settings": "minisite.settings", "wsgi": "minisite.wsgi:application",
           "smokePaths": list(PAGES)}
LAYOUTS = {"split": ("tiers.app.count=2",), "pool": ("tiers.web.count=2", "tiers.app.count=2")}
ROLLBACK_STACK = "lctroll"
STEP_DATA_LIMIT = 64 * 1024
HASHED = re.compile(r'(?:href|src)="(/static/minisite/[a-z]+\.[0-9a-f]{12}\.[a-z]+)"')


@pytest.fixture(scope="module", autouse=True)
def _requirements() -> None:
    require_local_cloud(TOOLS)


def _up(stack: str, config: dict[str, object]) -> UpResult:
    result = up(stack, config=config, say=lambda line: print(f"  {stack}: {line}"))
    print(f"{stack}: up in {result.seconds}s, site {result.url}")
    return result


def _wait_serving(url: str, timeout: float = 120) -> None:
    """The entry answers /healthz with 200: a load balancer passes a node only after a few health checks."""
    deadline = time.monotonic() + timeout
    while (status := fetch(url + "healthz").status) != 200:
        assert time.monotonic() < deadline, f"{url}healthz still answers {status}"
        time.sleep(2)


def _current(result: UpResult, node: str) -> str:
    machine = load_state(next(row.machine for row in result.nodes if row.name == node))
    assert machine is not None
    return run_in(machine, ["readlink", paths.CURRENT_LINK]).stdout.decode().strip()


def _largest_step_output(stack: str) -> int:
    """The largest stdout or stderr a step left in the stack's state, as the real steps printed them."""
    sizes = [
        len(str(record.outputs.get(key, "")).encode())
        for record in StackState(stack_dir(stack) / "state.json").of_type(COMMAND)
        for key in ("stdout", "stderr")
    ]
    assert sizes, "no step output was read from the state"
    return max(sizes)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_own_project_serves_every_page_through_the_entry(layout: str) -> None:
    stack = f"lctown{layout}"
    try:
        config = apply_sets({**stack_config(layout), "app": OWN_APP}, LAYOUTS[layout])
        result = _up(stack, config)
        _wait_serving(result.url)
        for page in PAGES:
            answer = fetch(result.url + page.lstrip("/"))
            assert answer.status == 200, f"{page}: {answer.status} {answer.body[:300]}"
            linked = HASHED.findall(answer.body)
            assert len(linked) >= 2, f"{page} links no content-hashed static file: {answer.body[:300]}"
            for url in linked:
                static = fetch(result.url + url.lstrip("/"))
                assert static.status == 200, url
                assert static.headers["cache-control"] == "public, max-age=31536000, immutable", url
        for row in result.nodes:
            if "app" in row.roles:
                machine = load_state(row.machine)
                assert machine is not None
                manifest = f"{_current(result, row.name)}/{paths.RELEASE_STATIC}/staticfiles.json"
                assert run_in(machine, ["test", "-f", manifest], check=False).returncode == 0, row.name
        assert _largest_step_output(stack) <= STEP_DATA_LIMIT
    finally:
        down(stack, purge=True, say=lambda line: None)


ROLLBACK_CONFIG = apply_sets(stack_config("split"), ("tiers.app.count=2",))


@pytest.fixture(scope="module")
def rollback_stack() -> Iterator[UpResult]:
    """The demo on split with two app nodes, serving."""
    try:
        yield _up(ROLLBACK_STACK, ROLLBACK_CONFIG)
    finally:
        down(ROLLBACK_STACK, purge=True, say=lambda line: None)


def _broken_demo(directory: Path) -> Path:
    """The demo whose page raises when it renders: its template names a static file the manifest lacks."""
    source = directory / "demo"
    shutil.copytree(ROOT / "demo", source, ignore=shutil.ignore_patterns("__pycache__"))
    template = source / "counter" / "templates" / "counter" / "index.html"
    template.write_text(template.read_text().replace("{% static 'counter/site.css' %}", "{% static 'counter/gone.css' %}"))
    return source


def test_a_release_that_fails_its_page_stops_at_the_first_app_node(rollback_stack: UpResult, tmp_path: Path) -> None:
    good = rollback_stack
    _wait_serving(good.url)
    before = {node: _current(good, node) for node in ("app-1", "app-2")}
    assert len(set(before.values())) == 1

    load = start_load(good.url, seconds=600, rate=10)
    try:
        with pytest.raises(Exception) as failed:
            _up(ROLLBACK_STACK, {**ROLLBACK_CONFIG, "app": {"source": str(_broken_demo(tmp_path))}})
    finally:
        counts = finish_load(load, early=True)
    print(f"requests during the failed rollout: {counts}")
    message = str(failed.value)
    assert re.search(r"GET / \(Host: [0-9.]+\) answered 500 on release [0-9a-f]{16}", message), message
    assert "switched back to release" in message and "Missing staticfiles manifest entry" in message
    assert counts["ok"] > 0
    assert not {s for s in counts["statuses"] if s.startswith("5")}, counts
    assert counts["failed"] == 0, counts
    after = {node: _current(good, node) for node in ("app-1", "app-2")}
    assert after == before, "app-1 serves the previous release again; app-2 was never touched"
    assert fetch(good.url).status == 200


def test_make_manage_runs_on_the_first_app_node_and_passes_its_status(rollback_stack: UpResult) -> None:
    """`make manage` as a user types it, on a serving stack."""
    def manage(arguments: str) -> subprocess.CompletedProcess[str]:
        # -o: the virtualenv this test runs in is the one make would make.
        return subprocess.run(["make", "-s", "-o", "venv/.installed", "manage", f"STACK={ROLLBACK_STACK}",
                               f"ARGS={arguments}"],
                              cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)

    checked = manage("migrate --check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    shown = manage("showmigrations counter")
    assert shown.returncode == 0 and "[X] 0001_initial" in shown.stdout, shown.stdout + shown.stderr
    refused = manage("check --tag no-such-tag")
    assert refused.returncode != 0
    assert 'There is no system check with the "no-such-tag" tag' in refused.stderr
    exact = subprocess.run([sys.executable, "-m", "localcloud", "manage", ROLLBACK_STACK, "--", "check", "--tag", "x"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert exact.returncode == 1, "Django's own exit status, not make's"
