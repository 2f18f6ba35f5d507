"""One JSON error shape for the whole API: {"error": code, "detail": ..., "fields": {...}}.

`fields` appears when the error concerns particular input fields (400 and 409). Errors raised
outside DRF (an unmatched URL, a rejected Host header, a crash) get the same shape from the
handler400/404/500 views below, except for people browsing the admin, who get Django's pages.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ParseError, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.exceptions import ConflictError, PayloadTooLarge  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)


# Seconds a client is asked to wait before retrying while the database is unreachable: about
# the time a restart or failover takes; the connection is re-established on the next request.
DATABASE_RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE = {
    "error": "database_unavailable", "detail": "The database is unavailable; retry after Retry-After seconds.",
}




def _error_code(exc) -> str:
    codes = exc.get_codes() if isinstance(exc, APIException) else None
    if isinstance(codes, str):
        return codes
    return getattr(exc, "default_code", "error")


def api_exception_handler(exc, context):
    if isinstance(exc, ConflictError):
        return Response(
            {"error": "conflict", "detail": exc.detail, "fields": exc.fields}, status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, RequestDataTooBig):
        # Django raises this (a SuspiciousOperation) while DRF reads the body; left alone it
        # would surface as an HTML 400 rather than the API's 413.
        exc = PayloadTooLarge()
    if isinstance(exc, Http404):
        # DRF's own handler turns these into its exceptions too, but the code is read from `exc`
        # (an unknown `?format=` raised Http404 and got "error"); Http404's message is not passed
        # on, since Django's carry model names ("No MessageOutbox matches the given query.").
        exc = NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = PermissionDenied()
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database is down or unreachable (or the connection broke): an outage to retry,
        # not a bug. Django drops the broken connection at the end of the request.
        log.warning("database unavailable, answering 503: %s", exc)
        return Response(
            DATABASE_UNAVAILABLE,
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, IntegrityError):
        log.warning("integrity error mapped to 409: %s", exc)
        return Response(
            {"error": "conflict", "detail": "The request conflicts with existing data."},
            status=status.HTTP_409_CONFLICT,
        )
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        fields = _flat(response.data if isinstance(response.data, dict) else {"non_field_errors": response.data})
        response.data = {"error": "invalid", "detail": "The request has invalid fields.", "fields": fields}
    elif isinstance(exc, ParseError):
        response.data = {"error": "malformed", "detail": str(exc.detail)}
    else:
        detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
        response.data = {"error": _error_code(exc), "detail": detail}
    return response


def _flat(errors, prefix: str = "") -> dict[str, list[str]]:
    """Per-field messages, one list of strings per field: the errors of a list's items (DRF's
    {"0": [...]}) under the item's path, `event_types[0]`, `occasions[1].date`."""
    out: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        items = errors.items()
    elif errors and all(isinstance(e, str) for e in errors):
        return {prefix: [str(e) for e in errors]}
    else:
        items = ((i, e) for i, e in enumerate(errors) if e)
    for key, value in items:
        index = isinstance(key, int) or str(key).isdigit()
        path = f"{prefix}[{key}]" if index else (f"{prefix}.{key}" if prefix else str(key))
        if isinstance(value, (dict, list)):
            out.update(_flat(value, path))
        else:
            out[path] = [str(value)]
    return out


def _wants_json(request) -> bool:
    if not request.path.startswith("/admin/"):
        return True
    return "application/json" in request.META.get("HTTP_ACCEPT", "")


def bad_request(request, exception):
    if _wants_json(request):
        return JsonResponse({"error": "bad_request", "detail": "The request could not be understood."}, status=400)
    return defaults.bad_request(request, exception)


def page_not_found(request, exception):
    if _wants_json(request):
        return JsonResponse({"error": "not_found", "detail": "No such resource."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _wants_json(request):
        return JsonResponse({"error": "server_error", "detail": "Internal server error."}, status=500)
    return defaults.server_error(request)
