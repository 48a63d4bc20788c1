"""The demo Django project against a real PostgreSQL and real memcached servers.

Its own Django tests run under Django's test runner in a subprocess (the
settings module is process-global), then the project is served by gunicorn
and probed over HTTP, including with a database that cannot be reached, and
Django's deployment checks read it with the environment a domain stack writes.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from model.config import DEFAULT_APP, AppSpec
from model.paths import HEALTH_PATH
from model.project import ROOT
from render.app_env import MediaStore, render_app_env
from tests.support.services import PostgresCluster, free_port, missing, run_env, wait_for_port

DEMO = ROOT / "demo"
SITE_HOST = "demo.example.test"


@pytest.fixture(scope="module")
def django_python() -> str:
    """The interpreter that has the demo's requirements (demo/requirements.txt)."""
    probe = subprocess.run([sys.executable, "-c", "import django, gunicorn, psycopg, pymemcache, dj_database_url"])
    if probe.returncode != 0:
        missing("the demo's requirements are not installed here: pip install -r demo/requirements.txt")
    return sys.executable


@pytest.fixture(scope="module")
def collected(django_python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's static files collected once, as a node collects them: pages are rendered with their manifest."""
    root = tmp_path_factory.mktemp("static")
    env = run_env({"SECRET_KEY": secrets.token_urlsafe(32), "DJANGO_SETTINGS_MODULE": "demo_site.settings",
                   "STATIC_ROOT": str(root)})
    subprocess.run([django_python, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=DEMO, env=env,
                   check=True, capture_output=True, timeout=120)
    return root


def _demo_env(database_url: str, cache_locations: str, static_root: Path | None = None) -> dict[str, str]:
    return run_env({
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": SITE_HOST,
        "DATABASE_URL": database_url,
        "CACHE_LOCATIONS": cache_locations,
        "DJANGO_SETTINGS_MODULE": "demo_site.settings",
        **({"STATIC_ROOT": str(static_root)} if static_root else {}),
    })


def _get(url: str, host: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def gunicorn_factory(django_python: str) -> Iterator:
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str], log: Path | None = None) -> str:
        port = free_port()
        process = subprocess.Popen(
            [django_python, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "demo_site.wsgi:application"],
            cwd=DEMO, env=env, stderr=log.open("w") if log else None,
        )
        started.append(process)
        wait_for_port(port)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=15)


def test_health_path_matches_the_nodes_contract() -> None:
    source = (DEMO / "counter" / "middleware.py").read_text()
    assert f'HEALTH_PATH = "{HEALTH_PATH}"' in source


def test_django_suite_against_real_services(
    django_python: str, postgres: PostgresCluster, memcached_factory, collected: Path
) -> None:
    servers = memcached_factory(2)
    env = _demo_env(postgres.url(database="demo_suite"), ",".join(s.location for s in servers), collected)
    result = subprocess.run(
        [django_python, "manage.py", "test", "counter", "--noinput", "-v", "2"],
        cwd=DEMO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "skipped" not in result.stderr, result.stderr[-4000:]
    assert "Ran 13 tests" in result.stderr


def test_served_by_gunicorn(
    django_python: str, postgres: PostgresCluster, memcached_factory, gunicorn_factory, collected: Path
) -> None:
    postgres.psql("DROP DATABASE IF EXISTS demo_http; CREATE DATABASE demo_http;")
    (server,) = memcached_factory(1)
    env = _demo_env(postgres.url(database="demo_http"), server.location, collected)
    subprocess.run([django_python, "manage.py", "migrate", "--noinput"], cwd=DEMO, env=env, check=True,
                   capture_output=True)
    base = gunicorn_factory(env)

    first = _get(f"{base}/", SITE_HOST)
    second = _get(f"{base}/", SITE_HOST)
    assert (first[0], second[0]) == (200, 200)
    assert (first[1]["X-Cache"], second[1]["X-Cache"]) == ("miss", "hit")
    assert b'<strong id="visits">2</strong>' in second[2]
    assert postgres.psql("SELECT value FROM counter_counter WHERE name = 'visits'", "demo_http") == "2"

    status, headers, body = _get(f"{base}{HEALTH_PATH}", "10.20.30.40")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"status": "ok"}
    assert _get(f"{base}/", "10.20.30.40")[0] == 400


CACHE_RECOVERY_SECONDS = 5
"""A restarted cache node serves hits again within this: the demo's pymemcache options."""


def test_report_hits_again_soon_after_its_cache_node_restarts(
    django_python: str, postgres: PostgresCluster, memcached_factory, gunicorn_factory, collected: Path,
) -> None:
    postgres.psql("DROP DATABASE IF EXISTS demo_recovery; CREATE DATABASE demo_recovery;")
    (server,) = memcached_factory(1)
    env = _demo_env(postgres.url(database="demo_recovery"), server.location, collected)
    subprocess.run([django_python, "manage.py", "migrate", "--noinput"], cwd=DEMO, env=env, check=True,
                   capture_output=True)
    base = gunicorn_factory(env)
    assert [_get(f"{base}/report/", SITE_HOST)[1]["X-Cache"] for _ in range(2)] == ["miss", "hit"]

    server.stop()
    down = []
    for _ in range(5):  # a request now and then while the node is down, each after the client's retry delay
        down.append(_get(f"{base}/report/", SITE_HOST))
        time.sleep(1.2)
    assert [(status, headers["X-Cache"]) for status, headers, _ in down] == [(200, "miss")] * 5

    server.start()
    restarted = time.monotonic()
    answers = []
    while time.monotonic() - restarted < 2 * CACHE_RECOVERY_SECONDS:  # bounded: at most 100 requests
        answers.append((time.monotonic() - restarted, _get(f"{base}/report/", SITE_HOST)[1]["X-Cache"]))
        if answers[-1][1] == "hit" or len(answers) >= 100:
            break
        time.sleep(0.1)
    assert answers[-1][1] == "hit", answers
    assert answers[-1][0] < CACHE_RECOVERY_SECONDS, answers


def test_an_outage_tells_the_outside_nothing_but_error(gunicorn_factory, tmp_path: Path) -> None:
    """The body a visitor gets has no address and no exception text; the log has both."""
    port = free_port()
    env = _demo_env(f"postgres://app:pw@127.0.0.1:{port}/nowhere", "")
    log = tmp_path / "gunicorn.log"
    base = gunicorn_factory(env, log)
    status, _, body = _get(f"{base}{HEALTH_PATH}", "10.20.30.40")
    assert status == 503
    assert json.loads(body) == {"status": "error"}
    for detail in ("127.0.0.1", str(port), "OperationalError", "connection"):
        assert detail.encode() not in body
    logged = log.read_text()
    assert "OperationalError" in logged and f"port {port}" in logged


DOMAIN = "www.example.com"


def test_check_deploy_reports_nothing_with_a_domain_stacks_environment(django_python: str) -> None:
    """The env file a domain stack writes, with a 50-character key, passes `check --deploy` at every level."""
    text = render_app_env(
        AppSpec(**DEFAULT_APP), db_host="10.10.0.5", cache_hosts=["10.10.0.6"], allowed_hosts=["203.0.113.10"],
        domain=DOMAIN, db_password=secrets.token_urlsafe(24), secret_key=secrets.token_urlsafe(48)[:50],
        media=MediaStore("dt-test-data", "nyc3.digitaloceanspaces.com", "nyc3", "DO00KEY", "spaces-secret"),
    )
    written = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert written["SITE_HTTPS"] == "true" and len(written["SECRET_KEY"]) == 50
    assert written["MEDIA_ENDPOINT_URL"] == "https://nyc3.digitaloceanspaces.com" and written["MEDIA_BUCKET"] == "dt-test-data"
    result = subprocess.run(
        [django_python, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=DEMO, env=run_env(written), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (1 silenced)."


MEDIA_BUCKET = "dt-demo-data"


@pytest.fixture
def s3_server() -> Iterator[str]:
    """moto's S3 server on loopback, with the bucket the app is given: a real S3 API, over plain HTTP here."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s",
    ).create_bucket(Bucket=MEDIA_BUCKET)
    yield endpoint
    server.stop()


def _media_env(base: dict[str, str], endpoint: str) -> dict[str, str]:
    return {
        **base, "MEDIA_BUCKET": MEDIA_BUCKET, "MEDIA_ENDPOINT_URL": endpoint, "MEDIA_REGION": "nyc3",
        "MEDIA_PREFIX": "media", "MEDIA_ACCESS_KEY_ID": "DO00TESTKEY", "MEDIA_SECRET_ACCESS_KEY": "test-secret",
    }


def _upload(base: str, name: str, data: bytes) -> int:
    """POST a file through the page's form, with the CSRF cookie and token a browser would send."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(urllib.request.Request(f"{base}/", headers={"Host": SITE_HOST}), timeout=15).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, page[:500]
    boundary = "----demo" + secrets.token_hex(8)
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\n{token.group(1)}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        f"{base}/upload", data=body, method="POST",
        headers={"Host": SITE_HOST, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    no_redirect = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    try:
        with no_redirect.open(request, timeout=15) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def _migrated_media_env(django_python: str, postgres: PostgresCluster, database: str, s3_server: str,
                        collected: Path) -> dict[str, str]:
    """The demo's environment with uploads on the S3 server, over a new database of its own, migrated."""
    postgres.psql(f"DROP DATABASE IF EXISTS {database}; CREATE DATABASE {database};")
    env = _media_env(_demo_env(postgres.url(database=database), "", collected), s3_server)
    subprocess.run([django_python, "manage.py", "migrate", "--noinput"], cwd=DEMO, env=env, check=True, capture_output=True)
    return env


def test_uploads_go_to_s3_and_every_app_node_serves_them(
    django_python: str, postgres: PostgresCluster, gunicorn_factory, s3_server: str, collected: Path,
) -> None:
    """Two gunicorns, as two app nodes with no shared disk: a file uploaded to one is served by the other."""
    env = _migrated_media_env(django_python, postgres, "demo_media", s3_server, collected)
    first, second = gunicorn_factory(env), gunicorn_factory(env)
    data = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(2048)
    assert _upload(first, "photo.png", data) == 302
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=MEDIA_BUCKET)["Contents"]]
    assert keys == ["media/uploads/photo.png"], "the upload is in the bucket, under the media prefix"
    page = _get(f"{second}/", SITE_HOST)[2].decode()
    assert 'href="/media/uploads/photo.png"' in page
    status, headers, body = _get(f"{second}/media/uploads/photo.png", SITE_HOST)
    assert (status, body) == (200, data)
    assert headers["Content-Type"] == "image/png" and "attachment" not in headers.get("Content-Disposition", "")
    assert _get(f"{second}/media/uploads/missing.png", SITE_HOST)[0] == 404


def test_an_uploaded_page_is_a_download_that_cannot_run_as_the_site(
    django_python: str, postgres: PostgresCluster, gunicorn_factory, s3_server: str, collected: Path,
) -> None:
    env = _migrated_media_env(django_python, postgres, "demo_media2", s3_server, collected)
    base = gunicorn_factory(env)
    assert _upload(base, "page.html", b"<script>alert(1)</script>") == 302
    status, headers, _ = _get(f"{base}/media/uploads/page.html", SITE_HOST)
    assert status == 200
    assert headers["Content-Disposition"].startswith("attachment")
    assert headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"
