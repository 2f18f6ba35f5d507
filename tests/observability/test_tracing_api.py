"""API requests as server spans: route and status recorded, probes and scrapes left out."""

import pytest
from rest_framework.test import APIClient

from apiauth import services as token_services
from observability import tracing
from tests.observability.test_tracing_pipeline import in_memory_exporter, receiver  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def server_spans():
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    exporter = in_memory_exporter()
    instrumentor = DjangoInstrumentor()
    # What configure_tracing does for the API, against this process's in-memory provider.
    instrumentor.instrument(excluded_urls=tracing.excluded_urls(), request_hook=tracing.mask_request_url)
    yield exporter
    instrumentor.uninstrument()
    exporter.clear()


def _status(span):
    attributes = span.attributes
    return attributes.get("http.response.status_code", attributes.get("http.status_code"))


def test_api_requests_produce_server_spans_with_route_and_status(server_spans):
    _, raw = token_services.create_token("tracing-tests")
    api = APIClient()  # built after instrumenting, so its middleware chain includes tracing
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    body = {"first_name": "Ann", "last_name": "Lee", "email": "ann.lee@example.com",
            "birthday": "1990-03-04", "timezone": "Asia/Kathmandu"}

    created = api.post("/user", body, format="json", HTTP_X_REQUEST_ID="7d4c1b2a9e8f4a3b8c6d5e4f3a2b1c0d")
    assert created.status_code == 201, created.content
    user_id = created.json()["id"]
    assert api.get(f"/user/{user_id}").status_code == 200
    assert APIClient().get(f"/user/{user_id}").status_code == 401

    spans = [span for span in server_spans.get_finished_spans() if span.kind.name == "SERVER"]
    assert [(span.attributes["http.route"], _status(span)) for span in spans] == [
        ("user", 201), ("user/<str:id>", 200), ("user/<str:id>", 401),
    ]
    assert spans[0].name == "POST user"
    assert spans[0].attributes["http.request.header.x-request-id"] == ("7d4c1b2a9e8f4a3b8c6d5e4f3a2b1c0d",)
    assert created["X-Request-ID"] == "7d4c1b2a9e8f4a3b8c6d5e4f3a2b1c0d"
    for span in spans:
        assert "ann.lee@example.com" not in str(dict(span.attributes))
        assert raw not in str(dict(span.attributes))


def test_addresses_in_query_strings_are_masked_on_spans(server_spans):
    APIClient().get("/user", {"email": "ann.lee@example.com", "timezone": "UTC"})
    (span,) = [span for span in server_spans.get_finished_spans() if span.kind.name == "SERVER"]
    url_attributes = [value for key, value in span.attributes.items() if key in tracing._URL_ATTRIBUTES]
    assert url_attributes and all("a***@example.com" in value for value in url_attributes)
    assert "ann.lee" not in str(dict(span.attributes))


def test_probes_and_metrics_are_not_traced(server_spans):
    client = APIClient()
    for path in ("/healthz", "/metrics"):
        assert client.get(path).status_code == 200
    client.get("/readyz")
    assert [span for span in server_spans.get_finished_spans() if span.kind.name == "SERVER"] == []
    client.get("/user")
    assert [span.attributes.get("http.route") for span in server_spans.get_finished_spans()
            if span.kind.name == "SERVER"] == ["user"]


@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_trace_requests_and_log_them_correlated(receiver, processes, tmp_path):
    import json

    import httpx

    from tests.conftest import wait_until
    from tests.system import start_api

    base, gunicorn = start_api(
        processes,
        {
            "BIRTHDAY_VAR_DIR": str(tmp_path),
            "OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_TRACES_SAMPLER": "always_on", "OTEL_BSP_SCHEDULE_DELAY": "100",
        },
        name="gunicorn",
    )
    response = httpx.get(f"{base}/user", params={"email": "probe.person@example.com"},
                         headers={"X-Request-ID": "5e0c2b9a-7f1d-4c3e-9a8b-6d5c4b3a2f10",
                                                  "Authorization": "Bearer bdy_not-a-real-token"})
    assert response.status_code == 401
    assert response.headers["X-Request-ID"] == "5e0c2b9a-7f1d-4c3e-9a8b-6d5c4b3a2f10"

    def server_span():
        return [span for span in receiver.spans if span["kind"] == 2]  # SERVER

    (span,) = wait_until(server_span, timeout=15, message="the request's server span")
    assert span["attributes"]["http.route"] == "user"
    assert span["attributes"].get("http.status_code", span["attributes"].get("http.response.status_code")) == 401
    assert span["resource"]["birthday.process.role"] == "api"
    assert "p***@example.com" in span["attributes"]["http.target"]
    assert "probe.person" not in json.dumps(span)

    def unauthorized_line():
        for raw in processes.output(gunicorn).splitlines():
            if raw.startswith("{") and "Unauthorized" in raw:
                return json.loads(raw)
        return None

    line = wait_until(unauthorized_line, timeout=10, message="the 401 log line")
    assert line["request_id"] == "5e0c2b9a-7f1d-4c3e-9a8b-6d5c4b3a2f10"
    assert line["trace_id"] == span["trace_id"]
    assert "not-a-real-token" not in processes.output(gunicorn)
    # gunicorn's own lines use the same format.
    (booting,) = [raw for raw in processes.output(gunicorn).splitlines() if "Booting worker" in raw]
    assert json.loads(booting)["logger"] == "gunicorn.error"
