"""Authentication, brute-force protection, throttling, CSRF and security headers."""

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from apiauth import services as token_services
from users.models import User

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]

# Open by design: probes, metrics (restricted by observability/metrics/access.py instead), the
# API description, and the admin (its own login).
OPEN_ROUTES = {"healthz", "readyz", "metrics", "api/schema/", "api/docs/", "api/docs"}
METHODS = ["get", "post", "put", "patch", "delete", "options", "head"]


def routes(patterns=None, prefix=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def concrete(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?\w+>", "1", route)


def test_every_api_route_refuses_anonymous_callers_with_401(db):
    User.objects.create(first_name="A", last_name="B", email="a@example.com", birthday="1990-01-01", timezone="UTC")
    api_routes = [route for route in routes() if not route.startswith("admin/") and route not in OPEN_ROUTES]
    assert {"user", "user/<str:id>"} <= set(api_routes)
    client = APIClient()
    for route in api_routes:
        for method in METHODS:
            response = getattr(client, method)(concrete(route))
            assert response.status_code == 401, (method, route, response.status_code)
            assert response["WWW-Authenticate"].startswith("Bearer")
    assert User.objects.count() == 1


def test_open_routes_answer_without_a_token():
    client = APIClient()
    for route in OPEN_ROUTES:
        assert client.get("/" + route, follow=True).status_code in {200, 503}, route


def test_admin_pages_need_a_login():
    response = Client().get("/admin/apiauth/apitoken/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# --- admin brute force (django-axes, real database) ------------------------------------------------

@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "correct-horse-battery")


def login(username, password, ip):
    return Client().post("/admin/login/?next=/admin/", {"username": username, "password": password},
                         REMOTE_ADDR=ip)


def test_repeated_failed_admin_logins_lock_out_the_address(operator, settings):
    limit = settings.AXES_FAILURE_LIMIT
    for attempt in range(limit - 1):
        assert login("root", f"wrong-{attempt}", "203.0.113.7").status_code == 200  # the form again
    assert login("root", "wrong-last", "203.0.113.7").status_code == 429
    # Locked: even the right password from that address is refused.
    assert login("root", "correct-horse-battery", "203.0.113.7").status_code == 429
    assert AccessAttempt.objects.filter(ip_address="203.0.113.7").exists()


def test_one_address_guessing_many_usernames_is_locked_out(operator, settings):
    statuses = [login(f"user{n}", "guess", "203.0.113.8").status_code for n in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses[-1] == 429
    assert login("root", "correct-horse-battery", "203.0.113.8").status_code == 429
    # Another address and username are unaffected.
    assert login("root", "correct-horse-battery", "198.51.100.1").status_code == 302


def test_one_username_from_many_addresses_is_locked_out(operator, settings):
    statuses = [login("root", "guess", f"192.0.2.{n}").status_code for n in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses[-1] == 429
    assert login("root", "correct-horse-battery", "192.0.2.200").status_code == 429


def test_forwarded_for_header_does_not_reset_the_admin_lockout(operator, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        response = Client().post("/admin/login/", {"username": f"u{n}", "password": "x"},
                                 REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}")
    assert response.status_code == 429


# --- throttling -----------------------------------------------------------------------------------

@pytest.fixture
def low_rate(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "3/minute"}}


def test_a_token_used_from_many_addresses_shares_one_budget(low_rate, token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    statuses = [client.get("/user", REMOTE_ADDR=f"198.51.100.{n}").status_code for n in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_a_forged_forwarded_for_header_does_not_buy_a_fresh_anonymous_budget(low_rate):
    client = APIClient()
    statuses = [client.get("/api/schema/", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code for n in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert int(client.get("/api/schema/", HTTP_X_FORWARDED_FOR="10.0.0.99")["Retry-After"]) > 0


def test_behind_trusted_proxies_the_forwarded_address_is_the_client(low_rate, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = APIClient()
    assert [client.get("/api/schema/", HTTP_X_FORWARDED_FOR="spoof, 10.0.0.1").status_code
            for _ in range(4)] == [200, 200, 200, 429]
    assert client.get("/api/schema/", HTTP_X_FORWARDED_FOR="spoof, 10.0.0.2").status_code == 200


# --- CSRF and sessions ------------------------------------------------------------------------------

def test_admin_post_without_csrf_token_is_403(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post("/admin/apiauth/apitoken/add/", {"name": "sneaky"})
    assert response.status_code == 403
    assert not token_services.ApiToken.objects.filter(name="sneaky").exists()
    login_page = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "root", "password": "x"})
    assert login_page.status_code == 403


def test_admin_post_with_csrf_token_works(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    client.get("/admin/apiauth/apitoken/add/")
    response = client.post("/admin/apiauth/apitoken/add/", {"name": "legit", "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code == 302
    assert token_services.ApiToken.objects.filter(name="legit").exists()


def test_an_admin_session_is_not_api_authentication(operator):
    # The API accepts bearer tokens only, so a forged cross-site request riding the admin's
    # session cookie gets nowhere (and CSRF protection is not needed there).
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.get("/user").status_code == 401
    body = {"first_name": "A", "last_name": "B", "email": "csrf@example.com", "birthday": "1990-01-01", "timezone": "UTC"}
    for response in [client.post("/user", body, content_type="application/json"),
                     client.post("/user", body, content_type="application/json",
                                 HTTP_X_CSRFTOKEN="whatever", HTTP_COOKIE="csrftoken=whatever")]:
        assert response.status_code == 401
    assert not User.objects.exists()


# --- security headers ---------------------------------------------------------------------------------

EXPECTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def test_security_headers_on_api_admin_health_and_errors(api, operator):
    admin = Client()
    admin.force_login(operator)
    responses = {
        "api 200": api.get("/user"),
        "api 201": api.post("/user", {"first_name": "A", "last_name": "B", "email": "h@example.com",
                                      "birthday": "1990-01-01", "timezone": "UTC"}, format="json"),
        "api 400": api.post("/user", {}, format="json"),
        "api 401": APIClient().get("/user"),
        "json 404": api.get("/nowhere"),
        "admin login": Client().get("/admin/login/"),
        "admin page": admin.get("/admin/"),
        "healthz": Client().get("/healthz"),
        "readyz": Client().get("/readyz"),
        "schema": Client().get("/api/schema/"),
        "metrics": Client().get("/metrics"),
    }
    for name, response in responses.items():
        for header, value in EXPECTED_HEADERS.items():
            assert response.get(header) == value, (name, header, response.get(header))


PRODUCTION_PROBE = """
import django, json
django.setup()
from django.test import Client
out = {}
for name, path, secure in [("user_http", "/user", False), ("user_https", "/user", True),
                           ("healthz_http", "/healthz", False), ("admin_https", "/admin/login/", True)]:
    r = Client().get(path, secure=secure)
    out[name] = {"status": r.status_code, "location": r.get("Location"), "hsts": r.get("Strict-Transport-Security"),
                 "cookies": {k: dict(v) for k, v in r.cookies.items()}}
r = Client().get("/user", HTTP_X_FORWARDED_PROTO="https")
out["user_proxied_https"] = {"status": r.status_code, "hsts": r.get("Strict-Transport-Security")}
print(json.dumps(out))
"""


def test_production_redirects_to_https_and_sends_hsts(service_env):
    env = {key: value for key, value in service_env.items() if not key.startswith(("DJANGO_", "BIRTHDAY_"))}
    env.update(DJANGO_SETTINGS_MODULE="birthday.settings", BIRTHDAY_ENV="production",
               DJANGO_SECRET_KEY=secrets.token_urlsafe(64), DJANGO_ALLOWED_HOSTS="testserver")
    result = subprocess.run([sys.executable, "-c", PRODUCTION_PROBE], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["user_http"]["status"] == 301
    assert out["user_http"]["location"] == "https://testserver/user"
    # Probes stay on plain HTTP for the kubelet and load balancer.
    assert out["healthz_http"]["status"] == 200
    for name in ("user_https", "user_proxied_https"):
        assert out[name]["status"] == 401
        assert out[name]["hsts"] == "max-age=31536000; includeSubDomains; preload"
    csrf_cookie = out["admin_https"]["cookies"].get("csrftoken")
    assert csrf_cookie and csrf_cookie["secure"] is True and csrf_cookie["httponly"] is True
