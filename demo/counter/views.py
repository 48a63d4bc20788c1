"""The demo pages: a shared counter with a fragment cached in memcached, a sales report real sites would cache, and uploads kept in the media storage."""

import hashlib
import mimetypes
import socket

from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Avg, Count, F, Max, Min, Sum
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone

FRAGMENT_KEY = "demo:fragment:v1"
FRAGMENT_SECONDS = 60
COUNTER_NAME = "visits"
REPORT_KEY_PREFIX = "demo:report:v1:"
REPORT_SECONDS = 60
UPLOAD_LIMIT = 5 * 1024 * 1024
LISTED_UPLOADS = 10
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "text/plain"})
"""Uploads shown in the browser; anything else (HTML, SVG...) is served as a download, so it cannot run as the site."""


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
    from counter.models import Upload

    visits = _increment()
    fragment, hit = _fragment()
    response = render(
        request,
        "counter/index.html",
        {
            "visits": visits, "fragment": fragment, "served_by": socket.gethostname(),
            "uploads": Upload.objects.order_by("-created")[:LISTED_UPLOADS],
        },
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


def upload(request: HttpRequest) -> HttpResponse:
    """Keep a posted file in the media storage; every app node then serves it from there."""
    from counter.models import Upload

    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    posted = request.FILES.get("file")
    if posted is None or posted.size > UPLOAD_LIMIT:
        return HttpResponse("a file of at most 5 MB is needed\n", status=400, content_type="text/plain")
    Upload.objects.create(file=posted)
    return redirect("index")


def media(request: HttpRequest, name: str) -> FileResponse:
    """An upload, read from the media storage: web nodes hold none of them, so every one can serve any."""
    if not default_storage.exists(name):
        raise Http404(name)
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(default_storage.open(name), content_type=kind, as_attachment=kind not in INLINE_TYPES)
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, max-age=300"
    return response
