"""db-pool.sh against a real PostgreSQL 15 cluster and a real PgBouncer: pooled per transaction, over TLS, and taken away.

systemctl is a stand-in that runs PgBouncer as its Debian unit does (as
postgres, with the written pgbouncer.ini); everything else is real.
"""

from __future__ import annotations

import datetime
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from render import steps
from tests.support.services import (
    PG_BIN,
    PG_OS_USER,
    PostgresCluster,
    free_port,
    require_tool,
    run_env,
    scratch_cluster,
    shared_tempdir,
)

ROLE, DATABASE, PASSWORD = "django", "django", "pool-test-password"
POOL_SIZE = 2

SERVICE_CTL = """#!/bin/sh
# systemctl for pgbouncer.service: enabled is a file, active is a live pid.
set -eu
verb="$1"; shift
now=no
for arg in "$@"; do [ "$arg" = --now ] && now=yes; done
pid="$RUN_DIR/pgbouncer.pid"
active() { [ -s "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; }
stop() {
  if active; then kill "$(cat "$pid")"; while active; do sleep 0.1; done; fi
}
start() { runuser -u postgres -- pgbouncer -d -q "$PGBOUNCER_DIR/pgbouncer.ini"; }
case "$verb" in
  is-enabled) [ -e "$RUN_DIR/enabled" ] ;;
  is-active) active ;;
  enable) touch "$RUN_DIR/enabled" ;;
  disable) rm -f "$RUN_DIR/enabled"; if [ "$now" = yes ]; then stop; fi ;;
  start) start ;;
  restart) stop; start ;;
  *) echo "service-ctl: $verb?" >&2; exit 2 ;;
esac
"""


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key PostgreSQL and PgBouncer both read, as the node's snakeoil pair."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "db-1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    for path in (cert_path, key_path):
        subprocess.run(["chown", f"{PG_OS_USER}:", str(path)], check=True)
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[PostgresCluster, dict[str, str]]]:
    require_tool("pgbouncer")
    with scratch_cluster("dt-pg-pool-", start=False) as cluster:
        work = shared_tempdir("dt-pgbouncer-")
        run_dir = work / "run"
        run_dir.mkdir()
        subprocess.run(["chown", f"{PG_OS_USER}:", str(run_dir)], check=True)
        cert, key = _self_signed(work)
        subprocess.run(
            ["runuser", "-u", PG_OS_USER, "--", str(PG_BIN / "pg_ctl"), "-D", str(cluster.data_dir), "-l",
             str(cluster.log_file), "-w", "start", "-o",
             f"-p {cluster.port} -k {cluster.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
             f"-c ssl=on -c ssl_cert_file={cert} -c ssl_key_file={key}"],
            check=True, capture_output=True,
        )
        cluster.psql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'; CREATE DATABASE {DATABASE} OWNER {ROLE};")
        ctl = work / "service-ctl"
        ctl.write_text(SERVICE_CTL)
        ctl.chmod(0o755)
        env = {
            **cluster.client_env, "DB_NAME": DATABASE, "DB_USER": ROLE, "BIND": "loopback",
            "PGBOUNCER_DIR": str(work / "etc"), "RUN_DIR": str(run_dir), "LOG_FILE": str(run_dir / "pgbouncer.log"),
            "SERVER_PORT": str(cluster.port), "LISTEN_PORT": str(free_port()), "TLS_CERT": str(cert), "TLS_KEY": str(key),
            "SERVICE_CTL": str(ctl),
        }
        try:
            yield cluster, env
        finally:
            subprocess.run([str(ctl), "disable", "--now", "pgbouncer.service"], env=run_env(env), check=False)
            subprocess.run(["rm", "-rf", str(work)], check=False)


def _pool(env: dict[str, str], **more: str) -> subprocess.CompletedProcess[str]:
    script = Path(steps.write_all(Path(env["RUN_DIR"]).parent)["db-pool.sh"])
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120, env=run_env({**env, **more}))


def _query(env: dict[str, str], sql: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    """A login through PgBouncer as the app makes it: TLS required, SCRAM with the role's password."""
    dsn = f"host=127.0.0.1 port={env['LISTEN_PORT']} dbname={DATABASE} user={ROLE} sslmode=require connect_timeout=5"
    return subprocess.run(["psql", "-X", "-tA", dsn, "-c", sql], capture_output=True, text=True, timeout=60,
                          env=run_env({"PGPASSWORD": password}))


def test_pooled_serves_many_clients_on_few_server_connections(node) -> None:
    cluster, env = node
    first = _pool(env, POOLED="yes", POOL_SIZE=str(POOL_SIZE), MAX_CLIENT_CONN="20")
    assert first.returncode == 0, first.stderr
    assert "started PgBouncer: 2 server connections for up to 20 clients" in first.stdout
    ini = (Path(env["PGBOUNCER_DIR"]) / "pgbouncer.ini").read_text()
    assert "pool_mode = transaction" in ini and "client_tls_sslmode = require" in ini and "server_tls_sslmode = require" in ini
    assert PASSWORD not in ini + (Path(env["PGBOUNCER_DIR"]) / "userlist.txt").read_text()

    assert _query(env, "SELECT current_user || ' ' || ssl FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
                       "WHERE pid = pg_backend_pid()").stdout.strip() == f"{ROLE} true", "PgBouncer reaches Postgres over TLS"
    assert _query(env, "SELECT 1", password="wrong").returncode != 0

    with ThreadPoolExecutor(6) as pool:
        clients = [pool.submit(_query, env, "SELECT pg_sleep(1)") for _ in range(6)]
        time.sleep(0.5)
        held = int(cluster.psql(f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{ROLE}'"))
        results = [c.result() for c in clients]
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert 1 <= held <= POOL_SIZE, f"6 clients at once held {held} server connections"

    again = _pool(env, POOLED="yes", POOL_SIZE=str(POOL_SIZE), MAX_CLIENT_CONN="20")
    assert again.returncode == 0 and "PgBouncer unchanged" in again.stdout, again.stdout + again.stderr


def test_unpooled_takes_pgbouncer_away(node) -> None:
    _, env = node
    assert _pool(env, POOLED="yes", POOL_SIZE=str(POOL_SIZE), MAX_CLIENT_CONN="20").returncode == 0
    done = _pool(env, POOLED="no")
    assert done.returncode == 0 and "stopped PgBouncer" in done.stdout, done.stderr
    assert _query(env, "SELECT 1").returncode != 0, "nothing listens on PgBouncer's port any more"
    assert "no pool" in _pool(env, POOLED="no").stdout


@pytest.mark.parametrize(("more", "message"), [
    ({"POOLED": "maybe"}, "POOLED must be yes or no"),
    ({"POOLED": "yes", "POOL_SIZE": "0", "MAX_CLIENT_CONN": "20"}, "is not a count"),
    ({"POOLED": "yes", "POOL_SIZE": "2", "MAX_CLIENT_CONN": "20", "BIND": "anywhere"}, "BIND must be"),
    ({"POOLED": "yes", "DB_USER": "no-such"}, "not a lower-case SQL identifier"),
])
def test_refuses_what_it_cannot_do(node, more: dict[str, str], message: str) -> None:
    _, env = node
    done = _pool(env, **more)
    assert done.returncode != 0 and message in done.stderr, done.stderr
