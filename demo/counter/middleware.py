"""Answers /healthz before any host validation.

The load balancer probes each droplet with its IP address as Host, which is
not in ALLOWED_HOSTS; this middleware sits first so the probe never reaches
the code that would reject it.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from counter.health import check_cache, check_database

HEALTH_PATH = "/healthz"


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != HEALTH_PATH:
            return self.get_response(request)
        report = {"database": check_database(), "cache": check_cache()}
        response = JsonResponse(report, status=200 if report["database"] == "ok" else 503)
        response["Cache-Control"] = "no-store"
        return response
