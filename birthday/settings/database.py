"""The database: PostgreSQL from DATABASE_URL in production, SQLite under VAR_DIR otherwise."""

import dj_database_url

from .base import VAR_DIR
from .env import env_float, env_int, env_str

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'birthday.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
USING_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
# Django's psycopg connection pool, one per process; DB_POOL_MAX_SIZE=0 turns it off (then
# DB_CONN_MAX_AGE keeps connections open instead).
DB_POOL_MIN_SIZE = env_int("DB_POOL_MIN_SIZE", 1)
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10)
# Short: with the database down a request must fail (503) before its client gives up.
DB_POOL_TIMEOUT_SECONDS = env_float("DB_POOL_TIMEOUT_SECONDS", 3.0)
# After a failed connection the pool tries again this often (core/dbpool.py), not with backoff.
DB_POOL_RECONNECT_SECONDS = env_float("DB_POOL_RECONNECT_SECONDS", 0.5)
if USING_POSTGRES:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5)
    if DB_POOL_MAX_SIZE > 0:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # a pooled connection goes back after each request
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": min(DB_POOL_MIN_SIZE, DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": DB_POOL_TIMEOUT_SECONDS,
        }
else:
    # SQLite serialises writers; wait for the lock instead of failing under a busy worker.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
