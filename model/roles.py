"""The four roles a node can carry, the ports they serve on, who consumes them, and where they listen."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    WEB = "web"
    APP = "app"
    CACHE = "cache"
    DB = "db"


ROLES: tuple[Role, ...] = tuple(Role)
"""In the order a node's cloud-config merges them."""

APP_PORT = 8000
MEMCACHED_PORT = 11211
POSTGRES_PORT = 5432
PGBOUNCER_PORT = 6432
"""PgBouncer on the db node, in front of Postgres when the app tier's connections would not fit (model/sizing.py)."""
PORTS: dict[Role, tuple[int, ...]] = {
    Role.WEB: (80, 443),
    Role.APP: (APP_PORT,),
    Role.CACHE: (MEMCACHED_PORT,),
    Role.DB: (POSTGRES_PORT, PGBOUNCER_PORT),
}
CONSUMER: dict[Role, Role] = {Role.APP: Role.WEB, Role.CACHE: Role.APP, Role.DB: Role.APP}
"""The role whose nodes connect to each internal role."""


class Bind(enum.StrEnum):
    """Where a consumed role listens on a node: loopback when its only consumer is on the same lone node."""

    LOOPBACK = "loopback"
    PRIVATE = "private"


LOOPBACK_ADDRESS = "127.0.0.1"
