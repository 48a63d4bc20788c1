"""Sizing: shares fit in memory, pools follow the roles a node carries, bigger machines never get less."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.roles import ROLES
from model.sizes import SIZES
from model.sizing import (
    MIN_MEMORY_MB,
    PG_RESERVED_CONNECTIONS,
    STEP_CONNECTIONS,
    SWAP_BELOW_MB,
    ConnectionPlan,
    pg_max_connections,
    plan_connections,
    tune,
    tune_for,
)

ROLE_SETS = [tuple(c) for n in range(1, len(ROLES) + 1) for c in combinations(ROLES, n)]

role_sets = st.sampled_from(ROLE_SETS)
vcpus = st.integers(min_value=1, max_value=64)
memory = st.integers(min_value=MIN_MEMORY_MB, max_value=256 * 1024)


@given(vcpus, memory, role_sets)
def test_shares_and_reserve_never_exceed_memory(cpus: int, mem: int, roles: tuple[str, ...]) -> None:
    t = tune_for(cpus, mem, roles)
    assert t.os_reserve_mb > 0
    assert sum(mb for _, mb in t.shares) + t.os_reserve_mb <= mem
    assert all(mb > 0 for _, mb in t.shares)
    assert t.pg_shared_buffers_mb + t.pg_effective_cache_size_mb <= t.share("db")
    assert t.memcached_mb <= t.share("cache")


@given(vcpus, memory, role_sets)
def test_pools_exist_only_for_carried_roles(cpus: int, mem: int, roles: tuple[str, ...]) -> None:
    t = tune_for(cpus, mem, roles)
    assert [r for r, _ in t.shares] == [r for r in ROLES if r in roles]
    assert (t.gunicorn_workers >= 1) == ("app" in roles)
    assert (t.memcached_mb > 0) == ("cache" in roles)
    assert (t.pg_shared_buffers_mb > 0) == ("db" in roles)
    assert (t.pg_effective_cache_size_mb > 0) == ("db" in roles)


@given(vcpus, memory, role_sets)
def test_workers_bounded_by_cpus(cpus: int, mem: int, roles: tuple[str, ...]) -> None:
    t = tune_for(cpus, mem, ("app", *roles) if "app" not in roles else roles)
    assert 1 <= t.gunicorn_workers <= 2 * cpus + 1


@given(vcpus, memory, st.integers(min_value=0, max_value=64 * 1024), role_sets)
def test_monotone_in_memory(cpus: int, mem: int, extra: int, roles: tuple[str, ...]) -> None:
    small, big = tune_for(cpus, mem, roles), tune_for(cpus, mem + extra, roles)
    for role in roles:
        assert big.share(role) >= small.share(role)
    assert big.gunicorn_workers >= small.gunicorn_workers
    assert big.memcached_mb >= small.memcached_mb
    assert big.pg_shared_buffers_mb >= small.pg_shared_buffers_mb
    assert big.pg_effective_cache_size_mb >= small.pg_effective_cache_size_mb


@given(vcpus, st.integers(min_value=1, max_value=63), memory, role_sets)
def test_monotone_in_cpus(cpus: int, more: int, mem: int, roles: tuple[str, ...]) -> None:
    assert tune_for(cpus + more, mem, roles).gunicorn_workers >= tune_for(cpus, mem, roles).gunicorn_workers


@given(vcpus, memory, role_sets, role_sets)
def test_colocating_a_role_never_grows_the_others(cpus: int, mem: int, a: tuple[str, ...], b: tuple[str, ...]) -> None:
    alone = tune_for(cpus, mem, a)
    together = tune_for(cpus, mem, tuple(r for r in ROLES if r in a or r in b))
    for role in a:
        assert together.share(role) <= alone.share(role)


@given(vcpus, memory, role_sets)
def test_swap_only_on_small_machines(cpus: int, mem: int, roles: tuple[str, ...]) -> None:
    t = tune_for(cpus, mem, roles)
    assert t.needs_swap == (mem < SWAP_BELOW_MB)
    assert t.swap_mb == 0 or t.swap_mb >= mem


def test_every_size_slug_tunes() -> None:
    for slug, size in SIZES.items():
        t = tune(slug, ROLES)
        assert t.memory_mb == size.memory_mb
        assert t == tune_for(size.vcpus, size.memory_mb, ROLES)


def test_examples() -> None:
    app_only = tune("s-2vcpu-4gb", ("app",))
    assert app_only.gunicorn_workers == 5
    assert not app_only.needs_swap
    tiny_box = tune("s-1vcpu-512mb-10gb", ROLES)
    assert tiny_box.gunicorn_workers == 1
    assert tiny_box.needs_swap and tiny_box.swap_mb == 1024
    db_only = tune("s-4vcpu-8gb", ("db",))
    assert db_only.share("db") == 8192 - 192 - 512
    assert db_only.pg_shared_buffers_mb == db_only.share("db") // 4
    assert tune("s-1vcpu-2gb", ("cache",)).memcached_mb > tune("s-1vcpu-2gb", ("web", "app", "cache")).memcached_mb


@pytest.mark.parametrize(
    "args",
    [(0, 1024, ("app",)), (1, MIN_MEMORY_MB - 1, ("app",)), (1, 1024, ()), (1, 1024, ("app", "app")), (1, 1024, ("mail",))],
)
def test_rejects_impossible_machines(args: tuple[int, int, tuple[str, ...]]) -> None:
    with pytest.raises(ValueError):
        tune_for(*args)


def test_unknown_slug_is_refused() -> None:
    with pytest.raises(KeyError):
        tune("s-99vcpu-1tb", ("app",))


# Postgres connections --------------------------------------------------------------

@pytest.mark.parametrize(("size", "roles", "expected"), [
    # db share = memory - (192 + memory/16), split by weight; / 32 MB a connection, within 20..100.
    ("s-1vcpu-512mb-10gb", ("db",), 20),       # 512 - 224 = 288 MB: 9, raised to the floor
    ("s-1vcpu-2gb", ("db",), 54),              # 2048 - 320 = 1728 MB: 54
    ("s-2vcpu-4gb", ("db",), 100),             # 3648 MB: 114, capped at Postgres's default
    ("s-2vcpu-4gb", ("web", "app", "cache", "db"), 34),  # 3648 * 3/10 = 1094 MB: 34
])
def test_max_connections_follow_the_db_share(size: str, roles: tuple[str, ...], expected: int) -> None:
    assert pg_max_connections(tune(size, roles)) == expected


def test_a_small_tier_connects_directly() -> None:
    plan = plan_connections((3, 3, 3), 100)
    assert plan == ConnectionPlan(clients=11, server_limit=95, pooled=False, pool_size=0, max_client_conn=0)


def test_eighty_app_nodes_fit_through_pgbouncer() -> None:
    """80 app nodes of the default size, 3 workers each, against the pool's default db node."""
    workers = tune("s-1vcpu-2gb", ("app",)).gunicorn_workers
    db = pg_max_connections(tune("s-2vcpu-4gb", ("db",)))
    plan = plan_connections((workers,) * 80, db)
    assert (workers, db) == (3, 100)
    assert plan.clients == 242 and plan.pooled
    assert plan.pool_size + PG_RESERVED_CONNECTIONS <= db, "the pool never asks Postgres for more than it holds"
    assert plan.max_client_conn >= plan.clients, "every worker gets in"


def test_the_limit_is_where_pooling_starts() -> None:
    limit = 100 - PG_RESERVED_CONNECTIONS
    assert not plan_connections((limit - STEP_CONNECTIONS,), 100).pooled
    assert plan_connections((limit - STEP_CONNECTIONS + 1,), 100).pooled


@given(st.lists(st.integers(min_value=1, max_value=33), min_size=1, max_size=200), st.integers(min_value=6, max_value=100))
def test_a_plan_always_fits_postgres(workers: list[int], max_connections: int) -> None:
    plan = plan_connections(tuple(workers), max_connections)
    assert plan.pool_size + PG_RESERVED_CONNECTIONS <= max_connections
    assert plan.pooled or plan.clients + PG_RESERVED_CONNECTIONS <= max_connections
    assert not plan.pooled or plan.max_client_conn >= plan.clients


@pytest.mark.parametrize(("workers", "max_connections", "message"), [
    ((), 100, "at least one worker"), ((0,), 100, "at least one worker"), ((3,), 5, "must exceed"),
])
def test_plans_refuse_what_cannot_be(workers: tuple[int, ...], max_connections: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_connections(workers, max_connections)
