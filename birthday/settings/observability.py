"""Metrics, logs and error reporting."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .base import DEBUG, ENVIRONMENT
from .env import env_float, env_int, env_list, env_str

WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 9101)
BEAT_METRICS_PORT = env_int("BEAT_METRICS_PORT", 9102)
METRICS_BIND_ADDRESS = env_str("METRICS_BIND_ADDRESS", "0.0.0.0")


def _metrics_networks() -> list:
    import ipaddress

    try:
        return [ipaddress.ip_network(cidr, strict=False) for cidr in env_list("METRICS_ALLOWED_CIDRS", "")]
    except ValueError as exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_CIDRS: {exc}") from None


def _metrics_credentials() -> tuple[str, str] | None:
    """(user, SHA-256 hex of the password) from METRICS_BASIC_AUTH, or from
    METRICS_BASIC_AUTH_USER with the password in METRICS_BASIC_AUTH_PASSWORD_FILE."""
    import hashlib
    import re

    combined = env_str("METRICS_BASIC_AUTH", "")
    password_file = env_str("METRICS_BASIC_AUTH_PASSWORD_FILE", "")
    if combined and password_file:
        raise ImproperlyConfigured("Set METRICS_BASIC_AUTH or METRICS_BASIC_AUTH_PASSWORD_FILE, not both.")
    if combined:
        user, _, digest = combined.partition(":")
        if not user or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            raise ImproperlyConfigured("METRICS_BASIC_AUTH must be 'user:<SHA-256 of the password, in hex>'.")
        return user, digest.lower()
    if password_file:
        user = env_str("METRICS_BASIC_AUTH_USER", "")
        try:
            password = Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ImproperlyConfigured(f"METRICS_BASIC_AUTH_PASSWORD_FILE: {exc.strerror}") from None
        if not user or not password:
            raise ImproperlyConfigured("METRICS_BASIC_AUTH_PASSWORD_FILE needs METRICS_BASIC_AUTH_USER and a password.")
        return user, hashlib.sha256(password.encode()).hexdigest()
    return None


# Who may scrape /metrics on the API, worker and beat (observability/metrics/access.py). Empty
# allowlist: any address; no credentials: no basic auth.
METRICS_ALLOWED_NETWORKS = _metrics_networks()
METRICS_BASIC_AUTH_CREDENTIALS = _metrics_credentials()
# Empty: http://<broker host>:15672 with the broker's credentials.
RABBITMQ_MANAGEMENT_URL = env_str("RABBITMQ_MANAGEMENT_URL", "")
CSRF_FAILURE_VIEW = "observability.metrics.security.csrf_failure"
# How often beat re-reads the deployment-wide figures (user population, costs) for its scrape.
METRICS_FLEET_REFRESH_SECONDS = env_float("METRICS_FLEET_REFRESH_SECONDS", 30.0)
# A message due longer ago than this and not finished counts as behind schedule.
OVERDUE_AFTER_SECONDS = env_int("OVERDUE_AFTER_SECONDS", 600)
# A user is active while one of their occasions is due within this many days (users_active_total).
USERS_ACTIVE_WINDOW_DAYS = env_int("USERS_ACTIVE_WINDOW_DAYS", 30)
# A query slower than this counts as slow.
DB_SLOW_QUERY_SECONDS = env_float("DB_SLOW_QUERY_SECONDS", 0.1)
# Unit costs in USD for the cost metrics.
COST_PER_VENDOR_CALL = env_float("COST_PER_VENDOR_CALL", 0.0001)
COST_PER_MESSAGE = env_float("COST_PER_MESSAGE", 0.0001)
INFRA_COST_DATABASE_USD_HOURLY = env_float("INFRA_COST_DATABASE_USD_HOURLY", 0.0)
INFRA_COST_QUEUE_USD_HOURLY = env_float("INFRA_COST_QUEUE_USD_HOURLY", 0.0)
INFRA_COST_COMPUTE_USD_HOURLY = env_float("INFRA_COST_COMPUTE_USD_HOURLY", 0.0)


# The request id (observability/request_id.py): a caller's X-Request-ID when it is a UUID,
# else a new one; carried to every task published while it is current.
from django_guid.integrations import CeleryIntegration  # noqa: E402

DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,
    "EXPOSE_HEADER": False,  # no cross-origin callers: the API sends no CORS headers
    "INTEGRATIONS": [CeleryIntegration()],
}

# One JSON object per line (readable text with DJANGO_DEBUG) for the API, workers and beat.
from observability.logging import build_logging  # noqa: E402

LOGGING = build_logging(debug=DEBUG, level=env_str("LOG_LEVEL", "INFO").upper(), environment=ENVIRONMENT,
                        count_security_events=True)


SENTRY_DSN = env_str("SENTRY_DSN", "")
if SENTRY_DSN:
    from observability.sentry import init_sentry  # noqa: E402
    from observability.tracing import service_version  # noqa: E402

    init_sentry(SENTRY_DSN, environment=ENVIRONMENT, release=f"birthday@{service_version()}")
