"""site-ready.sh against a real HTTP server on loopback: it waits for the site's own health check, in a row."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from model.paths import HEALTH_PATH
from render import steps
from tests.support.services import require_tool, run_env

STOCK_PAGE = b"<h1>Welcome to nginx!</h1>"


class Entry(ThreadingHTTPServer):
    """A public entry that fails its first `failing` health checks (a balancer whose checks have not passed yet)."""

    def __init__(self, failing: int, stock_only: bool = False):
        super().__init__(("127.0.0.1", 0), Handler)
        self.failing = failing
        self.stock_only = stock_only
        self.requests: list[str] = []


class Handler(BaseHTTPRequestHandler):
    server: Entry

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        if self.server.stock_only:
            status, body = (200, STOCK_PAGE) if self.path == "/" else (404, b"not found")
        elif len(self.server.requests) <= self.server.failing:
            status, body = 503, b"no server is available to handle this request"
        else:
            status, body = 200, b'{"status": "ok"}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def _serve(entry: Entry) -> Iterator[Entry]:
    thread = threading.Thread(target=entry.serve_forever, daemon=True)
    thread.start()
    yield entry
    entry.shutdown()
    entry.server_close()


@pytest.fixture
def waking() -> Iterator[Entry]:
    yield from _serve(Entry(failing=2))


@pytest.fixture
def stock() -> Iterator[Entry]:
    yield from _serve(Entry(failing=0, stock_only=True))


def _run(tmp_path: Path, entry: Entry, **env: str) -> subprocess.CompletedProcess[str]:
    require_tool("curl")
    script = steps.write_all(tmp_path)["site-ready.sh"]
    url = f"http://127.0.0.1:{entry.server_address[1]}/"
    settings = {"URL": url, "RELEASE": "abc123", "UPSTREAMS": "10.0.0.3:8000", **env}
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, env=run_env(settings), timeout=60)


def test_waits_for_the_health_check_to_pass_three_times_in_a_row(tmp_path: Path, waking: Entry) -> None:
    for _ in range(2):
        result = _run(tmp_path, waking)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith("serves the site: release abc123, app servers 10.0.0.3:8000")
    assert waking.requests[:5] == [HEALTH_PATH] * 5, "two refusals, then three answers in a row"
    assert len(waking.requests) == 8


def test_the_stock_welcome_page_is_not_the_site(tmp_path: Path, stock: Entry) -> None:
    result = _run(tmp_path, stock, TIMEOUT="2")
    assert result.returncode == 1
    assert "did not answer 200 3 times in a row within 2s; last answer: 404 not found" in result.stderr


def test_a_name_is_pinned_to_the_entry(tmp_path: Path, waking: Entry) -> None:
    port = waking.server_address[1]
    result = _run(tmp_path, waking, URL=f"http://www.example.test:{port}/", RESOLVE=f"www.example.test:{port}:127.0.0.1")
    assert result.returncode == 0, result.stderr


def test_returns_soon_after_the_entry_serves(tmp_path: Path) -> None:
    """`up` ends with this wait: one second between answers made it 6 s here, after the entry had served for 2."""
    for entry in _serve(Entry(failing=4)):
        started = time.monotonic()
        result = _run(tmp_path, entry)
        took = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert len(entry.requests) == 4 + 3
        assert took < 4.5, f"{took:.1f}s"
