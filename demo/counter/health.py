"""What /healthz reports: the database decides the status, the cache only informs."""

import secrets

from django.core.cache import cache
from django.db import connections


def check_database() -> str:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure is reported, none is raised
        return f"error: {exc.__class__.__name__}: {str(exc).strip()[:200]}"
    return "ok"


def check_cache() -> str:
    """Write then read a random value: a dead memcached node reads back nothing."""
    token = secrets.token_hex(8)
    try:
        cache.set("healthz:probe", token, 10)
        if cache.get("healthz:probe") != token:
            return "error: the cache did not return the value just written"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}: {str(exc).strip()[:200]}"
    return "ok"
