"""Backups on the local cloud: pgBackRest into the stack's bucket on the host's S3 server, and restores from it.

Point in time: a onebox writes rows around a noted moment, is taken down
with its volume purged, comes back empty, and is restored to that moment.
Across stacks: a split stack restores from the onebox's bucket.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from localcloud import spaces
from localcloud.machine import MachineState, run_in
from localcloud.probe import fetch
from localcloud.stack import down, ensure_secrets
from localcloud.volume import volume_dir
from model import naming, paths
from model.project import stack_config
from tests.localcloud.test_site import TOOLS, _machines, _own_stack, _psql, _up, _wait_healthy
from tests.support.machines import journal
from tests.support.services import require_local_cloud

pytestmark = pytest.mark.localcloud

PITR_STACK = "lctpitr"
SPLIT_STACK = "lctrestore"
TABLE = "pitr_probe"


@pytest.fixture(scope="module", autouse=True)
def _requirements() -> None:
    require_local_cloud(TOOLS)


def _sql(machine: MachineState, sql: str) -> str:
    return _psql(machine, sql)


def _write(machine: MachineState, *rows: int) -> None:
    values = ", ".join(f"({n})" for n in rows)
    _sql(machine, f"INSERT INTO {TABLE} (n) VALUES {values}")


def _rows(machine: MachineState) -> list[int]:
    out = _sql(machine, f"SELECT n FROM {TABLE} ORDER BY n")
    return [int(line) for line in out.split()]


def _pgbackrest(machine: MachineState, *args: str) -> str:
    done = run_in(machine, ["runuser", "-u", "postgres", "--", "pgbackrest", f"--stanza={paths.PGBACKREST_STANZA}", *args])
    return done.stdout.decode()


RESTORE_SECONDS = 900
"""The restore command runs as long as the restore and the new full backup take: on a busy host, more than run_in's two minutes."""


def _restore(machine: MachineState, stack: str, *args: str) -> str:
    """The restore command as the README gives it, with the stack's own password on stdin; what went wrong if it fails."""
    password = ensure_secrets(stack).program_secrets()["dbPassword"]
    done = run_in(machine, [paths.RESTORE_SCRIPT, *args], input_bytes=(password + "\n").encode(),
                  check=False, timeout=RESTORE_SECONDS)
    out = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        log = run_in(machine, ["sh", "-c", "tail -n 40 /var/log/pgbackrest/*.log"], check=False)
        pytest.fail(f"{paths.RESTORE_SCRIPT} {' '.join(args)} exited {done.returncode}\n{out}"
                    f"{done.stderr.decode(errors='replace')}\n--- postgresql\n{journal(machine, '-n', '60', '-u', 'postgresql@*')}"
                    f"\n--- pgbackrest\n{log.stdout.decode(errors='replace')}")
    return out


@pytest.fixture(scope="module")
def pitr_stack() -> Iterator[str]:
    with _own_stack(PITR_STACK, empty_bucket=True) as own:
        yield own


@pytest.fixture(scope="module")
def noted(pitr_stack: str) -> dict[str, object]:
    """Rows 1-3 before a base backup, 4-6 after it, the noted time, then 7-9; the archive flushed."""
    result = _up(pitr_stack, stack_config("onebox"))
    box = _machines(result)["box-1"]
    info = _pgbackrest(box, "info")
    assert "status: ok" in info and "full backup" in info, info
    _sql(box, f"CREATE TABLE {TABLE} (n integer PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
    _write(box, 1, 2, 3)
    started = run_in(box, ["systemctl", "start", paths.BACKUP_UNIT], check=False, timeout=RESTORE_SECONDS)
    assert started.returncode == 0, journal(box, "-u", paths.BACKUP_UNIT, "-n", "40")
    assert _pgbackrest(box, "info").count("full backup") >= 2, "the timer's service took a second full backup"
    _write(box, 4, 5, 6)
    time.sleep(1.5)
    moment = _sql(box, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
    time.sleep(1.5)
    _write(box, 7, 8, 9)
    _pgbackrest(box, "check")  # switches WAL and waits until the segment is in the bucket
    return {"moment": moment, "rows": _rows(box)}


def test_point_in_time_restore_after_the_volume_is_gone(pitr_stack: str, noted: dict[str, object]) -> None:
    assert noted["rows"] == list(range(1, 10))
    down(pitr_stack, purge=True, say=lambda line: None)
    assert not volume_dir(pitr_stack, naming.volume_name(pitr_stack)).exists(), "the volume is gone"
    assert naming.bucket_name(pitr_stack) in {b["Name"] for b in spaces.client().list_buckets()["Buckets"]}

    result = _up(pitr_stack, stack_config("onebox"))
    assert "taken back" in " ".join(r.note for r in result.reports if r.key.endswith("::bucket"))
    box = _machines(result)["box-1"]
    assert _sql(box, f"SELECT to_regclass('{TABLE}') IS NULL") == "t", "the new volume starts empty"
    started = time.monotonic()
    out = _restore(box, pitr_stack, "--time", str(noted["moment"]))
    print(f"[time] restore: {time.monotonic() - started:.1f}s\n{out}")
    assert _rows(box) == [1, 2, 3, 4, 5, 6], "exactly the rows written before the noted time"
    assert _sql(box, "SELECT pg_is_in_recovery()") == "f"
    _wait_healthy(result.url)
    info = _pgbackrest(box, "info")
    assert "status: ok" in info, info


@pytest.fixture(scope="module")
def split_stack() -> Iterator[str]:
    with _own_stack(SPLIT_STACK, empty_bucket=True) as own:
        yield own


def test_a_split_stack_restores_from_the_onebox_bucket(
    pitr_stack: str, noted: dict[str, object], split_stack: str,
) -> None:
    """Runs after the point-in-time restore: the onebox's bucket then holds rows 1-6, and its visits."""
    source = naming.bucket_name(pitr_stack)
    config = {**stack_config("split"), "backups": {"restoreFrom": [source]}}
    result = _up(split_stack, config)
    db = _machines(result)["db-1"]
    assert _sql(db, f"SELECT to_regclass('{TABLE}') IS NULL") == "t"
    started = time.monotonic()
    out = _restore(db, split_stack, "--from", source)
    print(f"[time] restore from {source}: {time.monotonic() - started:.1f}s\n{out}")
    assert _rows(db) == [1, 2, 3, 4, 5, 6]
    assert "set the password" in out, "the split stack's own password replaces the onebox's"
    _wait_healthy(result.url)
    visits = int(_sql(db, "SELECT value FROM counter_counter WHERE name = 'visits'"))
    page = fetch(result.url)
    assert page.status == 200 and f'id="visits">{visits + 1}<' in page.body, "the site counts on from the restored row"
    info = _pgbackrest(db, "info")
    assert "status: ok" in info and info.count("full backup") >= 1, info
    listed = {o["Key"].split("/")[1] for o in spaces.client().list_objects_v2(
        Bucket=naming.bucket_name(split_stack), Prefix="pgbackrest/")["Contents"]}
    assert {"archive", "backup"} <= listed, "the split stack backs the restored cluster up into its own bucket"
