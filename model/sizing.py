"""How big each service may be on a node, from the node's size and the roles it carries.

The answer depends only on the node itself (its size slug and its roles), so
it can go into user-data without breaking invariant 1. Memory is shared out
by weight among the colocated roles after a reserve for the OS, so a box that
runs everything gets smaller pools than a node that runs one role.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.roles import ROLES, Role
from model.sizes import SIZES

MIN_MEMORY_MB = 512
"""The smallest droplet DigitalOcean sells; below it the reserve would eat everything."""

OS_BASE_RESERVE_MB = 192
"""Kernel, systemd, sshd, cloud-init, apt: what the OS needs before any role runs."""

OS_RESERVE_DIVISOR = 16
"""Plus 1/16 of memory for page tables and kernel buffers that grow with the machine."""

ROLE_WEIGHTS: dict[Role, int] = {Role.WEB: 1, Role.APP: 4, Role.CACHE: 2, Role.DB: 3}
"""nginx needs little; gunicorn workers and Postgres need the most."""

WORKER_MB = 100
"""Resident size of one gunicorn worker running a typical Django project."""

SWAP_BELOW_MB = 2048
"""Nodes with less memory than this get a swap file, to survive package installs and spikes."""

MIN_SWAP_MB = 1024


@dataclass(frozen=True)
class Tuning:
    """What the node's services are told to use; every size is in MB."""

    memory_mb: int
    os_reserve_mb: int
    shares: tuple[tuple[Role, int], ...]
    gunicorn_workers: int
    memcached_mb: int
    pg_shared_buffers_mb: int
    pg_effective_cache_size_mb: int
    swap_mb: int

    @property
    def needs_swap(self) -> bool:
        return self.swap_mb > 0

    def share(self, role: Role) -> int:
        """MB set aside for `role` on this node; 0 when the node does not carry it."""
        return dict(self.shares).get(role, 0)


def tune(size_slug: str, roles: tuple[Role, ...]) -> Tuning:
    """Tuning for a node of DigitalOcean size `size_slug` carrying `roles`."""
    size = SIZES[size_slug]
    return tune_for(size.vcpus, size.memory_mb, roles)


def tune_for(vcpus: int, memory_mb: int, roles: tuple[Role, ...]) -> Tuning:
    """The arithmetic behind tune(), open to any machine shape so it can be property-tested."""
    if vcpus < 1:
        raise ValueError(f"vcpus must be at least 1, not {vcpus}")
    if memory_mb < MIN_MEMORY_MB:
        raise ValueError(f"memory_mb must be at least {MIN_MEMORY_MB}, not {memory_mb}")
    if not roles or any(r not in ROLES for r in roles) or len(set(roles)) != len(roles):
        raise ValueError(f"roles must be a non-empty list without repeats of {', '.join(ROLES)}, not {roles!r}")
    reserve = OS_BASE_RESERVE_MB + memory_mb // OS_RESERVE_DIVISOR
    available = memory_mb - reserve
    ordered = tuple(r for r in ROLES if r in roles)
    total_weight = sum(ROLE_WEIGHTS[r] for r in ordered)
    shares = tuple((r, available * ROLE_WEIGHTS[r] // total_weight) for r in ordered)
    by_role = dict(shares)
    app_mb = by_role.get(Role.APP, 0)
    db_mb = by_role.get(Role.DB, 0)
    return Tuning(
        memory_mb=memory_mb,
        os_reserve_mb=reserve,
        shares=shares,
        gunicorn_workers=max(1, min(2 * vcpus + 1, app_mb // WORKER_MB)) if app_mb else 0,
        memcached_mb=by_role.get(Role.CACHE, 0),
        pg_shared_buffers_mb=db_mb // 4,
        pg_effective_cache_size_mb=db_mb * 3 // 4,
        swap_mb=max(MIN_SWAP_MB, memory_mb) if memory_mb < SWAP_BELOW_MB else 0,
    )


PG_BACKEND_MB = 32
"""What Postgres should set aside per connection it holds: a backend's own memory and its share of work_mem."""

PG_MIN_CONNECTIONS = 20
PG_MAX_CONNECTIONS = 100
"""Postgres's own default: past it, more backends contend more than they serve, whatever the memory."""

PG_RESERVED_CONNECTIONS = 5
"""superuser_reserved_connections (3) and the deploy steps' own (migrate, collectstatic)."""

STEP_CONNECTIONS = 2
"""Clients besides gunicorn's workers: a migrate or collectstatic run during a deploy."""

POOL_CLIENT_HEADROOM = 2
"""PgBouncer admits this many times the clients the app tier has, so a rolling restart's overlap fits."""


def pg_max_connections(tuning: Tuning) -> int:
    """max_connections for the node's Postgres, from the memory its db share has."""
    return max(PG_MIN_CONNECTIONS, min(PG_MAX_CONNECTIONS, tuning.share(Role.DB) // PG_BACKEND_MB))


@dataclass(frozen=True)
class ConnectionPlan:
    """How the app tier's connections reach Postgres: directly, or through PgBouncer when they would not fit.

    `pool_size` is how many server connections the app's database may use:
    all the app's share of max_connections. Through PgBouncer, clients hold
    a server connection only for the length of a transaction.
    """

    clients: int
    server_limit: int
    pooled: bool
    pool_size: int
    max_client_conn: int


def plan_connections(workers_per_app_node: tuple[int, ...], max_connections: int) -> ConnectionPlan:
    """Each app node's gunicorn workers hold one persistent connection; past the db's limit, PgBouncer pools them."""
    if not workers_per_app_node or min(workers_per_app_node) < 1:
        raise ValueError(f"every app node has at least one worker, not {workers_per_app_node!r}")
    if max_connections <= PG_RESERVED_CONNECTIONS:
        raise ValueError(f"max_connections must exceed the {PG_RESERVED_CONNECTIONS} reserved, not {max_connections}")
    clients = sum(workers_per_app_node) + STEP_CONNECTIONS
    limit = max_connections - PG_RESERVED_CONNECTIONS
    pooled = clients > limit
    return ConnectionPlan(
        clients=clients,
        server_limit=limit,
        pooled=pooled,
        pool_size=limit if pooled else 0,
        max_client_conn=clients * POOL_CLIENT_HEADROOM if pooled else 0,
    )
