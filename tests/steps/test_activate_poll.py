"""app-activate.sh notices a restarted app soon after it answers: the nodes switch one after another.

The app is a stand-in HTTP server on loopback that answers its health
check with 503 a few times (workers still booting) and 200 after; the
service manager does nothing.
"""

from __future__ import annotations

import shutil
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

RELEASE = "r0123456789abcde"
BOOTING_PROBES = 6


class App(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.health_probes = 0


class Handler(BaseHTTPRequestHandler):
    server: App

    def do_GET(self) -> None:
        if self.path == HEALTH_PATH:
            self.server.health_probes += 1
            status = 503 if self.server.health_probes <= BOOTING_PROBES else 200
        else:
            status = 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def app() -> Iterator[App]:
    server = App()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_booting_app_is_seen_healthy_within_a_fraction_of_a_second_per_probe(tmp_path: Path, app: App) -> None:
    require_tool("curl")
    releases, state = tmp_path / "releases", tmp_path / "state"
    (releases / RELEASE).mkdir(parents=True)
    (releases / RELEASE / steps.INSTALLED_MARK).touch()
    state.mkdir(mode=0o700)
    (tmp_path / "app.env").write_text("SECRET_KEY=x\n")
    script = steps.write_all(tmp_path)["app-activate.sh"]
    env = run_env({
        "RELEASE": RELEASE, "RELEASES_DIR": str(releases), "CURRENT_LINK": str(tmp_path / "current"),
        "STATE_FILE": str(state / "activated"), "APP_ENV_FILE": str(tmp_path / "app.env"),
        "SERVICE_CTL": shutil.which("true") or "/bin/true", "APP_HOST": "127.0.0.1",
        "APP_PORT": str(app.server_address[1]), "HEALTH_TIMEOUT": "30", "SMOKE_PATHS": "/",
    })
    started = time.monotonic()
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert app.health_probes == BOOTING_PROBES + 1
    # One second between probes made it 6 s; each node of the rollout waits its turn for this.
    assert took < BOOTING_PROBES * 0.75, f"{took:.1f}s for {BOOTING_PROBES} probes of a booting app"
