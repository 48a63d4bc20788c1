"""The load balancer stand-in's HAProxy on loopback: a droplet gets traffic only as DigitalOcean would send it.

DigitalOcean's load balancer sends a droplet requests only once it passed
`healthy_threshold` consecutive health checks, and a change to its droplets
leaves the others' health as it was. Here the stand-in's own HAProxy runs
on 127.0.0.1 over tiny HTTP servers on other loopback addresses: A answers
200, B answers 503 to everything, C (answering 200) joins by a reload, and
D joins and leaves by more reloads, while clients send requests all along.
Nothing here leaves loopback, and every wait is bounded.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Interface
from pathlib import Path

import pytest

from localcloud import balancer
from tests.support.services import require_tool

INTERVAL, RISE, FALL = 1, 2, 3
CHECK_PATH = "/healthz"
ENTRY = IPv4Interface("127.0.0.1/8")
HOSTS = {"A": ("127.0.0.2", 200), "B": ("127.0.0.3", 503), "C": ("127.0.0.4", 200), "D": ("127.0.0.5", 200)}
CLIENTS = 4
RELOADS_WITH_D = 4
RELOAD_GAP = 0.3
SETTLED_AFTER = 6
"""Requests answered 200 in a row that show A is in the pool and B out of it."""


@dataclass(frozen=True)
class Hit:
    at: float
    path: str
    status: int


class _Handler(BaseHTTPRequestHandler):
    server: _Backend

    def do_GET(self) -> None:
        status = self.server.status
        self.server.hits.append(Hit(time.monotonic(), self.path, status))
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(self.server.label.encode() + b"\n")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        """Quiet: the hits are the log."""


class _Backend(ThreadingHTTPServer):
    """A droplet's stand-in: one status for every request, each request noted."""

    daemon_threads = True

    def __init__(self, label: str, host: str, port: int, status: int) -> None:
        super().__init__((host, port), _Handler)
        self.label, self.status = label, status
        self.hits: list[Hit] = []

    def handle_error(self, request: object, client_address: object) -> None:
        """HAProxy closes a check's connection as soon as it read the status: not an error."""

    def requests(self) -> list[Hit]:
        return [hit for hit in self.hits if hit.path != CHECK_PATH]

    def passed_checks(self) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == CHECK_PATH and hit.status == 200]


@dataclass
class Scenario:
    backends: dict[str, _Backend]
    answers: list[tuple[float, str]] = field(default_factory=list)
    first_reload: float = 0.0


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _ask(port: int) -> str:
    """One visitor's request through the balancer: the status, or the error that stood for it."""
    connection = http.client.HTTPConnection(str(ENTRY.ip), port, timeout=5)
    try:
        connection.request("GET", "/", headers={"Connection": "close"})
        return str(connection.getresponse().status)
    except (OSError, http.client.HTTPException) as error:
        return repr(error)
    finally:
        connection.close()


def _visitors(port: int, answers: list[tuple[float, str]], stop: threading.Event) -> None:
    while not stop.is_set():
        answers.append((time.monotonic(), _ask(port)))


def _wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout}s")
        time.sleep(0.1)


def _haproxy_pid(directory: Path) -> int:
    return int((directory / balancer.PID_FILE).read_text().split()[0])


def _end(pids: set[int], timeout: float = 10) -> None:
    """Stop the HAProxy processes this test started that still run, soft-stopping old ones included."""
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == "haproxy":
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    require_tool("haproxy")
    target = _free_port(HOSTS["A"][0])
    entry = _free_port(str(ENTRY.ip))
    backends = {label: _Backend(label, host, target, status) for label, (host, status) in HOSTS.items()}
    for backend in backends.values():
        threading.Thread(target=backend.serve_forever, daemon=True).start()
    spec = balancer.spec_from_inputs("t", {
        "name": "lb", "dropletTag": "t-web",
        "forwardingRules": [{"entryPort": entry, "entryProtocol": "http", "targetPort": target,
                             "targetProtocol": "http"}],
        "healthcheck": {"protocol": "http", "port": target, "path": CHECK_PATH, "checkIntervalSeconds": INTERVAL,
                        "responseTimeoutSeconds": 1, "healthyThreshold": RISE, "unhealthyThreshold": FALL},
    })
    directory = tmp_path_factory.mktemp("lb")
    pool = [balancer.Server(label, HOSTS[label][0]) for label in ("A", "B")]
    with_c = [*pool, balancer.Server("C", HOSTS["C"][0])]
    with_d = [*with_c, balancer.Server("D", HOSTS["D"][0])]
    pids: set[int] = set()
    stop = threading.Event()
    visitors: list[threading.Thread] = []
    result = Scenario(backends)
    try:
        assert balancer.run_haproxy(spec, ENTRY, pool, directory, ())
        pids.add(_haproxy_pid(directory))
        streak: list[str] = []

        def settled() -> bool:
            streak.append(_ask(entry))
            return streak[-SETTLED_AFTER:] == ["200"] * SETTLED_AFTER

        _wait(settled, (RISE + FALL + 3) * INTERVAL, "A alone in the pool")
        visitors = [
            threading.Thread(target=_visitors, args=(entry, result.answers, stop), daemon=True) for _ in range(CLIENTS)
        ]
        for thread in visitors:
            thread.start()
        time.sleep(RELOAD_GAP)
        result.first_reload = time.monotonic()
        assert balancer.run_haproxy(spec, ENTRY, with_c, directory, ())
        pids.add(_haproxy_pid(directory))
        for servers in [with_d, with_c] * (RELOADS_WITH_D // 2):
            time.sleep(RELOAD_GAP)
            assert balancer.run_haproxy(spec, ENTRY, servers, directory, ())
            pids.add(_haproxy_pid(directory))
        _wait(lambda: backends["C"].requests(), (RISE + 3) * INTERVAL, "C in the pool")
        time.sleep(RELOAD_GAP)
    finally:
        stop.set()
        for thread in visitors:
            thread.join(timeout=10)
        _end(pids)
        for backend in backends.values():
            backend.shutdown()
            backend.server_close()
    yield result


def test_a_server_gets_no_request_before_rise_checks_passed(scenario: Scenario) -> None:
    """A at the start, C and D added by reloads: each one's first request after its `rise`-th passing check."""
    for label in ("A", "C", "D"):
        backend = scenario.backends[label]
        requests = backend.requests()
        if not requests:
            continue
        passed = [hit for hit in backend.passed_checks() if hit.at < requests[0].at]
        assert len(passed) >= RISE, f"{label} got a request after {len(passed)} passing checks, not {RISE}"
    assert scenario.backends["C"].requests(), "C never joined the pool"
    assert not scenario.backends["B"].requests(), "B, which never passed a check, got requests"


def test_a_server_down_before_a_reload_stays_down_after_it(scenario: Scenario) -> None:
    late = [hit for hit in scenario.backends["B"].requests() if hit.at >= scenario.first_reload]
    assert not late, f"B, down before the reloads, got {len(late)} requests after them"


def test_a_server_up_before_a_reload_stays_up_across_it(scenario: Scenario) -> None:
    """A serves every visitor while C and D join (not yet up) and D leaves: no request fails."""
    during = [answer for at, answer in scenario.answers if at >= scenario.first_reload]
    failed = [answer for answer in during if answer != "200"]
    assert during, "no visitor asked during the reloads"
    assert not failed, f"{len(failed)} of {len(during)} requests failed across the reloads: {sorted(set(failed))}"
    assert [hit for hit in scenario.backends["A"].requests() if hit.at >= scenario.first_reload]
