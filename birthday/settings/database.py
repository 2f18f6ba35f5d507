"""The database: PostgreSQL from DATABASE_URL in production, SQLite under VAR_DIR otherwise."""

import dj_database_url

from .base import VAR_DIR
from .env import env_int, env_str

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
