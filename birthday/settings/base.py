"""The project itself: where it keeps its files, which apps and middleware it runs, static files
and time. With nothing set, the service runs on one machine with no servers (see database.py,
cache.py and celery.py)."""

import os
from pathlib import Path

from .env import env_bool, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("BIRTHDAY_VAR_DIR", BASE_DIR / "var"))

INSECURE_SECRET_KEY = "insecure-development-key-do-not-use-in-production"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", INSECURE_SECRET_KEY)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
ENVIRONMENT = env_str("BIRTHDAY_ENV", "development")
PRODUCTION = ENVIRONMENT == "production"

INSTALLED_APPS = [
    "backoffice.apps.BackofficeAdminConfig",  # django.contrib.admin with the operators' site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served by the API itself: the docs work offline
    "axes",
    "django_guid",
    "observability",
    "core",
    "users",
    "apiauth",
    "scheduler",
    "messaging",
    "webhooks",
    "backoffice",
]

MIDDLEWARE = [
    # First, so every later middleware's log lines (and early responses) carry the request id.
    "observability.request_id.RequestIdMiddleware",
    "observability.metrics.http.HttpMetricsMiddleware",
    "observability.metrics.security.SecurityMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
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


STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
