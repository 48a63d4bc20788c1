"""The app's environment file: where the database and caches are, and the secrets, for every app node."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import jinja2

from components import paths
from components.config import AppSpec
from components.topology import PORTS

TEMPLATE = Path(__file__).resolve().parent.parent / "steps" / "templates" / "app.env.j2"
PG_PORT = PORTS["db"][0]
MEMCACHED_PORT = PORTS["cache"][0]


def database_url(host: str, password: str) -> str:
    return f"postgres://{paths.DB_USER}:{quote(password, safe='')}@{host}:{PG_PORT}/{paths.DB_NAME}"


def render_app_env(
    app: AppSpec,
    db_host: str,
    cache_hosts: Sequence[str],
    allowed_hosts: Sequence[str],
    domain: str | None,
    db_password: str,
    secret_key: str,
) -> str:
    """The file's text; it holds secrets, so it only ever travels on a step's stdin."""
    template = jinja2.Template(TEMPLATE.read_text(), undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return template.render(
        wsgi=app.wsgi,
        settings=app.settings,
        database_url=database_url(db_host, db_password),
        cache_locations=",".join(f"{h}:{MEMCACHED_PORT}" for h in sorted(set(cache_hosts))),
        secret_key=secret_key,
        allowed_hosts=",".join(sorted({*allowed_hosts, *([domain] if domain else [])})),
        csrf_trusted_origins=f"https://{domain}" if domain else "",
        static_root=paths.STATIC_ROOT,
        media_root=paths.MEDIA_ROOT,
    )
