"""The demo pages: a shared counter with a fragment cached in memcached, and a sales report real sites would cache."""

import hashlib
import socket

from django.core.cache import cache
from django.db import transaction
from django.db.models import Avg, Count, F, Max, Min, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone

FRAGMENT_KEY = "demo:fragment:v1"
FRAGMENT_SECONDS = 60
COUNTER_NAME = "visits"
REPORT_KEY_PREFIX = "demo:report:v1:"
REPORT_SECONDS = 60


def _increment() -> int:
    """Increment in the database (F expression) and read back inside the same transaction.

    The UPDATE holds the row lock until commit, so the value read is this
    request's own, whatever the other app nodes do at the same time.
    """
    from counter.models import Counter

    with transaction.atomic():
        Counter.objects.get_or_create(name=COUNTER_NAME)
        Counter.objects.filter(name=COUNTER_NAME).update(value=F("value") + 1)
        return Counter.objects.values_list("value", flat=True).get(name=COUNTER_NAME)


def _fragment() -> tuple[str, bool]:
    """The cached part of the page, and whether it came from the cache."""
    fragment = cache.get(FRAGMENT_KEY)
    if fragment is not None:
        return fragment, True
    fragment = render_to_string(
        "counter/fragment.html",
        {"rendered_by": socket.gethostname(), "rendered_at": timezone.now(), "seconds": FRAGMENT_SECONDS},
    )
    cache.set(FRAGMENT_KEY, fragment, FRAGMENT_SECONDS)
    return fragment, False


def index(request: HttpRequest) -> HttpResponse:
    visits = _increment()
    fragment, hit = _fragment()
    response = render(
        request,
        "counter/index.html",
        {"visits": visits, "fragment": fragment, "served_by": socket.gethostname()},
    )
    response["X-Cache"] = "hit" if hit else "miss"
    response["Cache-Control"] = "no-store"
    return response


def _report_html() -> str:
    """Aggregates over every sale, by region and by product, rendered: what the cache saves."""
    from counter.models import Sale

    revenue = Sum(F("quantity") * F("unit_price_cents"))
    measures = {"sales": Count("id"), "units": Sum("quantity"), "revenue_cents": revenue}
    return render_to_string("counter/report.html", {
        "totals": Sale.objects.aggregate(**measures),
        "regions": Sale.objects.values("region").annotate(
            **measures, average_price_cents=Avg("unit_price_cents"),
        ).order_by("region"),
        "products": Sale.objects.values("product").annotate(
            **measures, average_price_cents=Avg("unit_price_cents"), first_sale=Min("day"), last_sale=Max("day"),
        ).order_by("-revenue_cents", "product"),
        "rendered_by": socket.gethostname(),
        "rendered_at": timezone.now(),
        "seconds": REPORT_SECONDS,
    })


def report(request: HttpRequest) -> HttpResponse:
    """The report, kept in the cache per URL as Django's cache_page would, so a cache hit skips the database."""
    key = REPORT_KEY_PREFIX + hashlib.sha256(request.get_full_path().encode()).hexdigest()
    html = cache.get(key)
    hit = html is not None
    if not hit:
        html = _report_html()
        cache.set(key, html, REPORT_SECONDS)
    response = HttpResponse(html)
    response["X-Cache"] = "hit" if hit else "miss"
    response["Cache-Control"] = f"max-age={REPORT_SECONDS}"
    return response
