"""The cache: Redis from REDIS_URL in production (it also holds the vendor circuit breaker and
the API throttles), a file-based cache under VAR_DIR otherwise."""

from .base import VAR_DIR
from .env import env_float, env_str

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
