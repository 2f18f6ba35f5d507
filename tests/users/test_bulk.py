"""POST /users/bulk and import_users: same rules as POST /user, per-row results, idempotent."""

import io
import json
import os

import pytest
from django.core.management import call_command

from scheduler.models import Occasion
from tests.factories import make_user, user_payload
from users.models import User

pytestmark = pytest.mark.django_db

JSONL = "application/x-ndjson"


def lines(response) -> list[dict]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return [json.loads(line) for line in body.decode().splitlines()]


def jsonl(*rows) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


def post(api, body: bytes, content_type=JSONL, **headers):
    return api.generic("POST", "/users/bulk", body, content_type=content_type, **headers)


def test_jsonl_rows_created_duplicate_and_error_in_order(api):
    make_user(email="taken@example.com")
    body = jsonl(
        user_payload(email="a@example.com", anniversary_date="2015-06-01"),
        user_payload(email="TAKEN@example.com"),
        user_payload(email="b@example.com", timezone="Mars/Base", birthday="2999-01-01"),
        b"{not json",
        b"[1, 2]",
        user_payload(email="A@EXAMPLE.com"),
        user_payload(email="c@example.com", first_name=42),
    )
    response = post(api, body)
    assert response.status_code == 200
    results = lines(response)
    assert [r["status"] for r in results[:-1]] == ["created", "duplicate", "error", "error", "error", "duplicate", "error"]
    assert [r["row"] for r in results[:-1]] == [1, 2, 3, 4, 5, 6, 7]
    assert set(results[2]["fields"]) == {"timezone", "birthday"}
    assert results[6]["fields"] == {"first_name": ["Not a valid string."]}
    created = User.objects.get(email="a@example.com")
    assert results[0]["id"] == created.id and results[5]["id"] == created.id
    assert results[1]["id"] == User.objects.get(email="taken@example.com").id
    assert results[-1] == {"summary": {"rows": 7, "created": 1, "duplicate": 2, "error": 4}}
    # Occasions computed like POST /user: birthday and anniversary.
    assert set(Occasion.objects.filter(user=created).values_list("kind", flat=True)) == {"birthday", "anniversary"}


def test_the_same_rules_as_post_user(api):
    """Every row the single-user endpoint refuses, the bulk import refuses with the same messages."""
    bad = [
        user_payload(email="x1@example.com", timezone="Not/AZone"),
        user_payload(email="x2@example.com", birthday="1899-12-31"),
        user_payload(email="not-an-email"),
        user_payload(email="x3@example.com", birthday="2001-02-30"),
        {**user_payload(email="x4@example.com"), "last_name": ""},
        {k: v for k, v in user_payload(email="x5@example.com").items() if k != "timezone"},
    ]
    single = [api.post("/user", row, format="json").json()["fields"] for row in bad]
    results = lines(post(api, jsonl(*bad)))
    assert [r["fields"] for r in results[:-1]] == single
    assert User.objects.count() == 0


def test_a_row_is_json_as_post_user_reads_it(api):
    """Rows were parsed by json.loads on bytes, which guesses UTF-16 and UTF-32, skips a BOM on
    any line, and takes NaN and Infinity, all of which POST /user refuses. A BOM opening the
    file is still skipped, as for CSV (editors write one)."""
    nan = json.dumps(user_payload(email="nan@example.com")).replace('"first_name": "', '"n": NaN, "first_name": "')
    rows = [
        b"\xef\xbb\xbf" + json.dumps(user_payload(email="first@example.com")).encode(),
        nan.encode(),
        b"\xef\xbb\xbf" + json.dumps(user_payload(email="bom@example.com")).encode(),
        json.dumps(user_payload(email="utf16@example.com")).encode("utf-16-le"),
    ]
    assert api.post("/user", nan, content_type="application/json").status_code == 400
    results = lines(post(api, b"\n".join(rows) + b"\n"))
    assert [r["status"] for r in results[:-1]] == ["created", "error", "error", "error"]
    assert list(User.objects.values_list("email", flat=True)) == ["first@example.com"]


def test_csv_with_optional_anniversary_column(api):
    body = (
        "first_name,last_name,email,birthday,timezone,anniversary_date\r\n"
        "Ann,Lee,ann@example.com,1990-03-04,Europe/Paris,\r\n"
        '"Bo, Jr",Ng,bo@example.com,1985-12-01,Asia/Tokyo,2010-05-05\r\n'
        "Cy,Oh,cy@example.com,1985-12-01,Asia/Tokyo\r\n"
    ).encode()
    results = lines(post(api, body, content_type="text/csv; charset=utf-8"))
    assert [r["status"] for r in results[:-1]] == ["created", "created", "error"]
    assert User.objects.get(email="bo@example.com").first_name == "Bo, Jr"
    assert User.objects.get(email="ann@example.com").anniversary_date is None


def test_csv_missing_columns_is_an_error_per_row(api):
    results = lines(post(api, b"first_name,email\nAnn,a@example.com\n", content_type="text/csv"))
    assert results[0]["status"] == "error"
    assert set(results[0]["fields"]) == {"last_name", "birthday", "timezone"}


def test_a_malformed_csv_line_is_that_rows_error_not_a_500(api):
    # A bare carriage return inside an unquoted field makes the csv module raise (found by the
    # schemathesis run); the header and any row may carry one.
    body = (b"first_name,last_name,email,birthday,timezone\n"
            b"A\rnn,Lee,a@example.com,1990-03-04,UTC\n"
            b"Bo,Lee,b@example.com,1990-03-04,UTC\n")
    response = post(api, body, content_type="text/csv")
    assert response.status_code == 200
    results = lines(response)
    assert results[0]["status"] == "error" and "Not a valid CSV row" in str(results[0]["fields"])
    assert results[1]["status"] == "created"
    assert post(api, b"\r\xc3\x86x\n", content_type="text/csv").status_code == 200
    assert User.objects.filter(email="b@example.com").exists()


def test_resending_is_idempotent_and_the_key_replays_created(api):
    body = jsonl(*[user_payload(email=f"u{n}@example.com") for n in range(5)])
    first = lines(post(api, body, HTTP_IDEMPOTENCY_KEY="import-1"))
    again = lines(post(api, body, HTTP_IDEMPOTENCY_KEY="import-1"))
    other = lines(post(api, body))
    assert first == again
    assert [r["status"] for r in other[:-1]] == ["duplicate"] * 5
    assert [r["id"] for r in other[:-1]] == [r["id"] for r in first[:-1]]
    assert User.objects.count() == 5 and Occasion.objects.count() == 5


def test_chunks_commit_on_their_own(api, settings):
    settings.BULK_IMPORT_CHUNK_ROWS = 3
    rows = [user_payload(email=f"c{n}@example.com") for n in range(10)]
    rows[4]["timezone"] = "bad"
    results = lines(post(api, jsonl(*rows)))
    assert results[-1]["summary"] == {"rows": 10, "created": 9, "duplicate": 0, "error": 1}
    assert User.objects.count() == 9


def test_bad_requests(api, client, settings):
    assert post(api, b"{}", content_type="application/json").status_code == 415
    assert post(api, b"{}", HTTP_IDEMPOTENCY_KEY="k" * 201).status_code == 400
    settings.BULK_IMPORT_MAX_BYTES = 100
    response = post(api, jsonl(*[user_payload(email=f"z{n}@example.com") for n in range(5)]))
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    assert client.generic("POST", "/users/bulk", b"", content_type=JSONL).status_code == 401


def test_an_oversized_row_is_an_error_and_the_rest_go_on(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 300
    body = jsonl(user_payload(email="a@example.com", first_name="x" * 400), user_payload(email="b@example.com"))
    results = lines(post(api, body))
    assert [r["status"] for r in results[:-1]] == ["error", "created"]


def test_import_users_command(tmp_path):
    path = tmp_path / "users.jsonl"
    path.write_bytes(jsonl(user_payload(email="cmd1@example.com"), user_payload(email="bad", timezone="x")))
    out, err = io.StringIO(), io.StringIO()
    call_command("import_users", str(path), "--results", str(tmp_path / "results.jsonl"), stdout=out, stderr=err)
    assert "created 1, duplicate 0, error 1" in out.getvalue()
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert results[1]["status"] == "error" and "email" in results[1]["fields"]
    call_command("import_users", str(path), stdout=out, stderr=err)
    assert "created 0, duplicate 1, error 1" in out.getvalue()


def test_import_users_names_what_is_wrong_with_the_path(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no such file"):
        call_command("import_users", str(tmp_path / "missing.jsonl"))
    for not_a_file in (tmp_path, "/dev/null"):
        with pytest.raises(CommandError, match="not a regular file"):
            call_command("import_users", str(not_a_file))


def test_import_users_refuses_results_that_would_overwrite_the_input(tmp_path):
    from django.core.management.base import CommandError

    path = tmp_path / "users.jsonl"
    path.write_bytes(jsonl(user_payload(email="keep@example.com")))
    before = path.read_bytes()
    (tmp_path / "sub").mkdir()
    hard_link = tmp_path / "link.jsonl"
    os.link(path, hard_link)
    # The same file by its own name, by another spelling of it, and by a second name (same inode).
    for results in (path, tmp_path / "sub" / ".." / "users.jsonl", hard_link):
        with pytest.raises(CommandError, match="--results .* is the input file"):
            call_command("import_users", str(path), "--results", str(results), "--no-progress")
        assert path.read_bytes() == before
    assert not User.objects.exists()


def test_import_users_names_what_is_wrong_with_the_results_path_and_the_key(tmp_path):
    from django.core.management.base import CommandError

    from users import bulk

    path = tmp_path / "users.jsonl"
    path.write_bytes(jsonl(user_payload(email="keep@example.com")))
    with pytest.raises(CommandError, match="--results .* is a directory"):
        call_command("import_users", str(path), "--results", str(tmp_path), "--no-progress")
    with pytest.raises(CommandError, match="--results .*: no directory .*missing"):
        call_command("import_users", str(path), "--results", str(tmp_path / "missing" / "r.jsonl"), "--no-progress")
    with pytest.raises(CommandError, match=f"--idempotency-key .* at most {bulk.MAX_KEY_LENGTH} characters"):
        call_command("import_users", str(path), "--idempotency-key", "k" * (bulk.MAX_KEY_LENGTH + 1), "--no-progress")
    assert not User.objects.exists()
    call_command("import_users", str(path), "--idempotency-key", "k" * bulk.MAX_KEY_LENGTH, "--no-progress",
                 stdout=io.StringIO())
    assert User.objects.filter(email="keep@example.com").exists()


def test_checking_in_worker_processes_gives_the_same_results(tmp_path, settings):
    settings.BULK_IMPORT_CHUNK_ROWS = 7
    rows = [user_payload(email=f"w{n}@example.com") for n in range(40)]
    rows[5]["timezone"] = "bad"
    rows[30]["email"] = "W3@example.com"
    path = tmp_path / "users.jsonl"
    path.write_bytes(jsonl(*rows))
    out = io.StringIO()
    call_command("import_users", str(path), "--workers", "2", "--no-progress",
                 "--results", str(tmp_path / "r.jsonl"), stdout=out)
    results = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [r["row"] for r in results[:-1]] == list(range(1, 41))
    assert results[5]["status"] == "error" and results[30]["status"] == "duplicate"
    assert results[-1]["summary"] == {"rows": 40, "created": 38, "duplicate": 1, "error": 1}
    assert User.objects.count() == 38 and Occasion.objects.count() == 38


def test_result_lines_are_what_json_writes():
    from users.bulk import RowResult, Summary, results_as_jsonl

    results = [RowResult(1, "created", id=7), RowResult(2, "duplicate", id=3),
               RowResult(3, "error", fields={"timezone": ["Unknown time zone 'Mars/Base'."]})]
    lines = list(results_as_jsonl(results, Summary()))
    assert [json.loads(line) for line in lines[:3]] == [r.as_dict() for r in results]
    assert lines[0] == json.dumps(results[0].as_dict(), separators=(",", ":")).encode() + b"\n"
    assert json.loads(lines[3]) == {"summary": {"rows": 3, "created": 1, "duplicate": 1, "error": 1}}
