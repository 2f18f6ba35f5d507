"""Django cache backends that measure themselves: hits, misses, operation time, evictions.

Put one in CACHES (settings does): `InstrumentedRedisCache` in production,
`InstrumentedFileBasedCache` for the embedded mode. Redis evicts and expires keys on its own;
those counts and the memory in use come from INFO, read by the fleet sampler (fleet.py) through
`server_stats()`.
"""

import os
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from .definitions import CACHE_EVICTIONS, CACHE_HITS, CACHE_MISSES, CACHE_OPERATION_DURATION

_MISS = object()


class _Timed:
    def __init__(self, operation):
        self.child = CACHE_OPERATION_DURATION.labels(operation)

    def __enter__(self):
        self.started = time.perf_counter()

    def __exit__(self, *exc):
        self.child.observe(time.perf_counter() - self.started)


class MeasuredCacheMixin:
    cache_type = "cache"

    def get(self, key, default=None, version=None):
        with _Timed("get"):
            value = super().get(key, _MISS, version)
        if value is _MISS:
            CACHE_MISSES.labels(self.cache_type).inc()
            return default
        CACHE_HITS.labels(self.cache_type).inc()
        return value

    def get_many(self, keys, version=None):
        keys = list(keys)
        with _Timed("get"):
            found = super().get_many(keys, version)
        if found:
            CACHE_HITS.labels(self.cache_type).inc(len(found))
        if len(keys) > len(found):
            CACHE_MISSES.labels(self.cache_type).inc(len(keys) - len(found))
        return found

    def has_key(self, key, version=None):
        with _Timed("get"):
            return super().has_key(key, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        with _Timed("set"):
            return super().set(key, value, timeout, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        with _Timed("set"):
            return super().add(key, value, timeout, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        with _Timed("set"):
            return super().set_many(data, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        with _Timed("set"):
            return super().touch(key, timeout, version)

    def incr(self, key, delta=1, version=None):
        with _Timed("set"):
            return super().incr(key, delta, version)

    def delete(self, key, version=None):
        with _Timed("delete"):
            return super().delete(key, version)

    def delete_many(self, keys, version=None):
        with _Timed("delete"):
            return super().delete_many(keys, version)


class ReusedClientRedisCacheClient(RedisCacheClient):
    """Django builds a new `redis.Redis` for every operation, and redis-py's constructor fills a
    table of ~200 response callbacks each time: about a third of the API's CPU per request went
    there. A client is only a handle on its (thread-safe) connection pool, so one per pool does."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class InstrumentedRedisCache(MeasuredCacheMixin, RedisCache):
    cache_type = "redis"

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient

    def server_stats(self) -> dict[str, float]:
        """Memory in use and the server's cumulative evicted/expired key counts."""
        client = self._cache.get_client(write=False)
        memory = client.info("memory")
        stats = client.info("stats")
        return {
            "size_bytes": float(memory.get("used_memory", 0)),
            "evicted": float(stats.get("evicted_keys", 0)),
            "expired": float(stats.get("expired_keys", 0)),
        }


class InstrumentedFileBasedCache(MeasuredCacheMixin, FileBasedCache):
    cache_type = "file"

    def _cull(self):
        before = len(self._list_cache_files())
        if before < self._max_entries:
            return
        super()._cull()
        removed = before - len(self._list_cache_files())
        if removed > 0:
            CACHE_EVICTIONS.labels(self.cache_type, "culled").inc(removed)

    def _is_expired(self, f):
        expired = super()._is_expired(f)
        if expired:
            CACHE_EVICTIONS.labels(self.cache_type, "expired").inc()
        return expired

    def server_stats(self) -> dict[str, float]:
        size = 0
        for path in self._list_cache_files():
            try:
                size += os.path.getsize(path)
            except OSError:
                pass
        return {"size_bytes": float(size)}
