"""The layer table of docs/performance.md comes from bench/profile_layers.py: a sample is charged
to the work it is doing, not to the middleware that wraps every request."""

from bench.profile_layers import SERVER, layer_of, shares

HANDLE = "ThreadWorker.handle (gunicorn/workers/gthread.py:1)"
WRAPPERS = [HANDLE, "RequestIdMiddleware.__call__ (observability/request_id.py:10)",
            "HttpMetricsMiddleware.__call__ (observability/metrics/http.py:20)",
            "APIView.dispatch (rest_framework/views.py:30)"]


def test_redis_under_the_token_lookup_is_auth_not_the_metrics_cache_wrapper():
    stack = WRAPPERS + ["lookup (apiauth/services.py:40)", "MeasuredCacheMixin.get (observability/metrics/cache.py:5)",
                        "SocketBuffer.readline (redis/_parsers/socket.py:9)"]
    assert layer_of(stack) == "auth: token lookup (one Redis GET)"


def test_a_middleware_that_wraps_everything_does_not_own_its_inner_frames():
    assert layer_of(WRAPPERS + ["Histogram.observe (prometheus_client/metrics.py:1)"]).startswith("metrics")
    assert layer_of(WRAPPERS + ["JSONRenderer.render (rest_framework/renderers.py:1)"]).startswith("DRF")
    assert layer_of(WRAPPERS[:2] + ["URLResolver.resolve (django/urls/resolvers.py:1)"]).startswith("Django")
    assert layer_of(WRAPPERS[:2] + ["get_id_from_header (django_guid/utils.py:3)"]) == "request id (django-guid)"


def test_gunicorn_alone_is_the_server_and_counts_are_summed():
    raw = [f"{HANDLE};Request.parse (gunicorn/http/message.py:2) 7\n",
           f"{';'.join(WRAPPERS)};AccessLogger.access (birthday/server.py:3) 3\n", "\n"]
    assert layer_of([HANDLE]) == SERVER
    assert shares(raw) == {SERVER: 7, "the JSON access line": 3}
