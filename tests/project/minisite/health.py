"""GET /healthz: 200 when the database answers, 503 when not, whatever the Host header."""

import logging

from django.db import connection
from django.http import JsonResponse

log = logging.getLogger(__name__)


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path != "/healthz":
            return self.get_response(request)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception:
            log.exception("health check failed")
            return JsonResponse({"status": "error"}, status=503)
        return JsonResponse({"status": "ok"})
