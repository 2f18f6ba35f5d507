"""Security events: throttling (429), authentication failures (401, admin logins), authorization
denials (403), CSRF failures, suspicious requests and Django's SuspiciousOperation family, and
which API key is used."""

import logging
import re
from urllib.parse import unquote_plus

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.views.csrf import csrf_failure as django_csrf_failure

from . import labels
from .definitions import (
    API_KEY_USAGE,
    AUTHENTICATION_FAILURES,
    AUTHORIZATION_DENIALS,
    CSRF_VIOLATIONS,
    RATE_LIMIT_EXCEEDED,
    SUSPICIOUS_ACTIVITY,
)

_MARKERS = (
    ("sql_injection", re.compile(
        r"(\bunion\b[\s\S]*\bselect\b|'\s*(or|and)\s+'?\w+'?\s*=|\bor\s+1\s*=\s*1\b|;\s*(drop|delete|insert|update)\b"
        r"|\bsleep\s*\(|\bpg_sleep\b|\binformation_schema\b|--\s*$)",
        re.IGNORECASE,
    )),
    ("path_traversal", re.compile(r"(\.\./|\.\.\\|/etc/passwd|\x00)")),
    ("script_injection", re.compile(r"<\s*script|javascript:", re.IGNORECASE)),
)

# Django names each SuspiciousOperation logger after the exception class; a fixed set.
_DJANGO_SECURITY_EVENTS = {
    "DisallowedHost": "disallowed_host",
    "DisallowedRedirect": "disallowed_redirect",
    "SuspiciousOperation": "suspicious_operation",
    "SuspiciousFileOperation": "suspicious_file_operation",
    "SuspiciousMultipartForm": "suspicious_multipart_form",
    "SuspiciousSession": "suspicious_session",
    "TooManyFieldsSent": "too_many_fields",
    "TooManyFilesSent": "too_many_files",
    "RequestDataTooBig": "request_too_big",
    "DisallowedModelAdminLookup": "disallowed_admin_lookup",
    "DisallowedModelAdminToField": "disallowed_admin_to_field",
}


def suspicious_markers(path: str, query: str) -> list[str]:
    text = unquote_plus(unquote_plus(f"{path}?{query}"))
    return [name for name, pattern in _MARKERS if pattern.search(text)]


def _auth_type(request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return "missing_credentials"
    if header.split(" ", 1)[0].lower() == "bearer":
        return "bearer_token"
    return "unsupported_scheme"


def api_key_id(request, response) -> str | None:
    """The id of the API token that authenticated the request (never the secret)."""
    drf_request = (getattr(response, "renderer_context", None) or {}).get("request")
    # Only what DRF already authenticated: `.auth` would authenticate now, and raise, when DRF
    # answered before reaching its authentication (an Accept header it cannot satisfy).
    client = drf_request.__dict__.get("_auth") if drf_request is not None else None
    if client is None:
        # DRF copies the authenticated client onto the Django request; read it without
        # triggering the session-based lazy user.
        client = request.__dict__.get("user")
        if type(client).__name__ != "TokenClient":
            return None
    key_id = getattr(client, "id", None)
    return str(key_id) if key_id is not None else None


class SecurityMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for activity in suspicious_markers(request.path, request.META.get("QUERY_STRING", "")):
            SUSPICIOUS_ACTIVITY.labels(activity).inc()
        response = self.get_response(request)
        status = response.status_code
        if status == 429:
            RATE_LIMIT_EXCEEDED.labels(labels.route(request), labels.client_networks.label(request.META.get("REMOTE_ADDR"))).inc()
        elif status == 401:
            AUTHENTICATION_FAILURES.labels(_auth_type(request)).inc()
        elif status == 403 and not getattr(request, "_csrf_failure_counted", False):
            AUTHORIZATION_DENIALS.labels(labels.route(request), labels.action(request.method)).inc()
        key_id = api_key_id(request, response)
        if key_id is not None:
            API_KEY_USAGE.labels(key_id).inc()
        return response


def csrf_failure(request, reason="", **kwargs):
    """CSRF_FAILURE_VIEW: count, then answer exactly as Django does."""
    CSRF_VIOLATIONS.inc()
    request._csrf_failure_counted = True
    return django_csrf_failure(request, reason=reason, **kwargs)


@receiver(user_login_failed, dispatch_uid="metrics.admin_login_failed")
def _admin_login_failed(sender, credentials=None, request=None, **kwargs):
    AUTHENTICATION_FAILURES.labels("admin_password").inc()


class SecurityLogCounter(logging.Handler):
    """Counts the records Django writes to `django.security.<ExceptionClass>`: a handler the
    logging settings attach to django.security (observability.logging.build_logging)."""

    def emit(self, record):
        event = record.name.rsplit(".", 1)[-1]
        if event == "csrf":
            return  # counted by the CSRF failure view
        SUSPICIOUS_ACTIVITY.labels(_DJANGO_SECURITY_EVENTS.get(event, "other_security_event")).inc()

