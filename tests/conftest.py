"""Shared pytest setup."""

# Real services on loopback (PostgreSQL, memcached) as fixtures: see tests/services.py.
pytest_plugins = ("tests.services",)
