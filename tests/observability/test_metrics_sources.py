"""Metric sources in-process: labels, SQL classification, cache backend, security events."""

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from observability.metrics import database, labels, security
from observability.metrics.cache import InstrumentedFileBasedCache


def value(name, **labels_):
    return REGISTRY.get_sample_value(name, labels_) or 0.0


def test_route_label_is_the_template_and_unmatched_is_fixed():
    client = Client()
    before = value("birthday_scheduler_api_requests_total", method="GET", path="user/<str:id>", status="401")
    before_unmatched = value("birthday_scheduler_api_requests_total", method="GET", path="unmatched", status="404")
    client.get("/user/12345")
    client.get("/definitely/not/here")
    assert value("birthday_scheduler_api_requests_total", method="GET", path="user/<str:id>", status="401") == before + 1
    assert value("birthday_scheduler_api_requests_total", method="GET", path="unmatched", status="404") == before_unmatched + 1
    assert REGISTRY.get_sample_value(
        "birthday_scheduler_api_requests_total", {"method": "GET", "path": "user/12345", "status": "401"}) is None


def test_client_networks_are_capped():
    networks = labels.CappedNetworks(cap=2)
    assert networks.label("10.1.2.3") == "10.1.2.0/24"
    assert networks.label("10.1.2.200") == "10.1.2.0/24"
    assert networks.label("10.9.9.9") == "10.9.9.0/24"
    assert networks.label("192.168.0.1") == "other"
    assert networks.label("2001:db8::1") == "other"
    assert networks.label("not an ip") == "unknown"


@pytest.mark.django_db
def test_sql_is_classified_by_verb_and_known_table():
    assert database.classify('SELECT "users_user"."id" FROM "users_user" WHERE 1') == ("select", "users_user")
    assert database.classify('INSERT INTO messaging_message (a) VALUES (1)') == ("insert", "messaging_message")
    assert database.classify('UPDATE "scheduler_occasion" SET x = 1') == ("update", "scheduler_occasion")
    assert database.classify("WITH x AS (SELECT 1) DELETE FROM users_user") == ("delete", "users_user")
    # A CTE that writes is a write, whatever its main statement reads back.
    assert database.classify(
        'WITH new AS (INSERT INTO "users_user" ("email") VALUES (%s) RETURNING "id") SELECT "id" FROM new'
    ) == ("insert", "users_user")
    assert database.classify("SELECT * FROM some_secret_table") == ("select", "other")
    assert database.classify("SAVEPOINT s1") == ("other", "other")


@pytest.mark.django_db
def test_queries_are_timed_and_rows_counted():
    from users.models import User

    before = value("birthday_scheduler_database_query_duration_seconds_count", query_type="insert", table="users_user")
    rows_before = value("birthday_scheduler_database_rows_affected_sum", operation="update", table="users_user")
    user = User.objects.create(first_name="a", last_name="b", email="q@example.com", birthday="1990-01-01",
                               timezone="UTC")
    User.objects.filter(pk=user.pk).update(first_name="c")
    assert value("birthday_scheduler_database_query_duration_seconds_count",
                 query_type="insert", table="users_user") == before + 1
    assert value("birthday_scheduler_database_rows_affected_sum", operation="update", table="users_user") == rows_before + 1


def test_file_cache_counts_hits_misses_and_culls(tmp_path):
    cache = InstrumentedFileBasedCache(str(tmp_path), {"OPTIONS": {"MAX_ENTRIES": 4, "CULL_FREQUENCY": 2}})
    hits = value("birthday_scheduler_cache_hits_total", cache_type="file")
    misses = value("birthday_scheduler_cache_misses_total", cache_type="file")
    culled = value("birthday_scheduler_cache_evictions_total", cache_type="file", reason="culled")
    cache.set("present", 1)
    assert cache.get("present") == 1
    assert cache.get("absent", "default") == "default"
    assert value("birthday_scheduler_cache_hits_total", cache_type="file") == hits + 1
    assert value("birthday_scheduler_cache_misses_total", cache_type="file") == misses + 1
    for i in range(6):
        cache.set(f"k{i}", i)
    assert value("birthday_scheduler_cache_evictions_total", cache_type="file", reason="culled") > culled
    assert cache.server_stats()["size_bytes"] > 0


def test_suspicious_markers():
    assert security.suspicious_markers("/user", "q=1%27%20OR%201%3D1") == ["sql_injection"]
    assert security.suspicious_markers("/static/..%2F..%2Fetc/passwd", "") == ["path_traversal"]
    assert security.suspicious_markers("/user", "page=2&name=O%27Brien") == []


def test_csrf_failure_is_counted_and_answered_by_django():
    client = Client(enforce_csrf_checks=True)
    before = value("birthday_scheduler_csrf_violations_total")
    denials = sum(s.value for m in REGISTRY.collect() if m.name == "birthday_scheduler_authorization_denials"
                  for s in m.samples if s.name.endswith("_total"))
    response = client.post("/admin/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert b"CSRF" in response.content
    assert value("birthday_scheduler_csrf_violations_total") == before + 1
    after = sum(s.value for m in REGISTRY.collect() if m.name == "birthday_scheduler_authorization_denials"
                for s in m.samples if s.name.endswith("_total"))
    assert after == denials  # a CSRF failure is not an authorization denial
