"""A running local stack as the bench sees it: where to send load from, and the extra servers it compares with.

Load goes only to loopback or to the local cloud's own machines: from the
"internet" namespace to the public entry, or from inside a node's network
namespace to that node's loopback. Every load generator runs for a bounded
time, in a cgroup with a CPU quota and no memory limit (localcloud.limits).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench import wrk
from localcloud import limits
from localcloud.host import run
from localcloud.machine import MachineState, load_state, run_in
from localcloud.network import INTERNET_NETNS
from localcloud.stack import NodeRow
from model import paths

BARE_PORT = 8081
DIRECT_PORT = 8001
BENCH_DIR = "/run/django-tiers-bench"
BARE_PID = f"{BENCH_DIR}/bare-nginx.pid"
BARE_CONF = f"{BENCH_DIR}/bare-nginx.conf"
DIRECT_UNIT = "django-tiers-bench-gunicorn"
SHIM = Path(__file__).with_name("gunicorn_shim.py")
STATIC_PATH = "/static/counter/site.css"
APP_UNIT_FILE = f"/etc/systemd/system/{paths.APP_UNIT}"
DEFAULT_WORKERS = 2


class BenchError(RuntimeError):
    """A load generator or a server the bench started did not do what it should."""


@dataclass(frozen=True)
class Place:
    """Where load starts: the internet namespace (None) or a machine's network namespace.

    The CPU cap wraps this, not the other way round: `ip netns exec` mounts
    a sysfs of its own, where the host's cgroups are not to be found.
    """

    machine: MachineState | None

    def argv(self, argv: list[str]) -> list[str]:
        if self.machine is None:
            return ["ip", "netns", "exec", INTERNET_NETNS, *argv]
        return ["nsenter", "-t", str(self.machine.leader), "-n", *argv]


INTERNET = Place(None)


@dataclass(frozen=True)
class Load:
    """How hard and how long each wrk run pushes, and the cgroups (cgroup.procs files) wrk and the slow clients are capped in."""

    seconds: int
    connections: int
    wrk_cgroups: tuple[Path, ...]
    slow_cgroups: tuple[Path, ...]


@contextmanager
def capped_load(seconds: int, connections: int, cores: float) -> Iterator[Load]:
    """A Load whose wrk and whose slow clients each run in a cgroup of their own, both with a quota of `cores` CPUs.

    Apart, so the slow clients take none of wrk's CPU: wrk has the same
    share alone and beside them, and a ratio of the two measures the server.
    The cgroups are removed afterwards.
    """
    made: list[tuple[Path, ...]] = []
    try:
        for generator in ("wrk", "slow"):
            made.append(limits.create(f"bench-{os.getpid()}-{generator}", limits.Limits(cores)))
        wrk_cgroups, slow_cgroups = made
        yield Load(seconds, connections, wrk_cgroups, slow_cgroups)
    finally:
        for cgroups in made:
            limits.remove(cgroups)


def run_wrk(place: Place, load: Load, url: str, host: str | None = None, script: Path | None = None) -> wrk.WrkResult:
    argv = wrk.wrk_argv(url, load.seconds, load.connections, script=str(script) if script else None)
    if host:
        argv[1:1] = ["-H", f"Host: {host}"]
    done = run(limits.join_argv(load.wrk_cgroups, place.argv(argv)), check=False, timeout=load.seconds + 60)
    if done.returncode != 0:
        raise BenchError(f"wrk {url} exited {done.returncode}: {done.stderr.decode(errors='replace')[-400:]}")
    return wrk.parse(done.stdout.decode(errors="replace"))


class SlowClients:
    """slowhttptest holding slow connections open while wrk measures, stopped (and waited for) afterwards.

    It runs in `cgroups`, the load's slow-client cgroups, not wrk's.
    """

    def __init__(self, place: Place, cgroups: tuple[Path, ...], kind: str, url: str, connections: int, seconds: int):
        argv = wrk.slowhttptest_argv(kind, url, connections, seconds)
        self.proc = subprocess.Popen(limits.join_argv(cgroups, place.argv(argv)), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __enter__(self) -> SlowClients:
        time.sleep(4)  # slowhttptest opens its connections at `-r` a second: let them all be there
        if self.proc.poll() is not None:
            raise BenchError(f"slowhttptest exited at once ({self.proc.returncode})")
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


def machine_of(row: NodeRow) -> MachineState:
    state = load_state(row.machine)
    if state is None:
        raise BenchError(f"{row.name}: its machine {row.machine} is not running")
    return state


def first_with(rows: tuple[NodeRow, ...], role: str) -> NodeRow:
    return next(r for r in rows if role in r.roles)


def entry_host(url: str) -> str:
    return urlsplit(url).hostname or ""


def base_url(url: str) -> str:
    """The site's URL ending in one slash, so paths append to it."""
    return url.rstrip("/") + "/"


def gunicorn_workers(app: MachineState) -> int:
    """The app unit's worker count, so the bench's own gunicorn has as many."""
    unit = run_in(app, ["cat", APP_UNIT_FILE]).stdout.decode()
    found = re.search(r"--workers (\d+)", unit)
    return int(found.group(1)) if found else DEFAULT_WORKERS


class BareNginx:
    """A second nginx on the web node, with Debian's stock nginx.conf and default site, serving the same directory."""

    def __init__(self, web: MachineState):
        self.web = web

    def __enter__(self) -> BareNginx:
        main = run_in(self.web, ["cat", "/etc/nginx/nginx.conf"]).stdout.decode()
        site = run_in(self.web, ["cat", "/etc/nginx/sites-available/default"]).stdout.decode()
        run_in(self.web, ["install", "-d", "-m", "0755", BENCH_DIR])
        conf = bare_config(main, site, BARE_PORT, str(Path(paths.STATIC_ROOT).parent), BARE_PID)
        run_in(self.web, ["sh", "-c", f"cat > {BARE_CONF}"], input_bytes=conf.encode())
        run_in(self.web, ["nginx", "-c", BARE_CONF])
        return self

    def __exit__(self, *exc: object) -> None:
        run_in(self.web, ["nginx", "-c", BARE_CONF, "-s", "quit"], check=False)


def bare_config(main: str, default_site: str, port: int, root: str, pid: str) -> str:
    """Debian's nginx.conf serving its default site alone (not the node's own site in conf.d), on `port`, `root` and `pid`."""
    site = re.sub(r"^\s*listen \[::\]:80 default_server;\n", "", default_site, flags=re.MULTILINE)
    site = re.sub(r"listen 80 default_server;", f"listen 127.0.0.1:{port} default_server;", site)
    site = re.sub(r"root /var/www/html;", f"root {root};", site)
    conf = re.sub(r"^pid .*;$", f"pid {pid};", main, flags=re.MULTILINE)
    conf = re.sub(r"^\s*include /etc/nginx/conf\.d/\*.*;\n", "", conf, flags=re.MULTILINE)
    body = "".join("\t" + line + "\n" for line in site.splitlines())
    # The default site takes the place of the sites-enabled include, inside http {}.
    conf, replaced = re.subn(r"^\s*include /etc/nginx/sites-enabled/\*;\n", lambda _: body, conf, flags=re.MULTILINE)
    if replaced != 1:
        raise BenchError("Debian's nginx.conf has no sites-enabled include to put the default site in")
    return conf


class DirectGunicorn:
    """The project on a second gunicorn on the app node, on loopback, with the app's env file and worker count."""

    def __init__(self, app: MachineState):
        self.app = app

    def __enter__(self) -> DirectGunicorn:
        run_in(self.app, ["install", "-d", "-m", "0755", BENCH_DIR])
        run_in(self.app, ["sh", "-c", f"cat > {BENCH_DIR}/bench_wsgi.py"], input_bytes=SHIM.read_bytes())
        run_in(self.app, [
            "systemd-run", f"--unit={DIRECT_UNIT}", "--collect",
            f"--property=EnvironmentFile={paths.APP_ENV_FILE}", f"--property=User={paths.APP_USER}",
            f"--property=RuntimeDirectory={DIRECT_UNIT}", f"--setenv=XDG_RUNTIME_DIR=/run/{DIRECT_UNIT}",
            f"--working-directory={paths.CURRENT_LINK}",
            f"{paths.CURRENT_LINK}/venv/bin/gunicorn", "--bind", f"127.0.0.1:{DIRECT_PORT}",
            "--workers", str(gunicorn_workers(self.app)), "--timeout", "60", "--pythonpath", BENCH_DIR,
            "bench_wsgi:application",
        ])
        deadline = time.monotonic() + 60
        probe = Place(self.app).argv(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                                      f"http://127.0.0.1:{DIRECT_PORT}{paths.HEALTH_PATH}"])
        while run(probe, check=False, timeout=30).stdout != b"200":
            if time.monotonic() > deadline:
                raise BenchError("the bench's gunicorn did not answer its health check in 60 s")
            time.sleep(1)
        return self

    def __exit__(self, *exc: object) -> None:
        run_in(self.app, ["systemctl", "stop", DIRECT_UNIT], check=False)

