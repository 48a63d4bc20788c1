"""db-setup.sh against a real PostgreSQL 15 cluster, run twice and with a new password.

The cluster starts stopped: a stand-in for the node's pgdata script starts
it, as the real one does after mounting the volume.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from render import steps
from tests.support.services import (
    PG_BIN,
    PostgresCluster,
    run_env,
    scratch_cluster,
)

ROLE = "site"
DATABASE = "site"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with scratch_cluster("dt-pg-steps-", start=False) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return steps.write_all(tmp_path_factory.mktemp("steps"))["db-setup.sh"]


@pytest.fixture(scope="module")
def pgdata_script(cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Starts the cluster when it is not running, like the node's pgdata script does."""
    path = tmp_path_factory.mktemp("pgdata") / "django-tiers-pgdata"
    options = f"-p {cluster.port} -k {cluster.socket_dir} -c listen_addresses=127.0.0.1"
    path.write_text(
        "#!/bin/sh\n"
        f"runuser -u postgres -- {PG_BIN}/pg_ctl -D {cluster.data_dir} status >/dev/null && exit 0\n"
        f"exec runuser -u postgres -- {PG_BIN}/pg_ctl -D {cluster.data_dir} -l {cluster.log_file} "
        f"-o '{options}' start\n"
    )
    path.chmod(0o755)
    return path


def _setup(script: Path, cluster: PostgresCluster, pgdata: Path, password: str) -> subprocess.CompletedProcess[str]:
    env = {**cluster.client_env, "DB_NAME": DATABASE, "DB_USER": ROLE, "PGDATA_SCRIPT": str(pgdata)}
    return subprocess.run(
        ["bash", str(script)], input=password + "\n", capture_output=True, text=True, timeout=120, env=run_env(env),
    )


def _login(cluster: PostgresCluster, password: str) -> subprocess.CompletedProcess[str]:
    """A real password login over TCP, as the app nodes make."""
    return subprocess.run(
        ["psql", "-X", "-tA", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", ROLE, "-d", DATABASE,
         "-c", "SELECT current_user || ' ' || current_database()"],
        capture_output=True, text=True, env=run_env({"PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}),
    )


def _stored_secret(cluster: PostgresCluster) -> str:
    return cluster.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{ROLE}'")


def test_setup_is_idempotent_and_password_works(script: Path, cluster: PostgresCluster, pgdata_script: Path) -> None:
    assert not cluster.running()
    password = secrets.token_urlsafe(24)

    first = _setup(script, cluster, pgdata_script, password)
    assert first.returncode == 0, first.stderr
    assert cluster.running()
    assert "created role site" in first.stdout
    assert "set the password of site" in first.stdout
    assert "created database site owned by site" in first.stdout
    secret = _stored_secret(cluster)
    assert secret.startswith("SCRAM-SHA-256$4096:")

    second = _setup(script, cluster, pgdata_script, password)
    assert second.returncode == 0, second.stderr
    assert "role site exists" in second.stdout
    assert "password of site unchanged" in second.stdout
    assert "database site exists, owned by site" in second.stdout
    assert _stored_secret(cluster) == secret

    login = _login(cluster, password)
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == "site site"
    for output in (first, second):
        assert password not in output.stdout + output.stderr


def test_new_password_replaces_the_old(script: Path, cluster: PostgresCluster, pgdata_script: Path) -> None:
    old, new = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    assert _setup(script, cluster, pgdata_script, old).returncode == 0
    rotated = _setup(script, cluster, pgdata_script, new)
    assert rotated.returncode == 0, rotated.stderr
    assert "set the password of site" in rotated.stdout
    assert _login(cluster, new).returncode == 0
    assert "password authentication failed" in _login(cluster, old).stderr


def test_database_owned_by_someone_else_is_handed_over(script: Path, cluster: PostgresCluster, pgdata_script: Path) -> None:
    password = secrets.token_urlsafe(24)
    assert _setup(script, cluster, pgdata_script, password).returncode == 0
    cluster.psql(f"ALTER DATABASE {DATABASE} OWNER TO postgres")
    result = _setup(script, cluster, pgdata_script, password)
    assert result.returncode == 0, result.stderr
    assert "gave database site (was owned by postgres) to site" in result.stdout
    assert cluster.psql(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{DATABASE}'") == ROLE


@pytest.mark.parametrize(("stdin", "message"), [("", "no password on stdin"), ("pässword", "printable ASCII")])
def test_refuses_bad_passwords(script: Path, cluster: PostgresCluster, pgdata_script: Path, stdin: str, message: str) -> None:
    result = _setup(script, cluster, pgdata_script, stdin)
    assert result.returncode == 1
    assert message in result.stderr


def test_refuses_names_that_are_not_identifiers(script: Path, cluster: PostgresCluster) -> None:
    env = {**cluster.client_env, "DB_NAME": "site; DROP TABLE x", "DB_USER": ROLE, "PGDATA_SCRIPT": "/bin/false"}
    result = subprocess.run(["bash", str(script)], input="pw\n", capture_output=True, text=True, env=run_env(env))
    assert result.returncode == 1
    assert "is not a lower-case SQL identifier" in result.stderr
