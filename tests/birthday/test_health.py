"""Liveness and readiness against the real PostgreSQL, RabbitMQ and Redis.

Failures are produced by pointing a dependency at a closed port, not by mocking it.
"""

import pytest
from rest_framework.test import APIClient

CLOSED_REDIS = "redis://127.0.0.1:1/0"
CLOSED_AMQP = "amqp://guest:guest@127.0.0.1:1//"


@pytest.fixture
def client():
    return APIClient()


@pytest.mark.django_db
def test_liveness_needs_no_database_or_token(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_when_every_dependency_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "cache"}
    assert all(check["ok"] for check in body["checks"].values())


@pytest.mark.django_db
def test_not_ready_when_the_cache_is_unreachable(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CLOSED_REDIS,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["cache"]["ok"] is False
    assert body["checks"]["cache"]["error"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    # Liveness does not depend on the cache.
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_not_ready_when_the_broker_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = CLOSED_AMQP
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["duration_ms"] < 5000
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["cache"]["ok"] is True
    # The error names the failure's type, never the URL and its credentials.
    assert "guest" not in response.content.decode()


@pytest.mark.django_db
def test_api_keeps_working_while_the_cache_is_down(settings):
    """The cache only accelerates auth and throttling; losing it must not take the API down."""
    from apiauth import services

    _, raw = services.create_token("crm")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CLOSED_REDIS,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/user").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Bearer bdy_wrong")
    assert client.get("/user").status_code == 401
