"""The app's environment file: where the database and caches are, and the secrets, for every app node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from model import paths
from model.config import AppSpec
from model.roles import MEMCACHED_PORT, PGBOUNCER_PORT, POSTGRES_PORT
from render.templates import render

TEMPLATE = "steps/app.env.j2"


SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
"""The node's own trust store (Debian's), for boto3 to check Spaces' certificate with instead of certifi's copy."""


@dataclass(frozen=True)
class MediaStore:
    """Where the app keeps uploads: a prefix of the stack's Spaces bucket, and the key that reaches it."""

    bucket: str
    endpoint: str
    """`host` or `host:port`, as the bucket gives it."""
    region: str
    access_key: str
    secret_key: str


DB_SSLMODE = "require"
"""Encrypted, without checking the server's self-signed certificate: verify-full needs a CA the nodes share."""


POOLING = "transaction"
"""How PgBouncer pools, when it is there: per transaction (the app turns server-side cursors off for it)."""


def database_url(host: str, password: str, pooled: bool = False) -> str:
    """Postgres itself, or PgBouncer on the same node when the app tier's connections are pooled."""
    port = PGBOUNCER_PORT if pooled else POSTGRES_PORT
    return (
        f"postgres://{paths.DB_USER}:{quote(password, safe='')}@{host}:{port}/{paths.DB_NAME}"
        f"?sslmode={DB_SSLMODE}"
    )


def render_app_env(
    app: AppSpec,
    db_host: str,
    cache_hosts: Sequence[str],
    allowed_hosts: Sequence[str],
    domain: str | None,
    db_password: str,
    secret_key: str,
    media: MediaStore,
    pooled: bool = False,
) -> str:
    """The file's text; it holds secrets, so it only ever travels on a step's stdin."""
    return render(
        TEMPLATE,
        wsgi=app.wsgi,
        settings=app.settings,
        database_url=database_url(db_host, db_password, pooled),
        database_pooling=POOLING if pooled else "",
        cache_locations=",".join(f"{h}:{MEMCACHED_PORT}" for h in sorted(set(cache_hosts))),
        secret_key=secret_key,
        allowed_hosts=",".join(sorted({*allowed_hosts, *([domain] if domain else [])})),
        csrf_trusted_origins=f"https://{domain}" if domain else "",
        site_https="true" if domain else "false",
        static_root=paths.CURRENT_STATIC,
        media=media,
        media_prefix=paths.MEDIA_PREFIX,
        ca_bundle=SYSTEM_CA_BUNDLE,
    )
