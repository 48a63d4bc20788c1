"""Real services on loopback for tests: PostgreSQL, memcached, nginx, and a service manager.

Every server runs from a throwaway directory on a free port and is stopped at
teardown. Postgres refuses to run as root, so its cluster belongs to the
`postgres` system user. The module also runs as a command
(`python -m tests.support.services service-ctl VERB UNIT`): a stand-in for systemctl
on hosts where systemd is not PID 1, that really starts and stops the app's
gunicorn and reloads nginx.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

import pytest

from model import paths
from model.project import ROOT
from model.topology import Topology
from render.userdata import NGINX_SITE_FILE, rendered_files

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_OS_USER = "postgres"
SERVICE_CTL_CONFIG = "SERVICE_CTL_CONFIG"


def missing(message: str) -> NoReturn:
    """Skip for a missing prerequisite, but fail when CI=true so CI never skips silently."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_local_cloud(tools: tuple[str, ...]) -> None:
    """The local cloud boots containers: it needs root, overlayfs and these host tools."""
    absent = [f"{tool} not installed" for tool in tools if shutil.which(tool) is None]
    if os.geteuid() != 0:
        absent.append("not root")
    if "overlay" not in Path("/proc/filesystems").read_text():
        absent.append("no overlayfs in this kernel")
    if absent:
        missing("local cloud needs: " + ", ".join(absent))


def require_tool(name: str) -> str:
    """The tool's path (PATH, then PostgreSQL's bin directory), or skip/fail via `missing`."""
    found = shutil.which(name) or (str(PG_BIN / name) if (PG_BIN / name).exists() else None)
    if found:
        return found
    missing(f"{name} is not installed on this machine")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


def shared_tempdir(prefix: str) -> Path:
    """A temp dir other system users can traverse (pytest's own tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def private_dir(path: Path, owner: str) -> Path:
    """A directory only `owner` may enter, as the nodes give a system user."""
    path.mkdir(mode=0o700)
    shutil.chown(path, owner)
    return path


@dataclass
class PostgresCluster:
    """A PostgreSQL 15 cluster with a password-protected superuser, on loopback."""

    root: Path
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def _as_postgres(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", PG_OS_USER, "--", *argv],
            input=stdin, text=True, capture_output=True, check=True,
        )

    def init(self) -> None:
        self.socket_dir.mkdir(parents=True)
        shutil.chown(self.root, PG_OS_USER)
        shutil.chown(self.socket_dir, PG_OS_USER)
        password_file = self.root / "pw"
        password_file.write_text(self.password + "\n")
        shutil.chown(password_file, PG_OS_USER)
        password_file.chmod(0o600)
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data_dir), "-U", PG_OS_USER, "--pwfile", str(password_file),
            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
        )
        password_file.unlink()

    def start(self) -> None:
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "start",
            "-o", f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off",
        )

    def stop(self) -> None:
        if self.running():
            self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        status = subprocess.run(
            ["runuser", "-u", PG_OS_USER, "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "status"],
            capture_output=True,
        )
        return status.returncode == 0

    @property
    def client_env(self) -> dict[str, str]:
        """libpq variables that point psql and pg_isready at this cluster's socket."""
        return {"PGHOST": str(self.socket_dir), "PGPORT": str(self.port)}

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the socket; tuples only, unaligned."""
        result = subprocess.run(
            ["runuser", "-u", PG_OS_USER, "--", "psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", database],
            input=sql, text=True, capture_output=True, check=True, env={**os.environ, **self.client_env},
        )
        return result.stdout.strip()

    def url(self, user: str = PG_OS_USER, password: str | None = None, database: str = "postgres") -> str:
        secret = self.password if password is None else password
        return f"postgres://{quote(user, safe='')}:{quote(secret, safe='')}@127.0.0.1:{self.port}/{database}"


@dataclass
class Memcached:
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def location(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [require_tool("memcached"), "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-u", "nobody", "-m", "16"],
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


NGINX_MAIN_CONF = """\
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {site};
}}
"""
"""The part of Debian's nginx.conf a node's site relies on, kept in a scratch root."""


def program_site(topology: Topology, moves: dict[str, str]) -> str:
    """The nginx site the program writes on its web nodes, each node path or port in `moves` replaced."""
    files = rendered_files(topology.nodes_with("web")[0], topology)
    site = files[NGINX_SITE_FILE]
    # Port 80 serves what every server block of the site holds: put both in, as nginx reads them.
    for part in (paths.NGINX_PORT80_FILE, paths.NGINX_SERVER_FILE):
        site = site.replace(f"include {part};", files[part])
    for on_node, here in moves.items():
        assert on_node in site, f"the program's nginx site no longer holds {on_node!r}"
        site = site.replace(on_node, here)
    return site


@dataclass(frozen=True)
class NginxSite:
    """nginx run from a config written by the test (the service stand-in starts it); its files stay in `root`."""

    root: Path
    config: Path

    @classmethod
    def serving(cls, root: Path, site: str) -> NginxSite:
        """A site inside NGINX_MAIN_CONF, written into `root`."""
        (root / "site.conf").write_text(site)
        config = root / "nginx.conf"
        config.write_text(NGINX_MAIN_CONF.format(root=root, site=root / "site.conf"))
        return cls(root, config)

    def start(self) -> None:
        subprocess.run(["nginx", "-c", str(self.config), "-e", str(self.root / "error.log")], check=True)

    def stop(self) -> None:
        pid_file = self.root / "nginx.pid"
        if pid_file.exists():
            subprocess.run(["nginx", "-c", str(self.config), "-e", str(self.root / "error.log"), "-s", "quit"])
            _wait_gone(pid_file)


def _wait_gone(pid_file: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


# ---- service manager stand-in -------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceCtlConfig:
    """What the stand-in needs to act like the app's systemd unit and nginx's."""

    app_unit: str
    current_link: str
    env_file: str
    bind: str
    wsgi: str
    pid_file: str
    log_file: str
    run_as: str
    nginx_config: str = ""
    nginx_error_log: str = ""
    nginx_pid_file: str = ""

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__))

    @classmethod
    def read(cls, path: str) -> ServiceCtlConfig:
        return cls(**json.loads(Path(path).read_text()))


def write_service_ctl(directory: Path, config: ServiceCtlConfig) -> Path:
    """An executable the scripts can call as SERVICE_CTL, bound to `config`."""
    config_file = directory / "service-ctl.json"
    config.write(config_file)
    program = directory / "service-ctl"
    program.write_text(
        "#!/bin/sh\n"
        f"export {SERVICE_CTL_CONFIG}={config_file}\n"
        f"cd {ROOT}\n"
        f'exec {sys.executable} -m tests.support.services service-ctl "$@"\n'
    )
    program.chmod(0o755)
    return program


def read_env_file(path: str) -> dict[str, str]:
    """KEY=VALUE lines, values literal, as systemd's EnvironmentFile reads unquoted values."""
    pairs = {}
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            pairs[key.strip()] = value
    return pairs


def _pid_alive(pid_file: str) -> int | None:
    try:
        pid = int(Path(pid_file).read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def _stop_app(config: ServiceCtlConfig) -> None:
    pid = _pid_alive(config.pid_file)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while _pid_alive(config.pid_file) and time.monotonic() < deadline:
            time.sleep(0.05)


def _start_app(config: ServiceCtlConfig) -> None:
    """What the unit's ExecStart does: gunicorn from the current release, with the env file; its log stands in for the journal."""
    link = Path(config.current_link)
    env = {"PATH": "/usr/bin:/bin", **read_env_file(config.env_file)}
    Path(config.log_file).touch()
    shutil.chown(config.log_file, config.run_as)
    with open(config.log_file, "ab") as log:
        subprocess.run(
            [
                shutil.which("runuser") or "runuser", "-u", config.run_as, "--", str(link / "venv" / "bin" / "gunicorn"),
                "--chdir", str(link), "--bind", config.bind, "--workers", "2",
                "--pid", config.pid_file, "--error-logfile", config.log_file, "--capture-output", "--daemon",
                config.wsgi,
            ],
            env=env, stdout=log, stderr=log, check=True,
        )
    deadline = time.monotonic() + 20
    while not _pid_alive(config.pid_file):
        if time.monotonic() > deadline:
            raise SystemExit(f"gunicorn did not start, see {config.log_file}")
        time.sleep(0.05)


def _nginx_ctl(verb: str, config: ServiceCtlConfig) -> int:
    nginx = ["nginx", "-c", config.nginx_config, "-e", config.nginx_error_log]
    running = _pid_alive(config.nginx_pid_file) is not None
    if verb == "is-active":
        return 0 if running else 3
    if verb in ("reload", "reload-or-restart") and running:
        return subprocess.run([*nginx, "-s", "reload"]).returncode
    if verb in ("start", "reload-or-restart"):
        return 0 if running else subprocess.run(nginx).returncode
    return 2


def service_ctl(argv: list[str], config: ServiceCtlConfig) -> int:
    verb, unit = [a for a in argv if not a.startswith("-")][:2]
    if unit in ("nginx", "nginx.service"):
        return _nginx_ctl(verb, config)
    if unit != config.app_unit:
        print(f"unknown unit {unit}", file=sys.stderr)
        return 5
    if verb == "is-active":
        return 0 if _pid_alive(config.pid_file) else 3
    if verb in ("restart", "start"):
        if verb == "restart" or not _pid_alive(config.pid_file):
            _stop_app(config)
            _start_app(config)
        return 0
    if verb == "stop":
        _stop_app(config)
        return 0
    return 2


# ---- fixtures -----------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_cluster(prefix: str, start: bool) -> Iterator[PostgresCluster]:
    """A throwaway initialised cluster, started or left for the code under test to start; always removed."""
    for tool in ("runuser", "initdb", "pg_ctl", "psql", "pg_isready"):
        require_tool(tool)
    cluster = PostgresCluster(shared_tempdir(prefix))
    cluster.init()
    if start:
        cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One throwaway cluster for the session; tests create their own databases in it."""
    with scratch_cluster("dt-pg-", start=True) as cluster:
        yield cluster


@pytest.fixture
def memcached_factory() -> Iterator[Callable[[int], list[Memcached]]]:
    """Start `n` memcached servers on loopback; all are stopped after the test."""
    started: list[Memcached] = []

    def start(n: int = 1) -> list[Memcached]:
        servers = [Memcached() for _ in range(n)]
        for server in servers:
            server.start()
            started.append(server)
        return servers

    yield start
    for server in started:
        server.stop()


def run_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The current environment plus `extra`, for subprocesses under test."""
    return {**os.environ, **extra}


if __name__ == "__main__":
    if sys.argv[1:2] != ["service-ctl"]:
        raise SystemExit("usage: python -m tests.support.services service-ctl VERB UNIT")
    raise SystemExit(service_ctl(sys.argv[2:], ServiceCtlConfig.read(os.environ[SERVICE_CTL_CONFIG])))
