"""Liveness and readiness probes, outside auth and throttling.

/healthz says the process answers (no dependencies, so a database outage does not get every
pod restarted). /readyz says this instance can serve: database, broker and cache all respond
within a short timeout; otherwise 503 so the load balancer stops sending it traffic.
"""

import logging
import secrets
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

log = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2


class _ProbeView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []


class LivenessView(_ProbeView):
    @extend_schema(
        tags=["health"],
        summary="Liveness",
        auth=[],
        responses={200: inline_serializer("Liveness", {"status": serializers.CharField()})},
    )
    def get(self, request):
        return Response({"status": "ok"})


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    from birthday.celery import app

    # The URL is read from settings on every probe (not the app's cached config) so the
    # check always reflects the configured broker.
    with app.connection_for_read(url=settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS)


def check_cache() -> None:
    key, value = f"readyz:{secrets.token_hex(8)}", secrets.token_hex(8)
    cache.set(key, value, 10)
    if cache.get(key) != value:
        raise RuntimeError("cache did not return the value just written")
    cache.delete(key)


CHECKS = {"database": check_database, "broker": check_broker, "cache": check_cache}

_check_result = inline_serializer(
    "ReadinessCheck",
    {
        "ok": serializers.BooleanField(),
        "duration_ms": serializers.FloatField(),
        "error": serializers.CharField(required=False, help_text="Exception type, when the check failed"),
    },
)
_readiness = inline_serializer(
    "Readiness",
    {
        "status": serializers.ChoiceField(choices=["ok", "unavailable"]),
        "checks": inline_serializer(
            "ReadinessChecks", {"database": _check_result, "broker": _check_result, "cache": _check_result}
        ),
    },
)


class ReadinessView(_ProbeView):
    @extend_schema(tags=["health"], summary="Readiness", auth=[], responses={200: _readiness, 503: _readiness})
    def get(self, request):
        results = {}
        for name, check in CHECKS.items():
            started = time.monotonic()
            try:
                check()
                results[name] = {"ok": True}
            except Exception as exc:
                # Only the type: messages can carry hosts or credentials from connection URLs.
                log.warning("readiness check %s failed", name, exc_info=True)
                results[name] = {"ok": False, "error": type(exc).__name__}
            results[name]["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        healthy = all(result["ok"] for result in results.values())
        return Response(
            {"status": "ok" if healthy else "unavailable", "checks": results}, status=200 if healthy else 503
        )
