"""RED metrics for the API, labelled by route template."""

import functools
import time

from . import labels
from .definitions import (
    API_CONCURRENT,
    API_REQUEST_SIZE,
    API_REQUESTS,
    API_RESPONSE_SIZE,
    API_RESPONSE_TIME,
)


def _request_size(request) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _response_size(response) -> int | None:
    if getattr(response, "streaming", False):
        length = response.get("Content-Length")
        return int(length) if length and length.isdigit() else None
    return len(response.content)


class HttpMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        API_CONCURRENT.inc()
        try:
            response = self.get_response(request)
        finally:
            API_CONCURRENT.dec()
        record_request(
            method=labels.method(request.method), route=labels.route(request), status=response.status_code,
            seconds=time.perf_counter() - started, request_bytes=_request_size(request),
            response_bytes=_response_size(response),
        )
        return response


def record_request(*, method: str, route: str, status: int, seconds: float, request_bytes: int,
                   response_bytes: int | None) -> None:
    """The RED figures of one answered request; also called by the API's hot path
    (birthday/hot_path/), whose requests never reach the middleware."""
    requests, response_time, request_size, response_size = _series(method, route, status)
    requests.inc()
    response_time.observe(seconds)
    request_size.observe(request_bytes)
    if response_bytes is not None:
        response_size.observe(response_bytes)


@functools.lru_cache(maxsize=4096)
def _series(method: str, route: str, status: int):
    # Resolving a label set costs more than the observation itself; the sets are bounded
    # (methods, route templates, statuses), so each is resolved once per process.
    status_label = str(status)
    return (API_REQUESTS.labels(method, route, status_label), API_RESPONSE_TIME.labels(method, route, status_label),
            API_REQUEST_SIZE.labels(method, route), API_RESPONSE_SIZE.labels(method, route))


# The statuses the availability SLI counts, created at 0 for every route so the first error is
# seen. The latency histogram is left to its first request: a missed first observation does not
# hide an incident the way a missed first 5xx does.
INITIAL_STATUSES = ("200", "500")


def api_routes(patterns, prefix=""):
    from django.urls import URLPattern, URLResolver

    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue  # the admin's hundred routes are not part of the API's SLIs
            yield from api_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "view_class", None)
            if view is None:
                methods = ["GET"]
            else:
                methods = [name.upper() for name in view.http_method_names
                           if name not in ("head", "options") and hasattr(view, name)]
            yield (prefix + str(pattern.pattern)) or "/", methods


def initialise() -> None:
    from django.urls import get_resolver

    for route, methods in api_routes(get_resolver().url_patterns):
        for method in methods:
            for status in INITIAL_STATUSES:
                API_REQUESTS.labels(method, route, status)
