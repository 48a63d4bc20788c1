"""PgBouncer on the local cloud: an app tier grown past what its database holds is pooled, and unpooled again.

The split layout's stack file with a smaller db node and two larger app
nodes: the model's own sizing says their workers would not fit under the db
node's max_connections, so the db-pool step puts PgBouncer in front of
PostgreSQL and the app's DATABASE_URL points at it. Back to one app node, the
workers fit again: a count change, so no droplet is replaced, PgBouncer stops
and the app talks to PostgreSQL directly, while a stream of visitors sees no
error. Every request counted here comes from the internet namespace.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from localcloud.machine import MachineState, read_boot_id, run_in
from localcloud.probe import fetch, finish_load, ports_from_machine, start_load
from localcloud.stack import apply_sets
from localcloud.state import Action
from model import paths
from model.config import parse_config
from model.project import stack_config
from model.roles import PGBOUNCER_PORT, POSTGRES_PORT, Role
from model.sizing import ConnectionPlan, pg_max_connections, plan_connections, tune
from model.topology import build_topology
from sim.keys import new_deploy_key
from tests.localcloud.test_site import (
    SERVED_BY,
    TOOLS,
    _actions,
    _check_limits,
    _machines,
    _own_stack,
    _psql,
    _up,
    _visits,
    _wait_healthy,
)
from tests.support.services import require_local_cloud

pytestmark = pytest.mark.localcloud

STACK = "lctpgb"
SPLIT = stack_config("split")
DB_SIZE = "s-1vcpu-1gb"
"""One step below the split file's s-1vcpu-2gb db node: 24 connections instead of 54."""
APP_SIZE = "s-4vcpu-8gb"
"""Nine gunicorn workers a node: two such nodes are the fewest machines whose workers overflow that db node."""
POOLED = apply_sets(SPLIT, (f"tiers.db.size={DB_SIZE}", f"tiers.app.size={APP_SIZE}", "tiers.app.count=2"))
DIRECT = apply_sets(POOLED, ("tiers.app.count=1",))
"""A count change only: a size change would change those droplets' user-data, and so replace them."""
PGBOUNCER_UNIT = "pgbouncer.service"
PGBOUNCER_INI = "/etc/pgbouncer/pgbouncer.ini"
REQUESTS = 12
"""Pages fetched in a row: enough for both app nodes behind web-1's round robin, and for psycopg to prepare a query it
sees five times on one connection if it were allowed to (through PgBouncer per transaction, that would break)."""

SEEN: dict[str, Any] = {}
"""What the pooled test leaves for the scaled-back one: the machines' boot ids and the last visit count."""


@pytest.fixture(scope="module", autouse=True)
def _requirements() -> None:
    require_local_cloud(TOOLS)


@pytest.fixture(scope="module")
def stack() -> Iterator[str]:
    with _own_stack(STACK) as own:
        yield own


def _clock() -> Callable[[str], None]:
    """Prints the time each named step took since the last one."""
    last = [time.monotonic()]

    def mark(step: str) -> None:
        now = time.monotonic()
        print(f"[time] {step}: {now - last[0]:.1f}s")
        last[0] = now

    return mark


def _plan(config: dict[str, Any]) -> ConnectionPlan:
    """What the program plans for this stack file: each app node's workers from its size, against the db node's limit."""
    topology = build_topology(parse_config(config, STACK, deploy_key=new_deploy_key()[1]))
    workers = tuple(tune(n.size, n.roles).gunicorn_workers for n in topology.nodes_with(Role.APP))
    db = topology.db_node
    return plan_connections(workers, pg_max_connections(tune(db.size, db.roles)))


def test_the_sizes_chosen_pool_two_app_nodes_and_not_one() -> None:
    """Why this stack file: the split file never pools; this one pools with two app nodes, and no longer with one."""
    assert not _plan(SPLIT).pooled, "the split stack file's own app tier fits its db node"
    pooled, direct = _plan(POOLED), _plan(DIRECT)
    assert pooled.pooled, f"two {APP_SIZE} app nodes are {pooled.clients} clients for {pooled.server_limit}: pooled"
    assert not direct.pooled, f"one {APP_SIZE} app node is {direct.clients} clients for {direct.server_limit}: direct"
    smaller = apply_sets(POOLED, (f"tiers.app.size={SPLIT['tiers']['app']['size']}",))
    assert not _plan(smaller).pooled, "the split's own app size would need more machines to pool"
    bigger_db = apply_sets(POOLED, (f"tiers.db.size={SPLIT['tiers']['db']['size']}",))
    assert not _plan(bigger_db).pooled, "the split's own db size holds two such app nodes: the db node must shrink"


def _env(machine: MachineState, path: str = paths.APP_ENV_FILE) -> dict[str, str]:
    text = run_in(machine, ["cat", path]).stdout.decode()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def _running_env(machine: MachineState) -> dict[str, str]:
    """The environment gunicorn's master runs with: what the app really reads, not only what the file says."""
    pid = run_in(machine, ["systemctl", "show", "-p", "MainPID", "--value", paths.APP_UNIT]).stdout.decode().strip()
    assert pid not in ("", "0"), f"{paths.APP_UNIT} runs"
    raw = run_in(machine, ["cat", f"/proc/{pid}/environ"]).stdout.decode()
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def _database(env: dict[str, str]) -> tuple[str, int, str]:
    """DATABASE_URL's host and port (its password stays out of messages), and DATABASE_POOLING."""
    url = urlsplit(env["DATABASE_URL"])
    return str(url.hostname), int(url.port or 0), env.get("DATABASE_POOLING", "")


def _app_connections(db: MachineState) -> dict[str, int]:
    """PostgreSQL's view: the app role's backends by the address they came from."""
    out = _psql(db, f"SELECT coalesce(host(client_addr), 'socket'), count(*) FROM pg_stat_activity "
                    f"WHERE usename = '{paths.DB_USER}' GROUP BY 1 ORDER BY 1")
    return {addr: int(n) for addr, n in (line.split("|") for line in out.splitlines() if line)}


def _pgbouncer_clients(db: MachineState) -> set[str]:
    """The addresses with an established connection to PgBouncer's port on the db node."""
    out = run_in(db, ["ss", "-Htn", "state", "established", f"( sport = :{PGBOUNCER_PORT} )"]).stdout.decode()
    return {line.split()[-1].rsplit(":", 1)[0] for line in out.splitlines() if line.strip()}


def _unit(machine: MachineState, verb: str) -> str:
    return run_in(machine, ["systemctl", verb, PGBOUNCER_UNIT], check=False).stdout.decode().strip()


def _pages(url: str, count: int = REQUESTS) -> list[int]:
    """Visit counts of `count` pages in a row, each a 200."""
    visits = []
    for _ in range(count):
        page = fetch(url)
        assert page.status == 200, f"every page is a 200, not {page.status}: {page.body[:300]}"
        visits.append(_visits(page))
    return visits


def _check_report(url: str) -> None:
    """A fresh URL misses the report's cache, so the aggregates run against the database now."""
    page = fetch(f"{url}report/?run={uuid.uuid4().hex}")
    assert page.status == 200, f"/report/ answers 200, not {page.status}: {page.body[:300]}"
    assert page.headers.get("x-cache") == "miss", "a new URL is rendered from the database, not the cache"
    assert re.search(r'id="sales">\d+<', page.body), f"the report shows its aggregates: {page.body[:300]}"


def test_an_app_tier_past_the_database_goes_through_pgbouncer(stack: str) -> None:
    timed = _clock()
    plan = _plan(POOLED)
    result = _up(stack, POOLED)
    timed("up pooled")
    assert sorted(row.name for row in result.nodes) == ["app-1", "app-2", "cache-1", "db-1", "web-1"], \
        "five droplets: web, two app nodes, cache, db"
    _check_limits(result)
    machines = _machines(result)
    address = {row.name: row.address for row in result.nodes}
    apps = ("app-1", "app-2")
    db = machines["db-1"]

    assert _unit(db, "is-active") == "active", f"PgBouncer runs on db-1: {_unit(db, 'status')}"
    assert _unit(db, "is-enabled") == "enabled", "PgBouncer starts again with db-1"
    ini = run_in(db, ["cat", PGBOUNCER_INI]).stdout.decode()
    for line in ("pool_mode = transaction", f"default_pool_size = {plan.pool_size}",
                 f"max_client_conn = {plan.max_client_conn}", f"listen_port = {PGBOUNCER_PORT}"):
        assert line in ini, f"pgbouncer.ini says '{line}', as the plan has it:\n{ini}"
    assert ports_from_machine(machines["app-1"], [f"{address['db-1']}:{PGBOUNCER_PORT}"]) == {
        f"{address['db-1']}:{PGBOUNCER_PORT}": "open"}, "app-1 reaches PgBouncer on db-1's private address"

    for name in apps:
        written, running = _database(_env(machines[name])), _database(_running_env(machines[name]))
        expected = (address["db-1"], PGBOUNCER_PORT, "transaction")
        assert written == expected, f"{name}'s {paths.APP_ENV_FILE}: DATABASE_URL at PgBouncer {expected}, not {written}"
        assert running == expected, f"{name}'s gunicorn runs with PgBouncer's URL {expected}, not {running}"

    _wait_healthy(result.url)
    visits = _pages(result.url)
    assert visits == list(range(visits[0], visits[0] + REQUESTS)), f"each page counts one more visit: {visits}"
    served_by = {SERVED_BY.search(fetch(result.url).body).group(1) for _ in range(6)}
    assert served_by == set(apps), f"both app nodes serve, and write, through PgBouncer: {served_by}"
    _check_report(result.url)

    clients = _pgbouncer_clients(db)
    assert clients == {address[n] for n in apps}, \
        f"PgBouncer's clients are the app nodes {[address[n] for n in apps]}, not {sorted(clients)}"
    backends = _app_connections(db)
    assert set(backends) == {"127.0.0.1"}, \
        f"every app backend comes from PgBouncer on db-1's loopback, none from the app nodes: {backends}"
    assert 1 <= backends["127.0.0.1"] <= plan.pool_size, f"at most the pool's {plan.pool_size} backends: {backends}"
    timed("checks")

    SEEN["boot_ids"] = {name: read_boot_id(m) for name, m in machines.items()}
    SEEN["visits"] = _visits(fetch(result.url))
    SEEN["url"] = result.url


def test_back_to_one_app_node_the_app_talks_to_postgres_again(stack: str) -> None:
    """A count change: nothing replaced, PgBouncer stops, and visitors see no error while the app leaves it."""
    assert SEEN, "runs after the pooled test, on its stack"
    timed = _clock()
    _wait_healthy(SEEN["url"])
    load = start_load(SEEN["url"], seconds=900)
    try:
        result = _up(stack, DIRECT)
        timed("up direct, under load")
        time.sleep(3)
    finally:
        counts = finish_load(load, early=True)
    print(f"requests while the app tier left PgBouncer: {counts}")
    assert result.url == SEEN["url"], "web-1 is still the public entry"

    droplets = _actions(result, "Droplet")
    assert droplets.pop("app-2") == Action.DESTROYED, "the second app node goes"
    assert set(droplets.values()) == {Action.KEPT}, f"no other droplet is replaced or touched: {droplets}"
    assert _actions(result, "Volume")["pgdata"] == Action.KEPT, "the data volume stays"
    machines = _machines(result)
    assert sorted(machines) == ["app-1", "cache-1", "db-1", "web-1"], "four droplets left"
    booted = {name: read_boot_id(m) for name, m in machines.items()}
    kept = {name: SEEN["boot_ids"][name] for name in booted}
    assert booted == kept, "no surviving machine rebooted"
    address = {row.name: row.address for row in result.nodes}
    db, app = machines["db-1"], machines["app-1"]

    assert _unit(db, "is-active") != "active", f"PgBouncer is stopped on db-1: {_unit(db, 'status')}"
    assert _unit(db, "is-enabled") != "enabled", "PgBouncer stays off when db-1 boots again"
    assert ports_from_machine(app, [f"{address['db-1']}:{PGBOUNCER_PORT}"]) != {
        f"{address['db-1']}:{PGBOUNCER_PORT}": "open"}, "nothing listens on PgBouncer's port any more"
    expected = (address["db-1"], POSTGRES_PORT, "")
    written, running = _database(_env(app)), _database(_running_env(app))
    assert written == expected, f"app-1's {paths.APP_ENV_FILE}: DATABASE_URL straight at PostgreSQL {expected}, not {written}"
    assert running == expected, f"app-1's gunicorn runs with PostgreSQL's own URL {expected}, not {running}"

    _wait_healthy(result.url)
    visits = _pages(result.url)
    assert visits[0] > SEEN["visits"], f"the counter goes on from {SEEN['visits']} (the load's visits between): {visits}"
    assert visits == list(range(visits[0], visits[0] + REQUESTS)), f"each page counts one more visit: {visits}"
    assert SERVED_BY.search(fetch(result.url).body).group(1) == "app-1", "app-1 alone serves"
    _check_report(result.url)
    backends = _app_connections(db)
    assert set(backends) == {address["app-1"]}, \
        f"the app's backends come straight from app-1 ({address['app-1']}), none through PgBouncer: {backends}"
    timed("checks")

    assert counts["ok"] > 0, f"the stream of visitors got pages while the app tier changed: {counts}"
    assert counts["non2xx"] == 0 and counts["failed"] == 0, \
        f"no visitor sees an error while the app leaves PgBouncer and it stops: {counts}"
