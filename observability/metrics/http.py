"""RED metrics for the API, labelled by route template."""

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
        elapsed = time.perf_counter() - started
        method = labels.method(request.method)
        path = labels.route(request)
        status = str(response.status_code)
        API_REQUESTS.labels(method, path, status).inc()
        API_RESPONSE_TIME.labels(method, path, status).observe(elapsed)
        API_REQUEST_SIZE.labels(method, path).observe(_request_size(request))
        size = _response_size(response)
        if size is not None:
            API_RESPONSE_SIZE.labels(method, path).observe(size)
        return response
