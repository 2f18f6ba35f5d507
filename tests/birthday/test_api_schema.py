"""The OpenAPI document is valid and describes what the API really does."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration  # runs the system's processes
def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "openapi: 3" in out.read_text()


@pytest.fixture
def schema(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_declares_bearer_auth_on_user_endpoints_only(schema):
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer",
        "description": "An integrator token issued with `manage.py create_api_token NAME`.",
    }
    for method in ("get", "post"):
        assert schema["paths"]["/user"][method]["security"] == [{"bearerAuth": []}]
    for path in ("/healthz", "/readyz"):
        assert "security" not in schema["paths"][path]["get"]
    assert "security" not in schema


def test_schema_lists_error_responses_with_their_body(schema):
    post = schema["paths"]["/user"]["post"]["responses"]
    assert {"201", "400", "401", "409", "413", "415", "429"} <= set(post)
    assert post["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    detail = schema["paths"]["/user/{id}"]
    assert {"get", "put", "patch", "delete"} <= set(detail)
    assert [param["schema"]["type"] for param in detail["get"]["parameters"] if param["name"] == "id"] == ["integer"]
    assert "404" in detail["get"]["responses"] and "404" in detail["delete"]["responses"]
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"error", "detail", "fields"}


def test_schema_documents_filters_and_pagination(schema):
    names = {param["name"] for param in schema["paths"]["/user"]["get"]["parameters"]}
    assert names == {"page", "page_size", "timezone", "birthday_month"}
    listing = schema["components"]["schemas"]["PaginatedUserList"]
    assert {"count", "next", "previous", "results"} <= set(listing["properties"])


def test_swagger_ui_is_served_without_a_token(db):
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


@pytest.mark.parametrize("status, error, headers", [
    (400, "bad_request", {"HTTP_HOST": "zMH{o4"}),  # outside DJANGO_ALLOWED_HOSTS
    (406, "not_acceptable", {"HTTP_ACCEPT": "text/html"}),
])
def test_every_operation_documents_the_answers_any_request_can_get(schema, token, status, error, headers):
    """Django refuses a Host header outside ALLOWED_HOSTS, and DRF an Accept header it cannot
    satisfy, on every path: each operation's documented answers must include them (a fuzzer
    sending `Host: zMH{o4` to GET /messages/{id} found the 400 missing)."""
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    for path, operations in schema["paths"].items():
        url = path.replace("{id}", "1")
        for method, operation in operations.items():
            response = getattr(client, method)(url, **headers)
            assert response.status_code == status, (method, path, response.status_code)
            assert response.json()["error"] == error, (method, path)
            documented = operation["responses"].get(str(status))
            assert documented, f"{method.upper()} {path} does not document its {status}"
            assert documented["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


@pytest.mark.parametrize("method, path, headers, status, error", [
    ("post", "/api/schema/", {}, 405, "method_not_allowed"),
    ("delete", "/api/schema/", {}, 405, "method_not_allowed"),
    ("get", "/api/schema/", {"HTTP_ACCEPT": "text/csv"}, 406, "not_acceptable"),
    ("get", "/api/schema/?format=xml", {}, 404, "not_found"),
    ("post", "/api/docs/", {}, 405, "method_not_allowed"),
    ("get", "/api/docs/", {"HTTP_ACCEPT": "application/json"}, 406, "not_acceptable"),
])
def test_the_schema_and_docs_pages_answer_errors_in_the_apis_json_shape(db, method, path, headers, status, error):
    """Their success bodies are YAML, JSON or HTML; their errors were rendered the same way (a
    405 came back as YAML in the OpenAPI media type, with the error's detail as a YAML object)."""
    response = getattr(APIClient(), method)(path, **headers)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": error, "detail": response.json()["detail"]}
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]


def test_an_unknown_format_suffix_on_the_api_is_a_not_found_in_its_json_shape(token):
    """DRF raises Django's Http404 for a `?format=` no renderer has; the code was "error"."""
    response = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}").get("/user?format=xml")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not found."}


def test_every_operation_documents_the_503_of_a_database_outage(schema):
    """The exception handler answers 503 with Retry-After for any view while PostgreSQL is down;
    the /messages and /webhooks operations did not say so."""
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            # /readyz describes its own 503 (its checks); the others answer in the error shape.
            assert "503" in operation["responses"], f"{method.upper()} {path} does not document its 503"
