"""The app and web scripts played in deployment order, each one twice, for real.

One module-scoped deployment runs them against PostgreSQL, memcached,
gunicorn and nginx on loopback: release -> env -> migrate -> collectstatic ->
activate -> static files -> upstream. Paths point into a scratch root
through the scripts' environment variables; the service manager is the
stand-in from tests/support/services.py, which really starts gunicorn and nginx.
nginx serves the site the program writes on its web nodes, with only its
paths and its port moved into the scratch root.
The tests then read what each run did and what the second run left alone.
"""

from __future__ import annotations

import grp
import gzip
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from model import paths
from model.project import ROOT
from model.topology import Topology
from render import steps
from render.userdata import STATIC_ACCESS_LOG
from tests.support.services import (
    Memcached,
    NginxSite,
    PostgresCluster,
    ServiceCtlConfig,
    free_port,
    private_dir,
    program_site,
    read_env_file,
    require_tool,
    run_env,
    shared_tempdir,
    wait_for_port,
    write_service_ctl,
)

DEMO = ROOT / "demo"
SITE_HOST = "demo.example.test"
RUN_AS = "nobody"
APP_GROUP = "nogroup"
BUILD_AS = "daemon"
"""An unprivileged account of this machine other than RUN_AS, standing in for the nodes' build user."""

def release_archive(source: Path) -> bytes:
    """The project as the program uploads it: a gzip tarball of its tree, caches left out."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(source.rglob("*")):
            if "__pycache__" in path.parts or path.is_dir():
                continue
            archive.add(path, arcname=str(path.relative_to(source)))
    return buffer.getvalue()


@dataclass
class Deployment:
    root: Path
    scripts: dict[str, Path]
    env: dict[str, str]
    release: str
    app_port: int
    web_port: int
    nginx: NginxSite
    runs: dict[str, list[subprocess.CompletedProcess[str]]] = field(default_factory=dict)
    seen: dict[str, list[object]] = field(default_factory=dict)

    def path(self, variable: str) -> Path:
        return Path(self.env[variable])

    def run(self, name: str, stdin: str | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["bash", str(self.scripts[name])], input=stdin, capture_output=True, text=True, timeout=600,
            env=run_env({**self.env, **extra}),
        )
        self.runs.setdefault(name, []).append(result)
        assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def see(self, what: str, value: object) -> None:
        self.seen.setdefault(what, []).append(value)

    def app_pid(self) -> int:
        return int((self.root / "run" / "gunicorn.pid").read_text())


def _stat(path: Path) -> tuple[int, int, int, int]:
    info = path.stat()
    return info.st_mode & 0o7777, info.st_uid, info.st_gid, info.st_mtime_ns


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _env_file(database_url: str, cache: str, static_root: Path, extra: str = "") -> str:
    return (
        f"SECRET_KEY={secrets.token_urlsafe(40)}\n"
        f"DATABASE_URL={database_url}\n"
        f"CACHE_LOCATIONS={cache}\n"
        f"ALLOWED_HOSTS={SITE_HOST}\n"
        f"STATIC_ROOT={static_root}\n"
        f"{extra}"
    )


@pytest.fixture(scope="module")
def deployment(
    postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory, render_topology: Callable[..., Topology]
) -> Iterator[Deployment]:
    for tool in ("nginx", "memcached", "curl", "runuser", "tar"):
        require_tool(tool)
    root = shared_tempdir("dt-deploy-")
    run_dir = root / "run"
    run_dir.mkdir()
    shutil.chown(run_dir, RUN_AS)
    for directory in ("releases", "etc", "nginx", "srv"):
        (root / directory).mkdir()
    build_dir = private_dir(root / "build", BUILD_AS)
    archive = release_archive(DEMO)
    release = hashlib.sha256(archive).hexdigest()[:16]
    (root / "releases" / f"{release}.tar.gz").write_bytes(archive)

    app_port, web_port = free_port(), free_port()
    static_root, upstream_file = str(root / "srv" / "static"), str(root / "nginx" / "django-tiers" / "upstream.conf")
    nginx = NginxSite.serving(root / "nginx", program_site(render_topology("onebox"), {
        f"include {paths.NGINX_UPSTREAM_FILE};": f"include {upstream_file};",
        f"alias {paths.STATIC_ROOT}/;": f"alias {static_root}/;",
        STATIC_ACCESS_LOG: str(root / "nginx" / "static.log"),
        "listen 80 default_server;": f"listen 127.0.0.1:{web_port} default_server;",
        "listen [::]:80 default_server;": "",
    }))
    env = {
        "RELEASES_DIR": str(root / "releases"),
        "CURRENT_LINK": str(root / "current"),
        "APP_ENV_FILE": str(root / "etc" / "app.env"),
        "STATE_FILE": str(root / "activated"),
        "STATIC_ROOT": static_root,
        "NGINX_UPSTREAM_FILE": upstream_file,
        "NGINX_CONF": str(nginx.config),
        "RUN_AS": RUN_AS,
        "BUILD_USER": BUILD_AS,
        "BUILD_DIR": str(build_dir),
        "APP_GROUP": APP_GROUP,
        "PYTHON": "/usr/bin/python3",
        "RELEASE": release,
        "SETTINGS": "demo_site.settings",
        "APP_HOST": "127.0.0.1",
        "APP_PORT": str(app_port),
        "HEALTH_TIMEOUT": "30",
        "SITE_HOST": SITE_HOST,
        "SMOKE_PATHS": "/ /healthz",
    }
    env["SERVICE_CTL"] = str(write_service_ctl(root, ServiceCtlConfig(
        app_unit=paths.APP_UNIT, current_link=env["CURRENT_LINK"], env_file=env["APP_ENV_FILE"],
        bind=f"127.0.0.1:{app_port}", wsgi="demo_site.wsgi:application", pid_file=str(run_dir / "gunicorn.pid"),
        log_file=str(root / "gunicorn.log"), run_as=RUN_AS, nginx_config=str(nginx.config),
        nginx_error_log=str(nginx.root / "error.log"), nginx_pid_file=str(nginx.root / "nginx.pid"),
    )))

    journal = root / "journalctl"
    journal.write_text(f"#!/bin/sh\ntail -n 40 {root / 'gunicorn.log'}\n")
    journal.chmod(0o755)
    env["JOURNALCTL"] = str(journal)

    db_password = secrets.token_urlsafe(24)
    postgres.psql("DROP DATABASE IF EXISTS deploy_app; DROP ROLE IF EXISTS deploy_app;")
    postgres.psql(f"CREATE ROLE deploy_app LOGIN PASSWORD '{db_password}'; CREATE DATABASE deploy_app OWNER deploy_app;")
    cache = Memcached()
    cache.start()
    site = Deployment(root, steps.write_all(tmp_path_factory.mktemp("steps")), env, release, app_port, web_port, nginx)
    env_text = _env_file(
        postgres.url("deploy_app", db_password, "deploy_app"), cache.location,
        site.path("CURRENT_LINK") / paths.RELEASE_STATIC,
    )
    try:
        _deploy(site, env_text)
        yield site
    finally:
        subprocess.run([env["SERVICE_CTL"], "stop", paths.APP_UNIT])
        nginx.stop()
        cache.stop()
        shutil.rmtree(root, ignore_errors=True)


def _deploy(site: Deployment, env_text: str) -> None:
    release_dir = site.path("RELEASES_DIR") / site.release
    marker = release_dir / steps.INSTALLED_MARK
    for _ in range(2):
        site.run("app-release.sh")
        site.see("marker", _stat(marker))

    for _ in range(2):
        site.run("app-env.sh", stdin=env_text)
        site.see("env file", _stat(site.path("APP_ENV_FILE")))

    for _ in range(2):
        site.run("migrate.sh")

    tarball = release_dir / "static.tar.gz"
    for _ in range(2):
        site.run("collectstatic.sh")
        site.see("tarball", (_sha(tarball), _stat(tarball)))

    for _ in range(2):
        site.run("web-static.sh", STATIC_TARBALL=str(tarball))
        site.see("static root", os.readlink(site.path("STATIC_ROOT")))

    for _ in range(2):
        site.run("app-activate.sh")
        site.see("gunicorn pid", site.app_pid())
        site.see("current", os.readlink(site.path("CURRENT_LINK")))

    for _ in range(2):
        site.run("web-upstream.sh", stdin=f"127.0.0.1:{site.app_port}\n")
        site.see("upstream", site.path("NGINX_UPSTREAM_FILE").read_text())
        site.see("nginx pid", int((site.nginx.root / "nginx.pid").read_text()))
    wait_for_port(site.web_port)


def _get(site: Deployment, path: str, host: str = SITE_HOST) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{site.web_port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _outputs(site: Deployment, name: str) -> list[str]:
    return [run.stdout for run in site.runs[name]]


def test_release_is_installed_once(deployment: Deployment) -> None:
    first, second = _outputs(deployment, "app-release.sh")
    assert "unpacked" in first and "is ready" in first
    assert "already installed" in second and "unpacked" not in second
    assert deployment.seen["marker"][0] == deployment.seen["marker"][1]
    venv_python = deployment.path("RELEASES_DIR") / deployment.release / "venv" / "bin" / "python"
    probe = subprocess.run([venv_python, "-c", "import django; print(django.get_version())"], capture_output=True, text=True)
    assert probe.stdout.strip() == "5.2.19"


def test_env_file_is_written_once_private_and_silent(deployment: Deployment) -> None:
    first, second = _outputs(deployment, "app-env.sh")
    assert first.endswith("changed\n") and second.endswith("unchanged\n")
    mode, uid, gid, _ = deployment.seen["env file"][0]
    assert (mode, uid, gid) == (0o640, 0, grp.getgrnam(APP_GROUP).gr_gid)
    assert deployment.seen["env file"][0] == deployment.seen["env file"][1]
    secret_key = read_env_file(deployment.env["APP_ENV_FILE"])["SECRET_KEY"]
    for run in deployment.runs["app-env.sh"]:
        assert secret_key not in run.stdout + run.stderr
    assert not list(deployment.path("APP_ENV_FILE").parent.glob(".incoming.*"))


def test_migrations_apply_then_nothing_to_do(deployment: Deployment, postgres: PostgresCluster) -> None:
    first, second = deployment.runs["migrate.sh"]
    assert "Applying counter.0001_initial... OK" in first.stdout
    assert "No migrations to apply." in second.stdout
    assert postgres.psql("SELECT to_regclass('counter_counter') IS NOT NULL", "deploy_app") == "t"


def test_static_files_are_collected_once_into_the_release(deployment: Deployment) -> None:
    first, second = _outputs(deployment, "collectstatic.sh")
    assert f"collected 5 static files as {BUILD_AS}" in first
    assert "already collected" in second
    assert deployment.seen["tarball"][0] == deployment.seen["tarball"][1]
    release = deployment.path("RELEASES_DIR") / deployment.release
    with tarfile.open(release / "static.tar.gz") as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert {"./counter/site.css", "./counter/tiers.svg", "./staticfiles.json"} <= members.keys()
    collected_at = min(m.mtime for m in members.values())
    assert collected_at > time.time() - 3600, "the files keep the time they were collected at, not 1970"
    manifest = json.loads((release / paths.RELEASE_STATIC / "staticfiles.json").read_text())["paths"]
    hashed_svg = release / paths.RELEASE_STATIC / manifest["counter/tiers.svg"]
    assert re.fullmatch(r"counter/tiers\.[0-9a-f]{12}\.svg", manifest["counter/tiers.svg"])
    assert gzip.decompress(Path(f"{hashed_svg}.gz").read_bytes()) == hashed_svg.read_bytes()
    assert not (release / paths.RELEASE_STATIC / "counter/site.css.gz").exists(), "255 bytes: below gzip's threshold"
    assert (release / paths.RELEASE_STATIC).stat().st_uid == 0
    assert not any(p.stat().st_mode & 0o022 for p in (release / paths.RELEASE_STATIC).rglob("*"))


def test_activation_starts_once_and_is_healthy(deployment: Deployment) -> None:
    first, second = _outputs(deployment, "app-activate.sh")
    assert "now points to release" in first and "restarted" in first
    assert "already points to release" in second and "already runs release" in second
    for output in (first, second):
        assert f"GET / (Host: {SITE_HOST}) answers 200" in output
        assert f"GET {paths.HEALTH_PATH} (Host: {SITE_HOST}) answers 200" in output
    pids = deployment.seen["gunicorn pid"]
    assert pids[0] == pids[1]
    assert deployment.seen["current"] == [str(deployment.path("RELEASES_DIR") / deployment.release)] * 2
    for output in (first, second):
        assert f"http://127.0.0.1:{deployment.app_port}{paths.HEALTH_PATH} answers 200" in output


def test_static_files_are_published_once(deployment: Deployment) -> None:
    first, second = _outputs(deployment, "web-static.sh")
    assert "now serves version" in first
    assert "already holds version" in second
    assert deployment.seen["static root"][0] == deployment.seen["static root"][1]
    css = deployment.path("STATIC_ROOT") / "counter" / "site.css"
    assert css.read_bytes() == (DEMO / "counter" / "static" / "counter" / "site.css").read_bytes()


def test_upstream_written_once_and_nginx_started(deployment: Deployment) -> None:
    first, second = _outputs(deployment, "web-upstream.sh")
    assert "nginx reloaded" in first
    assert "upstream unchanged" in second
    upstream = deployment.seen["upstream"]
    assert upstream[0] == upstream[1] == f"upstream django_app {{\n    server 127.0.0.1:{deployment.app_port};\n}}\n"
    assert deployment.seen["nginx pid"][0] == deployment.seen["nginx pid"][1]


def test_site_answers_through_nginx(deployment: Deployment) -> None:
    first, second = _get(deployment, "/"), _get(deployment, "/")
    assert (first[0], second[0]) == (200, 200)
    assert (first[1]["X-Cache"], second[1]["X-Cache"]) == ("hit", "hit"), "the activation's smoke check rendered / first"
    status, headers, body = _get(deployment, "/static/counter/site.css")
    assert status == 200
    assert headers["Content-Type"] == "text/css"
    assert body == (DEMO / "counter" / "static" / "counter" / "site.css").read_bytes()
    status, _, _ = _get(deployment, paths.HEALTH_PATH, host="127.0.0.1")
    assert status == 200


def test_static_files_are_served_by_nginx_from_disk(deployment: Deployment) -> None:
    """The program's `location /static/` answers from the published files, not the app behind it."""
    css = (DEMO / "counter" / "static" / "counter" / "site.css").read_bytes()
    status, headers, body = _get(deployment, "/static/counter/site.css")
    assert (status, body) == (200, css)
    assert headers["Cache-Control"] == "max-age=600", "a name without a hash may change with the next release"
    log = deployment.nginx.root / "static.log"
    deadline = time.monotonic() + 10
    while "GET /static/counter/site.css HTTP" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the buffered static log is flushed within a second or so"
        time.sleep(0.2)
    assert _get(deployment, "/static/counter/no-such-file.css")[0] == 404


def test_pages_link_content_hashed_names_that_browsers_keep(deployment: Deployment) -> None:
    """The page links the names in the release's manifest; nginx serves them from disk, immutable for a year."""
    page = _get(deployment, "/")[2].decode()
    linked = re.search(r'href="(/static/counter/site\.[0-9a-f]{12}\.css)"', page)
    assert linked, page[:400]
    status, headers, body = _get(deployment, linked.group(1))
    assert status == 200
    assert body == (DEMO / "counter" / "static" / "counter" / "site.css").read_bytes()
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Expires" not in headers
    assert _get(deployment, linked.group(1).replace(".css", ".nope"))[0] == 404


def _broken_release(site: Deployment) -> str:
    """The demo with a template that raises when it renders, as an installed, collected release."""
    source = site.root / "broken-source"
    shutil.copytree(DEMO, source, ignore=shutil.ignore_patterns("__pycache__"))
    template = source / "counter" / "templates" / "counter" / "index.html"
    template.write_text(template.read_text().replace("{% static 'counter/site.css' %}", "{% static 'counter/gone.css' %}"))
    archive = release_archive(source)
    name = hashlib.sha256(archive).hexdigest()[:16]
    (site.path("RELEASES_DIR") / f"{name}.tar.gz").write_bytes(archive)
    site.run("app-release.sh", RELEASE=name)
    site.run("collectstatic.sh", RELEASE=name)
    return name


def test_a_release_whose_page_fails_is_switched_back(deployment: Deployment) -> None:
    """The smoke path answers 500: the step fails naming it, the status and the log, and the old release serves again."""
    good = os.readlink(deployment.path("CURRENT_LINK"))
    broken = _broken_release(deployment)
    result = subprocess.run(
        ["bash", str(deployment.scripts["app-activate.sh"])], capture_output=True, text=True, timeout=300,
        env=run_env({**deployment.env, "RELEASE": broken}),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"now points to release {broken}" in result.stdout
    assert f"GET / (Host: {SITE_HOST}) answered 500 on release {broken}" in result.stderr
    assert f"switched back to release {Path(good).name}, which answers its health check" in result.stderr
    assert "Missing staticfiles manifest entry for 'counter/gone.css'" in result.stderr, "the journal's last lines"
    assert os.readlink(deployment.path("CURRENT_LINK")) == good
    assert _get(deployment, "/")[0] == 200
    again = deployment.run("app-activate.sh")
    assert "already runs release" in again.stdout


def test_changed_env_restarts_the_app(deployment: Deployment) -> None:
    before = deployment.app_pid()
    text = Path(deployment.env["APP_ENV_FILE"]).read_text() + "DEBUG=false\n"
    assert deployment.run("app-env.sh", stdin=text).stdout.endswith("changed\n")
    activated = deployment.run("app-activate.sh")
    assert "restarted" in activated.stdout
    assert deployment.app_pid() != before
    assert _get(deployment, "/")[0] == 200


def test_new_upstream_list_reloads_nginx_in_place(deployment: Deployment) -> None:
    pid = int((deployment.nginx.root / "nginx.pid").read_text())
    spare = free_port()
    result = deployment.run("web-upstream.sh", UPSTREAMS=f"127.0.0.1:{spare}, 127.0.0.1:{deployment.app_port}")
    assert "nginx reloaded" in result.stdout
    servers = sorted([f"127.0.0.1:{spare}", f"127.0.0.1:{deployment.app_port}"])
    expected = "upstream django_app {\n" + "".join(f"    server {s};\n" for s in servers) + "}\n"
    assert deployment.path("NGINX_UPSTREAM_FILE").read_text() == expected
    assert int((deployment.nginx.root / "nginx.pid").read_text()) == pid
    time.sleep(0.5)
    assert _get(deployment, "/")[0] == 200


def test_upstream_nginx_rejects_is_rolled_back(deployment: Deployment) -> None:
    upstream = deployment.path("NGINX_UPSTREAM_FILE")
    before = upstream.read_text()
    result = subprocess.run(
        ["bash", str(deployment.scripts["web-upstream.sh"])], input="no-such-host.invalid:8000\n",
        capture_output=True, text=True, env=run_env(deployment.env),
    )
    assert result.returncode == 1
    assert "previous file is back in place" in result.stderr
    assert upstream.read_text() == before
    assert _get(deployment, "/")[0] == 200


def test_upstream_refuses_garbage(deployment: Deployment) -> None:
    result = subprocess.run(
        ["bash", str(deployment.scripts["web-upstream.sh"])], input="10.0.0.1:80; include /etc/passwd\n",
        capture_output=True, text=True, env=run_env(deployment.env),
    )
    assert result.returncode == 1
    assert "is not host:port" in result.stderr
