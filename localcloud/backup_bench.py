"""python -m localcloud.backup_bench <stack> [--mb 1024]: how long a base backup and a restore take, locally.

A benchmark, not a test: it fills the stack's database (a running local
stack; onebox is the usual one) with about `--mb` megabytes of rows that do
not compress away, then times a full base backup through the backup
service, and a restore of it into an empty data directory (as after a lost
volume: pgBackRest fetches every file, where the restore command's --delta
would skip the unchanged ones) until PostgreSQL accepts writes again, both
against the host's S3 server. The figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import sys
import time

from localcloud.machine import MachineState, is_running, load_state, run_in
from localcloud.stack import nodes
from model import paths

TABLE = "bench_filler"
LONG = 3600
"""Seconds any one command may take: writing, backing up or restoring a gigabyte takes minutes, not run_in's default two."""
ROW_BYTES = 1024
"""Each row: 32 random hex digits times 30, and its key."""


def _db(stack: str) -> MachineState:
    for row in nodes(stack):
        machine = load_state(row.machine)
        if "db" in row.roles and machine is not None and is_running(machine):
            return machine
    raise SystemExit(f"stack {stack} has no running db node: `python -m localcloud up {stack}` first")


def _sql(machine: MachineState, sql: str) -> str:
    done = run_in(machine, ["runuser", "-u", "postgres", "--", "psql", "-X", "-tA", "-d", paths.DB_NAME, "-c", sql], timeout=LONG)
    return done.stdout.decode().strip()


def _timed(label: str, action) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    action()
    seconds = time.monotonic() - started
    print(f"{label}: {seconds:.1f}s", flush=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.backup_bench", description=__doc__.splitlines()[0])
    parser.add_argument("stack")
    parser.add_argument("--mb", type=int, default=1024, help="how much data to write first (default 1024)")
    args = parser.parse_args(argv)
    db = _db(args.stack)
    rows = args.mb * 1024 * 1024 // ROW_BYTES
    _sql(db, f"DROP TABLE IF EXISTS {TABLE}")
    _timed(f"write {rows} rows", lambda: _sql(db, (
        f"CREATE TABLE {TABLE} AS SELECT g AS id, "
        # i makes the aggregate the subquery's own, g makes it run again for every row.
        "(SELECT string_agg(md5(random()::text || (i + g)::text), '') FROM generate_series(1, 30) AS s(i)) AS payload "
        f"FROM generate_series(1, {rows}) AS g"
    )))
    size = _sql(db, "SELECT pg_size_pretty(pg_database_size(current_database()))")
    print(f"database size: {size}", flush=True)
    backup = _timed("full base backup", lambda: run_in(db, ["systemctl", "start", paths.BACKUP_UNIT], timeout=LONG))
    unit = f"postgresql@{paths.PG_VERSION}-main.service"
    run_in(db, ["systemctl", "stop", unit])
    run_in(db, ["find", paths.PG_DATA_DIR, "-mindepth", "1", "-delete"], timeout=LONG)

    def restore_and_promote() -> None:
        run_in(db, ["runuser", "-u", "postgres", "--", "pgbackrest", f"--stanza={paths.PGBACKREST_STANZA}", "restore"], timeout=LONG)
        run_in(db, ["systemctl", "start", unit], timeout=LONG)
        while _sql(db, "SELECT pg_is_in_recovery()") != "f":
            time.sleep(0.5)

    restore = _timed("restore into an empty data directory, until writable", restore_and_promote)
    count = _sql(db, f"SELECT count(*) FROM {TABLE}")
    print(f"rows after the restore: {count}")
    print(f"summary: {size}, backup {backup:.1f}s, restore {restore:.1f}s")
    return 0 if int(count) == rows else 1


if __name__ == "__main__":
    sys.exit(main())
