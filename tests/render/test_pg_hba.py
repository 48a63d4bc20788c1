"""The rendered pg_hba.conf on a real PostgreSQL: over TCP, only the app's role, only its database, only over TLS."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator

import pytest

from localcloud.certificate import self_signed
from model import paths
from model.topology import Topology
from render.app_env import database_url
from render.userdata import PG_HBA_STAGED, rendered_files
from tests.support.services import PG_OS_USER, PostgresCluster, scratch_cluster

APP_PASSWORD = "app-pw-7c2e1b9d"


def _self_signed(directory) -> None:
    """A certificate like Debian's snakeoil: self-signed, for the node's name."""
    chain, key = self_signed("db-1")
    (directory / "server.crt").write_bytes(chain)
    (directory / "server.key").write_bytes(key)
    for name in ("server.crt", "server.key"):
        shutil.chown(directory / name, PG_OS_USER)
        (directory / name).chmod(0o600)


@pytest.fixture(scope="module")
def cluster(render_topology: Callable[..., Topology]) -> Iterator[PostgresCluster]:
    topology = render_topology("onebox")
    hba = rendered_files(topology.nodes[0], topology)[PG_HBA_STAGED]
    with scratch_cluster("dt-pghba-", start=False) as cluster:
        _self_signed(cluster.data_dir)
        (cluster.data_dir / "pg_hba.conf").write_text(hba)
        with open(cluster.data_dir / "postgresql.conf", "a") as conf:
            conf.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        cluster.start()
        cluster.psql(f"CREATE ROLE {paths.DB_USER} LOGIN PASSWORD '{APP_PASSWORD}'")
        cluster.psql(f"CREATE DATABASE {paths.DB_NAME} OWNER {paths.DB_USER}")
        yield cluster


def _connects(cluster: PostgresCluster, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return subprocess.run(["psql", "-X", "-tA", "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", url],
                          capture_output=True, text=True, env=env, timeout=30)


def _url(cluster: PostgresCluster, user: str, password: str, database: str, sslmode: str) -> str:
    return f"postgresql://{user}:{password}@127.0.0.1:{cluster.port}/{database}?sslmode={sslmode}"


def test_the_app_s_own_url_connects_over_tls(cluster):
    url = database_url("127.0.0.1", APP_PASSWORD).replace(":5432/", f":{cluster.port}/")
    done = _connects(cluster, url)
    assert done.returncode == 0 and done.stdout.strip() == "t", done.stderr


@pytest.mark.parametrize(
    "user, database, sslmode, why",
    [
        (paths.DB_USER, paths.DB_NAME, "disable", "no TLS"),
        (PG_OS_USER, paths.DB_NAME, "require", "the admin role over TCP"),
        (paths.DB_USER, "postgres", "require", "another database"),
    ],
)
def test_everything_else_over_tcp_is_refused(cluster, user, database, sslmode, why):
    password = cluster.password if user == PG_OS_USER else APP_PASSWORD
    done = _connects(cluster, _url(cluster, user, password, database, sslmode))
    assert done.returncode != 0, why
    assert "no pg_hba.conf entry" in done.stderr, done.stderr
