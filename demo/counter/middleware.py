"""Answers /healthz before any host validation or HTTPS redirect.

The load balancer probes each droplet with its IP address as Host, which is
not in ALLOWED_HOSTS, over plain HTTP; this middleware sits first so the
probe never reaches the code that would reject or redirect it. The body is
only {"status": "ok"} (200) or {"status": "error"} (503).
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from counter.health import database_ok

HEALTH_PATH = "/healthz"


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != HEALTH_PATH:
            return self.get_response(request)
        healthy = database_ok()
        response = JsonResponse({"status": "ok" if healthy else "error"}, status=200 if healthy else 503)
        response["Cache-Control"] = "no-store"
        return response
