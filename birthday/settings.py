"""All configuration comes from the environment (12-factor); README.md lists every variable.

With nothing set, the service runs on one machine with no servers: SQLite, a filesystem
Celery broker shared by all local processes, and a file-based cache. Setting DATABASE_URL,
CELERY_BROKER_URL and REDIS_URL selects PostgreSQL, RabbitMQ and Redis (production).
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("BIRTHDAY_VAR_DIR", BASE_DIR / "var"))

# Before anything imports prometheus_client: a Celery worker (or beat) process finds and cleans
# its metrics multiprocess directory here; gunicorn.conf.py does the same for the API.
from observability.metrics import multiproc as _metrics_multiproc  # noqa: E402

_metrics_multiproc.configure(_metrics_multiproc.service_from_argv(), VAR_DIR)


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# --- Core -----------------------------------------------------------------------------------

INSECURE_SECRET_KEY = "insecure-development-key-do-not-use-in-production"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", INSECURE_SECRET_KEY)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
ENVIRONMENT = env_str("BIRTHDAY_ENV", "development")
PRODUCTION = ENVIRONMENT == "production"

if PRODUCTION:
    if SECRET_KEY == INSECURE_SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured(
            "BIRTHDAY_ENV=production needs DJANGO_SECRET_KEY: at least 50 characters, not the default."
        )
    if DEBUG:
        raise ImproperlyConfigured("BIRTHDAY_ENV=production refuses DJANGO_DEBUG=true.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_prometheus",
    "axes",
    "observability",
    "users",
    "apiauth",
    "scheduler",
    "messaging",
    "webhooks",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "observability.metrics.http.HttpMetricsMiddleware",
    "observability.metrics.security.SecurityMetricsMiddleware",
    # First, so every later middleware's log lines (and early responses) carry the request id.
    "observability.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "birthday.urls"
WSGI_APPLICATION = "birthday.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- Database ---------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'birthday.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
USING_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
if USING_POSTGRES:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5)
else:
    # SQLite serialises writers; wait for the lock instead of failing under a busy worker.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (Redis in production; also holds the vendor circuit breaker and API throttles) ----

REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "observability.metrics.cache.InstrumentedRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "birthday"),
            "TIMEOUT": 300,
            # Bounded waits: a hung Redis must fail a request (or /readyz) fast, not stall it.
            "OPTIONS": {
                "socket_connect_timeout": env_float("CACHE_CONNECT_TIMEOUT_SECONDS", 2.0),
                "socket_timeout": env_float("CACHE_TIMEOUT_SECONDS", 2.0),
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "observability.metrics.cache.InstrumentedFileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "TIMEOUT": 300,
        }
    }

# --- Celery (namespace CELERY_) -----------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
BROKER_IS_AMQP = CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://"))
EMBEDDED_BROKER_DIR = VAR_DIR / "broker"

# --- Product behaviour ------------------------------------------------------------------------

SEND_HOUR = env_int("SEND_HOUR", 9)
if not 0 <= SEND_HOUR <= 23:
    raise ImproperlyConfigured("SEND_HOUR must be between 0 and 23")
FEB29_POLICY = env_str("FEB29_POLICY", "feb28")
if FEB29_POLICY not in {"feb28", "mar1"}:
    raise ImproperlyConfigured("FEB29_POLICY must be 'feb28' or 'mar1'")
SCHEDULER_TICK_SECONDS = env_int("SCHEDULER_TICK_SECONDS", 60)
DISPATCH_INTERVAL_SECONDS = env_int("DISPATCH_INTERVAL_SECONDS", 5)
CATCH_UP_WINDOW_HOURS = env_int("CATCH_UP_WINDOW_HOURS", 72)
# Seconds added to the wall clock for every scheduling decision: lets operators and tests
# replay a window or move time forward across all processes at once.
CLOCK_OFFSET_SECONDS = env_float("CLOCK_OFFSET_SECONDS", 0.0)
SCHEDULE_BATCH_SIZE = env_int("SCHEDULE_BATCH_SIZE", 5000)
DELIVERY_BATCH_SIZE = env_int("DELIVERY_BATCH_SIZE", 50)
DELIVERY_CONCURRENCY = env_int("DELIVERY_CONCURRENCY", 50)
DELIVERY_LEASE_SECONDS = env_int("DELIVERY_LEASE_SECONDS", 120)
QUEUED_STALE_SECONDS = env_int("QUEUED_STALE_SECONDS", 900)
MAX_DELIVERY_ATTEMPTS = env_int("MAX_DELIVERY_ATTEMPTS", 8)
RETRY_BACKOFF_BASE_SECONDS = env_float("RETRY_BACKOFF_BASE_SECONDS", 2.0)
RETRY_BACKOFF_MAX_SECONDS = env_float("RETRY_BACKOFF_MAX_SECONDS", 300.0)

# --- Email vendor -----------------------------------------------------------------------------

VENDOR_BASE_URL = env_str("VENDOR_BASE_URL", "http://127.0.0.1:8025")
VENDOR_NAME = env_str("VENDOR_NAME", "email-service")
VENDOR_CONNECT_TIMEOUT_SECONDS = env_float("VENDOR_CONNECT_TIMEOUT_SECONDS", 2.0)
VENDOR_READ_TIMEOUT_SECONDS = env_float("VENDOR_READ_TIMEOUT_SECONDS", 5.0)
CIRCUIT_FAILURE_THRESHOLD = env_int("CIRCUIT_FAILURE_THRESHOLD", 20)
CIRCUIT_FAILURE_RATIO = env_float("CIRCUIT_FAILURE_RATIO", 0.9)
CIRCUIT_WINDOW_SECONDS = env_int("CIRCUIT_WINDOW_SECONDS", 30)
CIRCUIT_OPEN_SECONDS = env_int("CIRCUIT_OPEN_SECONDS", 30)

# --- Delivery webhooks -------------------------------------------------------------------------

WEBHOOK_DISPATCH_INTERVAL_SECONDS = env_int("WEBHOOK_DISPATCH_INTERVAL_SECONDS", 5)
WEBHOOK_BATCH_SIZE = env_int("WEBHOOK_BATCH_SIZE", 20)
WEBHOOK_CONCURRENCY = env_int("WEBHOOK_CONCURRENCY", 20)
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env_float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", 2.0)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0)
WEBHOOK_LEASE_SECONDS = env_int("WEBHOOK_LEASE_SECONDS", 60)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 12)
WEBHOOK_BACKOFF_BASE_SECONDS = env_float("WEBHOOK_BACKOFF_BASE_SECONDS", 10.0)
WEBHOOK_BACKOFF_MAX_SECONDS = env_float("WEBHOOK_BACKOFF_MAX_SECONDS", 3600.0)
WEBHOOK_SECRET_OVERLAP_HOURS = env_int("WEBHOOK_SECRET_OVERLAP_HOURS", 24)

# --- Bulk import --------------------------------------------------------------------------------

BULK_IMPORT_MAX_BYTES = env_int("BULK_IMPORT_MAX_BYTES", 1073741824)
BULK_IMPORT_CHUNK_ROWS = env_int("BULK_IMPORT_CHUNK_ROWS", 1000)

# --- REST API ---------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apiauth.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["apiauth.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": env_str("API_RATE_LIMIT", "6000/minute")},
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "birthday.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    # How many proxies in front of the API append to X-Forwarded-For. Callers without a token are
    # throttled by address; with 0 that is the TCP peer, since any client can write the header.
    "NUM_PROXIES": env_int("API_TRUSTED_PROXIES", 0),
}
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("API_MAX_BODY_BYTES", 65536)

SPECTACULAR_SETTINGS = {
    "TITLE": "birthday API",
    "DESCRIPTION": "Users and their occasions; messages go out at SEND_HOUR local time.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"MessageStatusEnum": "messaging.models.Message.Status"},
}

# --- Admin and security -----------------------------------------------------------------------

AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 1  # hours
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_VERBOSE = False

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# --- Metrics ----------------------------------------------------------------------------------

PROMETHEUS_METRIC_NAMESPACE = ""
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
# A query slower than this counts as slow.
DB_SLOW_QUERY_SECONDS = env_float("DB_SLOW_QUERY_SECONDS", 0.1)
# Unit costs in USD for the cost metrics.
COST_PER_VENDOR_CALL = env_float("COST_PER_VENDOR_CALL", 0.0001)
COST_PER_MESSAGE = env_float("COST_PER_MESSAGE", 0.0001)
INFRA_COST_DATABASE_USD_HOURLY = env_float("INFRA_COST_DATABASE_USD_HOURLY", 0.0)
INFRA_COST_QUEUE_USD_HOURLY = env_float("INFRA_COST_QUEUE_USD_HOURLY", 0.0)
INFRA_COST_COMPUTE_USD_HOURLY = env_float("INFRA_COST_COMPUTE_USD_HOURLY", 0.0)

# --- Static files, i18n -----------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# One JSON object per line (readable text with DJANGO_DEBUG) for the API, workers and beat.
from observability.logging import build_logging  # noqa: E402

LOGGING = build_logging(debug=DEBUG, level=env_str("LOG_LEVEL", "INFO").upper(), environment=ENVIRONMENT)

# --- Error reporting ------------------------------------------------------------------------

SENTRY_DSN = env_str("SENTRY_DSN", "")
if SENTRY_DSN:
    from observability.sentry import init_sentry  # noqa: E402
    from observability.tracing import service_version  # noqa: E402

    init_sentry(SENTRY_DSN, environment=ENVIRONMENT, release=f"birthday@{service_version()}")
