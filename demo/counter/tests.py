"""Behaviour of the demo against the services named in the environment.

Run with DATABASE_URL pointing at PostgreSQL and CACHE_LOCATIONS at one or
more memcached servers; the project's pytest suite starts real ones.
"""

import json
import socket
import unittest
from unittest import mock

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connections
from django.test import TestCase, override_settings
from pymemcache.client.base import Client as MemcacheClient

from counter.middleware import HEALTH_PATH
from counter.models import Counter, Sale
from counter.views import COUNTER_NAME, FRAGMENT_KEY

FOREIGN_HOST = "203.0.113.9"
needs_memcached = unittest.skipUnless(settings.CACHE_LOCATIONS, "CACHE_LOCATIONS is empty")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PageTests(TestCase):
    def setUp(self) -> None:
        cache.clear()

    def test_each_request_increments_the_counter_once(self) -> None:
        first = self.client.get("/", HTTP_HOST=settings.ALLOWED_HOSTS[0])
        second = self.client.get("/", HTTP_HOST=settings.ALLOWED_HOSTS[0])
        self.assertEqual(first.status_code, 200)
        self.assertEqual(Counter.objects.get(name=COUNTER_NAME).value, 2)
        self.assertContains(second, '<strong id="visits">2</strong>', html=False)

    def test_page_links_static_files_by_their_content_hashed_names(self) -> None:
        response = self.client.get("/", HTTP_HOST=settings.ALLOWED_HOSTS[0])
        self.assertRegex(response.content.decode(), r'href="/static/counter/site\.[0-9a-f]{12}\.css"')
        self.assertRegex(response.content.decode(), r'src="/static/counter/tiers\.[0-9a-f]{12}\.svg"')

    def test_page_rejects_unknown_host(self) -> None:
        self.assertEqual(self.client.get("/", HTTP_HOST=FOREIGN_HOST).status_code, 400)

    @needs_memcached
    def test_fragment_is_a_miss_then_a_hit_then_a_miss_once_evicted(self) -> None:
        host = settings.ALLOWED_HOSTS[0]
        self.assertEqual(self.client.get("/", HTTP_HOST=host)["X-Cache"], "miss")
        self.assertEqual(self.client.get("/", HTTP_HOST=host)["X-Cache"], "hit")
        cache.delete(FRAGMENT_KEY)
        self.assertEqual(self.client.get("/", HTTP_HOST=host)["X-Cache"], "miss")

    @needs_memcached
    def test_fragment_lives_in_memcached(self) -> None:
        self.client.get("/", HTTP_HOST=settings.ALLOWED_HOSTS[0])
        stored = [
            MemcacheClient(_host_port(location)).get(cache.make_and_validate_key(FRAGMENT_KEY))
            for location in settings.CACHE_LOCATIONS
        ]
        self.assertEqual(sum(value is not None for value in stored), 1)

    @unittest.skipUnless(len(settings.CACHE_LOCATIONS) > 1, "needs several CACHE_LOCATIONS")
    def test_keys_are_sharded_across_locations(self) -> None:
        for number in range(64):
            cache.set(f"shard-probe-{number}", number, 30)
        items = [
            int(MemcacheClient(_host_port(location)).stats()[b"curr_items"])
            for location in settings.CACHE_LOCATIONS
        ]
        self.assertTrue(all(count > 0 for count in items), items)
        self.assertGreaterEqual(sum(items), 64)


class ReportTests(TestCase):
    """The report: aggregates over the seeded sales, rendered once and then served from the cache."""

    def setUp(self) -> None:
        cache.clear()

    def test_migration_seeds_a_few_thousand_sales(self) -> None:
        self.assertGreaterEqual(Sale.objects.count(), 3000)
        self.assertGreater(Sale.objects.values("product").distinct().count(), 100)

    def test_report_shows_the_aggregates_of_every_sale(self) -> None:
        rows = list(Sale.objects.values_list("region", "quantity", "unit_price_cents"))
        revenue = sum(q * p for _, q, p in rows)
        north = [(q, p) for r, q, p in rows if r == "north"]
        response = self.client.get("/report/", HTTP_HOST=settings.ALLOWED_HOSTS[0])
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, f'<strong id="sales">{len(rows)}</strong>', html=False)
        self.assertContains(response, f'<strong id="revenue">{revenue}</strong>', html=False)
        self.assertContains(
            response, f"<tr><td>north</td><td>{len(north)}</td><td>{sum(q for q, _ in north)}</td>"
            f"<td>{sum(q * p for q, p in north)}</td>", html=False,
        )
        products = response.content.decode().split('<table id="products">')[1]
        self.assertEqual(products.count("<tr><td>product-"), Sale.objects.values("product").distinct().count())

    @needs_memcached
    def test_report_is_a_miss_then_the_same_bytes_from_the_cache_without_a_query(self) -> None:
        host = settings.ALLOWED_HOSTS[0]
        first = self.client.get("/report/", HTTP_HOST=host)
        with self.assertNumQueries(0):
            second = self.client.get("/report/", HTTP_HOST=host)
        self.assertEqual((first["X-Cache"], second["X-Cache"]), ("miss", "hit"))
        self.assertEqual(first.content, second.content)
        self.assertEqual(self.client.get("/report/?other", HTTP_HOST=host)["X-Cache"], "miss")


class HealthTests(TestCase):
    def test_answers_any_host_with_json(self) -> None:
        response = self.client.get(HEALTH_PATH, HTTP_HOST=FOREIGN_HOST)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "application/json")
        self.assertEqual(json.loads(response.content), {"status": "ok"})

    def test_database_outage_is_an_error_whose_details_only_the_log_sees(self) -> None:
        outage = OperationalError('connection to server at "10.10.1.5", port 5432 failed: Connection refused')
        with (
            mock.patch.object(connections["default"], "cursor", side_effect=outage),
            self.assertLogs("counter.health", "ERROR") as logged,
        ):
            response = self.client.get(HEALTH_PATH, HTTP_HOST=FOREIGN_HOST)
        self.assertEqual(response.status_code, 503)
        self.assertEqual(json.loads(response.content), {"status": "error"})
        self.assertIn("OperationalError", logged.output[0])
        self.assertIn("10.10.1.5", logged.output[0])

    def test_cache_down_keeps_the_node_healthy(self) -> None:
        dead = {
            "default": {
                "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
                "LOCATION": [f"127.0.0.1:{_closed_port()}"],
                "OPTIONS": settings.CACHES["default"].get("OPTIONS", {"ignore_exc": True}),
            }
        }
        with override_settings(CACHES=dead):
            health = self.client.get(HEALTH_PATH, HTTP_HOST=FOREIGN_HOST)
            page = self.client.get("/", HTTP_HOST=settings.ALLOWED_HOSTS[0])
        self.assertEqual(health.status_code, 200)
        self.assertEqual(json.loads(health.content), {"status": "ok"})
        self.assertEqual(page.status_code, 200)
        self.assertEqual(page["X-Cache"], "miss")

    @needs_memcached
    def test_writes_nothing_to_the_cache(self) -> None:
        before = _sets()
        for _ in range(3):
            self.assertEqual(self.client.get(HEALTH_PATH, HTTP_HOST=FOREIGN_HOST).status_code, 200)
        self.assertEqual(_sets(), before)


def _sets() -> int:
    """How many times every memcached server was written to."""
    return sum(
        int(MemcacheClient(_host_port(location)).stats()[b"cmd_set"]) for location in settings.CACHE_LOCATIONS
    )


def _host_port(location: str) -> tuple[str, int]:
    host, _, port = location.rpartition(":")
    return host, int(port)
