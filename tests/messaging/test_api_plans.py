"""The messages API's queries at scale: on PostgreSQL with 300,000 messages and fresh statistics,
every listing page (first or deep, filtered or not) is an index range scan in the page's order,
with no sequential scan and no sort, so its cost does not grow with the table."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

USERS = 30_000
PER_USER = 10


@pytest.fixture(scope="module")
def many_messages(django_db_setup, django_db_blocker):
    """Committed once for the module's tests (building it takes a while), removed after them."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.fail("the plan test needs PostgreSQL (DATABASE_URL)")
        bounds = _fill()
        yield bounds
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE messaging_deliveryattempt, messaging_message, scheduler_occasion, users_user CASCADE")


def _fill():
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO users_user (first_name, last_name, email, birthday, timezone, created_at, updated_at) "
            "SELECT 'F', 'L', 'plan' || n || '@example.com', DATE '1980-01-01' + (n %% 10000), 'UTC', now(), now() "
            "FROM generate_series(1, %s) AS n",
            [USERS],
        )
        # Ten years of birthdays per user; 1 in 50 dead, 1 in 100 expired, the rest sent. Every
        # user of a day shares its due instant: many ties on due_at, as in production.
        cursor.execute(
            "INSERT INTO messaging_message (user_id, kind, occasion_date, due_at, status, attempts, failures, "
            "idempotency_key, sent_at, vendor_message_id, last_error, created_at, updated_at) "
            "SELECT u.id, 'birthday', make_date(2010 + y, 1, 1) + (u.id %% 365)::int, "
            "  (make_date(2010 + y, 1, 1) + (u.id %% 365)::int)::timestamp + interval '9 hours', "
            "  CASE WHEN (u.id + y) %% 50 = 0 THEN 'dead' WHEN (u.id + y) %% 100 = 1 THEN 'expired' ELSE 'sent' END, "
            "  1, 0, gen_random_uuid(), "
            "  CASE WHEN (u.id + y) %% 50 = 0 OR (u.id + y) %% 100 = 1 THEN NULL "
            "       ELSE (make_date(2010 + y, 1, 1) + (u.id %% 365)::int)::timestamp + interval '9 hours' END, "
            "  '', '', now(), now() "
            "FROM users_user u CROSS JOIN generate_series(0, %s) AS y",
            [PER_USER - 1],
        )
        cursor.execute("ANALYZE users_user")
        cursor.execute("ANALYZE messaging_message")
        cursor.execute("SELECT count(*) FROM messaging_message")
        assert cursor.fetchone()[0] == USERS * PER_USER
        cursor.execute("SELECT min(id), max(id) FROM users_user")
        return cursor.fetchone()


def plan_of_listing(api, url) -> tuple[dict, dict]:
    """Run the request; EXPLAIN the query that read the page (the one on messaging_message)."""
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200, response.content
    (sql,) = [q["sql"] for q in captured.captured_queries
              if 'FROM "messaging_message"' in q["sql"] and "LIMIT" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0]
    plan = plan if isinstance(plan, list) else json.loads(plan)
    return plan[0]["Plan"], response.json()


def nodes(plan: dict) -> list[dict]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += nodes(child)
    return found


def assert_index_range_scan(plan: dict, indexes: set[str]):
    kinds = [(n["Node Type"], n.get("Index Name")) for n in nodes(plan)]
    assert not any(kind in ("Seq Scan", "Sort", "Incremental Sort", "Bitmap Heap Scan") for kind, _ in kinds), kinds
    assert any(kind in ("Index Scan", "Index Scan Backward", "Index Only Scan") and name in indexes
               for kind, name in kinds), kinds


DUE = "messaging_msg_due_id_idx"
STATUS_DUE = "messaging_message_status_idx"


@pytest.mark.parametrize("query, indexes", [
    ("", {DUE}),
    # A rare status: only the (status, due_at, id) index finds a page without reading past others.
    ("status=dead", {STATUS_DUE}),
    ("status=expired&due_after=2015-03-01T00:00:00Z&due_before=2016-03-01T00:00:00Z", {STATUS_DUE}),
    # A status most rows have: walking (due_at, id) and skipping the few others is as good.
    ("status=sent&due_after=2015-03-01T00:00:00Z&due_before=2016-03-01T00:00:00Z", {STATUS_DUE, DUE}),
    ("due_after=2018-06-01T00:00:00Z", {DUE}),
    ("kind=birthday", {DUE}),
])
def test_first_and_deep_pages_are_index_range_scans(api, many_messages, query, indexes):
    plan, body = plan_of_listing(api, f"/messages?page_size=50&{query}")
    assert_index_range_scan(plan, indexes)
    assert len(body["results"]) == 50
    # Deep in the table: the cursor's (due_at, id) row comparison is the index condition.
    url = body["next"]
    for _ in range(3):
        url = api.get(url).json()["next"]
    plan, body = plan_of_listing(api, url)
    assert_index_range_scan(plan, indexes)
    index_conditions = " ".join(n.get("Index Cond", "") for n in nodes(plan))
    assert "due_at" in index_conditions and "id" in index_conditions, index_conditions


def test_previous_pages_scan_the_index_backward(api, many_messages):
    first = api.get("/messages?page_size=50&status=sent").json()
    second = api.get(first["next"]).json()
    plan, _ = plan_of_listing(api, second["previous"])
    assert_index_range_scan(plan, {STATUS_DUE, DUE})


def test_a_users_messages_use_the_user_index(api, many_messages):
    low, _high = many_messages
    plan, body = plan_of_listing(api, f"/user/{low + 17}/messages")
    assert len(body["results"]) == PER_USER
    kinds = [(n["Node Type"], n.get("Index Name") or "") for n in nodes(plan)]
    assert not any(kind == "Seq Scan" for kind, _ in kinds), kinds
    # The user's few rows come from an index on user_id, then are put in order.
    assert any("user" in name for _kind, name in kinds), kinds
