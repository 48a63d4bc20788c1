"""The demo page: a shared counter and a fragment cached in memcached."""

import socket

from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone

FRAGMENT_KEY = "demo:fragment:v1"
FRAGMENT_SECONDS = 60
COUNTER_NAME = "visits"


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
