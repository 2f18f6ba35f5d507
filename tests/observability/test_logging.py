"""Structured, correlated, masked log lines."""

import io
import json
import logging
import logging.config
import re

import pytest
from celery import signals as celery_signals
from django.test import RequestFactory
from opentelemetry.sdk.trace import TracerProvider

from observability import request_id
from observability.logging import (
    ContextFilter,
    JsonFormatter,
    RedactFilter,
    TextFormatter,
    build_logging,
    configure_from_settings,
    mask,
)
from observability.sentry import before_breadcrumb, before_send


def _capture(formatter=None, service="birthday", environment="test"):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter())
    handler.addFilter(ContextFilter(service=service, environment=environment))
    handler.setFormatter(formatter or JsonFormatter())
    logger = logging.getLogger(f"tests.logging.{id(stream)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def _lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("to john.doe@example.com now", "to j***@example.com now"),
        ("A+tag@sub.example.co.uk", "A***@sub.example.co.uk"),
        ("Authorization: Bearer abc.DEF-123_x/=", "Authorization: Bearer ***"),
        ("token bdy_Zx9-_abcdEFGH123 used", "token bdy_*** used"),
        ("amqp://guest:s3cret@rabbit.example.com:5672/vhost", "amqp://***:***@rabbit.example.com:5672/vhost"),
        ("nothing secret at 12:00, user 42", "nothing secret at 12:00, user 42"),
        # Each way a secret can be spelled past the quick check for one.
        ("GET /user?email=ann.lee%40example.com", "GET /user?email=a***%40example.com"),
        ("authorization: BEARER abc123", "authorization: BEARER ***"),
        ("redis://:pw@cache:6379/0 and bdy_x1", "redis://***:***@cache:6379/0 and bdy_***"),
    ],
)
def test_mask_hides_addresses_and_credentials(raw, expected):
    assert mask(raw) == expected


def test_json_line_has_the_fixed_fields_and_masks_message_and_args():
    logger, stream = _capture()
    logger.info("sent to %s with %s", "mary.major@example.org", "Bearer bdy_secretvalue123")
    (line,) = _lines(stream)
    assert line["message"] == "sent to m***@example.org with Bearer ***"
    assert line["level"] == "INFO"
    assert line["logger"] == logger.name
    assert line["service"] == "birthday"
    assert line["environment"] == "test"
    assert line["timestamp"].endswith("Z") and "T" in line["timestamp"]
    for key in ("trace_id", "span_id", "request_id"):
        assert key in line
    assert "mary.major" not in stream.getvalue()
    assert "secretvalue" not in stream.getvalue()


def test_extra_fields_and_exceptions_are_kept_but_masked():
    logger, stream = _capture()
    try:
        raise ValueError("vendor rejected ann@example.com")
    except ValueError:
        logger.exception("delivery failed", extra={"recipient": "ann@example.com", "attempt": 3})
    (line,) = _lines(stream)
    assert line["attempt"] == 3
    assert line["recipient"] == "a***@example.com"
    assert line["exception_type"] == "ValueError"
    assert "a***@example.com" in line["exception"]
    assert "ann@example.com" not in stream.getvalue()


def test_every_line_is_one_json_object_even_with_newlines_in_the_message():
    logger, stream = _capture()
    logger.warning("first line\nsecond line")
    assert len(stream.getvalue().splitlines()) == 1
    assert _lines(stream)[0]["message"] == "first line\nsecond line"


def test_lines_inside_a_span_carry_its_trace_and_span_ids():
    logger, stream = _capture()
    tracer = TracerProvider().get_tracer(__name__)
    with tracer.start_as_current_span("work") as span:
        logger.info("inside")
    logger.info("outside")
    inside, outside = _lines(stream)
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert outside["trace_id"] is None and outside["span_id"] is None


def test_lines_carry_the_current_request_id():
    logger, stream = _capture()
    with request_id.bound("req-123"):
        logger.info("during")
    logger.info("after")
    during, after = _lines(stream)
    assert during["request_id"] == "req-123"
    assert after["request_id"] is None


def test_debug_text_format_is_readable_masked_and_correlated():
    logger, stream = _capture(formatter=TextFormatter())
    with request_id.bound("req-9"):
        logger.info("hello %s", "bob@example.com")
    text = stream.getvalue()
    assert not text.startswith("{")
    assert "INFO" in text and "hello b***@example.com" in text and "request_id=req-9" in text


def test_settings_logging_routes_the_root_logger_through_the_json_formatter(settings):
    config = settings.LOGGING
    assert config["handlers"]["console"]["formatter"] == "json"
    assert config["formatters"]["json"]["()"] == "observability.logging.JsonFormatter"
    root_formatters = [type(h.formatter) for h in logging.getLogger().handlers if h.formatter]
    assert JsonFormatter in root_formatters
    assert build_logging(debug=True)["handlers"]["console"]["formatter"] == "text"


def test_django_loggers_do_not_bypass_the_json_handler():
    config = build_logging()
    # Django's defaults give these loggers plain-text handlers of their own.
    assert config["loggers"]["django"]["handlers"] == []
    assert config["loggers"]["django.server"]["handlers"] == []
    stream = io.StringIO()
    config["handlers"]["console"]["stream"] = stream
    pytest_handlers = [h for h in logging.getLogger().handlers if not isinstance(h.formatter, JsonFormatter)]
    try:
        logging.config.dictConfig(config)
        logging.getLogger("django.request").error("Bad request from c@example.com")
    finally:
        configure_from_settings()
        for handler in pytest_handlers:
            logging.getLogger().addHandler(handler)
    (line,) = _lines(stream)
    assert line["logger"] == "django.request" and line["message"] == "Bad request from c***@example.com"


def test_djangos_security_records_are_client_faults_at_warning_without_a_traceback():
    """Django logs each SuspiciousOperation (a Host outside ALLOWED_HOSTS from any scanner) at
    ERROR with its traceback, and answers 400: ERROR must stay the sign of the service failing,
    which the runbooks search for."""
    from django.core.exceptions import DisallowedHost

    config = build_logging()
    stream = io.StringIO()
    config["handlers"]["console"]["stream"] = stream
    pytest_handlers = [h for h in logging.getLogger().handlers if not isinstance(h.formatter, JsonFormatter)]
    try:
        logging.config.dictConfig(config)
        try:
            raise DisallowedHost("Invalid HTTP_HOST header: 'evil'.")
        except DisallowedHost as exc:
            logging.getLogger("django.security.DisallowedHost").error(str(exc), exc_info=exc, extra={"status_code": 400})
        logging.getLogger("django.request").error("Internal Server Error: /user", exc_info=(ValueError, ValueError("x"), None))
    finally:
        configure_from_settings()
        for handler in pytest_handlers:
            logging.getLogger().addHandler(handler)
    security, failure = _lines(stream)
    assert security["level"] == "WARNING" and security["logger"] == "django.security.DisallowedHost"
    assert security["message"] == "Invalid HTTP_HOST header: 'evil'." and security["status_code"] == 400
    assert "exception" not in security and "exception_type" not in security
    assert failure["level"] == "ERROR" and failure["exception_type"] == "ValueError"


@pytest.mark.parametrize("reconfigure", ["celery_setup_logging", "django_setup_again"])
def test_security_records_are_still_counted_after_logging_is_configured_again(reconfigure):
    """dictConfig empties the handlers of every logger under one it configures ("django"). The
    suspicious-activity counter is part of the logging settings, so it survives Celery's
    reconfiguration and a second django.setup() (what importing birthday.wsgi does in a process
    that set Django up already, as runserver and the test suite do)."""
    import django
    from prometheus_client import REGISTRY

    def counted() -> float:
        return REGISTRY.get_sample_value("birthday_scheduler_suspicious_activity_total",
                                         {"activity_type": "disallowed_host"}) or 0.0

    pytest_handlers = [h for h in logging.getLogger().handlers if not isinstance(h.formatter, JsonFormatter)]
    try:
        configure_from_settings() if reconfigure == "celery_setup_logging" else django.setup(set_prefix=False)
        before = counted()
        logging.getLogger("django.security.DisallowedHost").error("Invalid HTTP_HOST header: 'evil'.")
    finally:
        for handler in pytest_handlers:
            logging.getLogger().addHandler(handler)
    assert counted() == before + 1


def test_sentry_drops_djangos_security_records():
    assert before_send({"logger": "django.security.DisallowedHost", "level": "error", "message": "bad host"}, {}) is None
    kept = before_send({"logger": "django.request", "level": "error", "message": "Internal Server Error: /user"}, {})
    assert kept is not None and kept["message"] == "Internal Server Error: /user"


# --- request id ------------------------------------------------------------------------------


def _run_middleware(header=None):
    seen = {}

    def view(request):
        from django.http import HttpResponse

        seen["id"] = request_id.get()
        seen["on_request"] = request.request_id
        seen["environ"] = request.META["birthday.request_id"]
        return HttpResponse("ok")

    middleware = request_id.RequestIdMiddleware(view)
    extra = {"HTTP_X_REQUEST_ID": header} if header is not None else {}
    response = middleware(RequestFactory().get("/user", **extra))
    assert seen["on_request"] == seen["environ"] == seen["id"]
    return response, seen["id"]


@pytest.mark.parametrize("sent", ["3f2b6c1e9a4d4f0b8c7e5d2a1b0c9f8e", "3f2b6c1e-9a4d-4f0b-8c7e-5d2a1b0c9f8e"])
def test_a_uuid_request_id_is_honoured_and_returned(sent):
    response, seen = _run_middleware(sent)
    assert seen == sent
    assert response["X-Request-ID"] == sent
    assert request_id.get() is None


@pytest.mark.parametrize("bad", ["abc-DEF_123.x", "x" * 129, "has space", "evil\ninjected", "semi;colon", ""])
def test_any_other_request_id_is_replaced(bad):
    response, seen = _run_middleware(bad)
    assert seen != bad and len(seen) == 32
    assert response["X-Request-ID"] == seen


def test_missing_request_id_is_generated_and_unique():
    first, first_id = _run_middleware()
    second, second_id = _run_middleware()
    assert first_id != second_id
    assert first["X-Request-ID"] == first_id


def test_request_id_header_on_real_responses(client):
    sent = "0b6e7f1c2d3a4b5c8d9e0f1a2b3c4d5e"
    response = client.get("/healthz", HTTP_X_REQUEST_ID=sent)
    assert response["X-Request-ID"] == sent
    generated = client.get("/healthz")["X-Request-ID"]
    assert generated != sent and re.fullmatch(r"[0-9a-f]{32}", generated)


def test_tasks_published_during_a_request_carry_its_id():
    headers = {}
    with request_id.bound("req-77"):
        celery_signals.before_task_publish.send(sender="messaging.deliver", headers=headers, body=None)
    assert headers[request_id.HEADER] == "req-77"


def _run_task_hooks(headers):
    """What the worker does around a task body: prerun, body, postrun; returns the id seen."""
    from celery import Celery

    app = Celery("hooks-test", set_as_current=False)

    @app.task(name="tests.probe")
    def probe():
        return request_id.get()

    task_id = "9f1c3f3e-0d7b-4a57-9a57-2f7c1c0d1e11"
    probe.push_request(id=task_id, **headers)
    try:
        celery_signals.task_prerun.send(sender=probe, task_id=task_id, task=probe, args=(), kwargs={})
        seen = probe()
        celery_signals.task_postrun.send(
            sender=probe, task_id=task_id, task=probe, args=(), kwargs={}, retval=seen, state="SUCCESS"
        )
    finally:
        probe.pop_request()
    return task_id, seen


def test_a_task_binds_the_incoming_id():
    _, seen = _run_task_hooks({request_id.HEADER: "req-77"})
    assert seen == "req-77"
    assert request_id.get() is None


def test_a_task_without_a_request_gets_an_id_of_its_own():
    _, first = _run_task_hooks({})
    _, second = _run_task_hooks({})
    assert first and second and first != second
    assert request_id.get() is None


# --- Sentry ------------------------------------------------------------------------------------


def test_sentry_events_are_tagged_with_the_trace_and_masked():
    tracer = TracerProvider().get_tracer(__name__)
    event = {
        "message": "failed for zoe@example.com",
        "exception": {"values": [{"type": "ValueError", "value": "Bearer bdy_topsecret1"}]},
        "breadcrumbs": {"values": [{"message": "to zoe@example.com"}]},
    }
    with request_id.bound("req-5"), tracer.start_as_current_span("op") as span:
        sent = before_send(event, {})
    assert sent["tags"]["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert sent["tags"]["request_id"] == "req-5"
    text = json.dumps(sent)
    assert "zoe@example.com" not in text and "topsecret" not in text
    assert before_breadcrumb({"message": "x bdy_abc"}, {})["message"] == "x bdy_***"


def test_sentry_init_is_off_without_dsn_and_sends_no_pii_with_one(monkeypatch):
    import sentry_sdk

    from observability.sentry import init_sentry

    assert init_sentry("", environment="test") is False
    captured = {}
    monkeypatch.setattr(sentry_sdk, "init", lambda **kwargs: captured.update(kwargs))
    assert init_sentry("https://key@sentry.example.com/1", environment="staging") is True
    assert captured["send_default_pii"] is False
    assert captured["environment"] == "staging"
    assert captured["before_send"] is before_send
    names = {type(integration).__name__ for integration in captured["integrations"]}
    assert {"DjangoIntegration", "CeleryIntegration"} <= names
