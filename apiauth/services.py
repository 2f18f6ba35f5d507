"""Integrator API tokens: issue, look up (the hot path), revoke.

Only the SHA-256 of a token is stored. Every authenticated request looks its token up, so the
(hash -> id, name, revoked) answer is cached for TOKEN_CACHE_SECONDS and dropped on revoke or
delete; `last_used_at` is written at most once per LAST_USED_RESOLUTION_SECONDS per token.
The cache is an accelerator only: when it is unreachable the database answers.
"""

import dataclasses
import hashlib
import logging
import secrets

from django.core.cache import cache
from django.db import IntegrityError, transaction

from core import clock

from .models import ApiToken

log = logging.getLogger(__name__)

TOKEN_PREFIX = "bdy_"
TOKEN_CACHE_SECONDS = 60
LAST_USED_RESOLUTION_SECONDS = 60
_MISSING = "missing"
# token id -> when (clock seconds) this process last recorded a use: most requests skip even the
# cache round trip that decides whether last_used_at is due.
_marked_here: dict[int, float] = {}


@dataclasses.dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    revoked: bool


class TokenNameTaken(Exception):
    """The name is another token's; `revoked` says whether that token is revoked (a revoked
    token keeps its name, and its history, until it is deleted)."""

    def __init__(self, name: str, revoked: bool):
        super().__init__(name)
        self.name, self.revoked = name, revoked


class TokenNotFound(Exception):
    pass


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _cache_key(token_hash: str) -> str:
    return f"apiauth:token:{token_hash}"


def _used_key(token_id: int) -> str:
    return f"apiauth:used:{token_id}"


@dataclasses.dataclass
class CacheWrite:
    """Whether a change reached the token cache: None until the change commits, then True, or
    False with the error (the cache keeps the old answer until it expires)."""

    done: bool | None = None
    error: str = ""


def _overwrite(token_hash: str, value) -> CacheWrite:
    """Replace the cached answer once the change is committed.

    Writing the new answer (rather than deleting the key) wins against a request that read
    the old row just before the change: lookups only `add`, so they cannot overwrite it.
    """
    outcome = CacheWrite()

    def write():
        try:
            cache.set(_cache_key(token_hash), value, TOKEN_CACHE_SECONDS)
        except Exception as exc:
            # A revoke must not fail because the cache is down; the entry expires on its own.
            # The error is enough to act on: an outage is not a bug, so no traceback.
            log.warning("could not update cached API token: %s", exc)
            outcome.done, outcome.error = False, str(exc) or type(exc).__name__
        else:
            outcome.done = True

    transaction.on_commit(write)
    return outcome


def create_token(name: str) -> tuple[ApiToken, str]:
    """Issue a token; the raw value is returned once and never stored."""
    raw = generate_token()
    try:
        # The unique index decides, not a look first: a creation of the same name that has not
        # committed yet is invisible to a look, and this insert waits for it, then fails.
        with transaction.atomic():
            token = ApiToken.objects.create(name=name, token_hash=hash_token(raw), prefix=raw[:12])
    except IntegrityError:
        taken = ApiToken.objects.filter(name=name).values("revoked_at").first()
        if taken is None:
            raise  # not the name (the hash: 256 random bits, never)
        raise TokenNameTaken(name, revoked=taken["revoked_at"] is not None) from None
    return token, raw


@dataclasses.dataclass(frozen=True)
class Revocation:
    revoked: bool  # False: it was revoked already
    cache: CacheWrite


def revoke_token(token: ApiToken) -> Revocation:
    """Revoke (`revoked` is False if it was already); outside a transaction `cache.done` says
    whether the token cache took the change."""
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=clock.now())
    token.refresh_from_db(fields=["revoked_at"])
    # Also when it was revoked already: running the revoke again repairs a cache a failed update left stale.
    revoked = dataclasses.asdict(TokenInfo(id=token.pk, name=token.name, revoked=True))
    cache_write = _overwrite(token.token_hash, revoked)
    return Revocation(revoked=bool(updated), cache=cache_write)


def revoke_by_name(name: str) -> Revocation:
    """Revoke the token named `name`. Outside a transaction the cache is updated before this
    returns, and `cache.done` says whether that worked."""
    try:
        token = ApiToken.objects.get(name=name)
    except ApiToken.DoesNotExist:
        raise TokenNotFound(name) from None
    return revoke_token(token)


def delete_tokens(tokens) -> list[CacheWrite]:
    hashes = [token.token_hash for token in tokens]
    ApiToken.objects.filter(token_hash__in=hashes).delete()
    return [_overwrite(token_hash, _MISSING) for token_hash in hashes]


def _load(token_hash: str) -> TokenInfo | None:
    row = ApiToken.objects.filter(token_hash=token_hash).values("id", "name", "revoked_at").first()
    if row is None:
        return None
    return TokenInfo(id=row["id"], name=row["name"], revoked=row["revoked_at"] is not None)


def cache_key(raw: str) -> str:
    """The cache key (before the cache's own prefix) of a raw bearer value's cached answer."""
    return _cache_key(hash_token(raw))


def active_from_cache(cached) -> TokenInfo | None:
    """The unrevoked token a cached answer names; None for a revoked or unknown token and for no
    answer (not cached: `lookup` reads the database)."""
    if cached is None or cached == _MISSING:
        return None
    info = TokenInfo(**cached)
    return None if info.revoked else info


def cached_active_token(raw: str) -> TokenInfo | None:
    """`active_from_cache` of what the cache holds for `raw`. Reads the cache only: the API's hot
    path calls it where the ORM may not run (birthday/hot_path/)."""
    return active_from_cache(cache.get(cache_key(raw)))


def lookup(raw: str) -> TokenInfo | None:
    """The token a raw bearer value names (possibly revoked), or None."""
    token_hash = hash_token(raw)
    key = _cache_key(token_hash)
    try:
        cached = cache.get(key)
    except Exception:
        log.warning("token cache unreachable; reading the database", exc_info=True)
        return _load(token_hash)
    if cached == _MISSING:
        return None
    if cached is not None:
        return TokenInfo(**cached)
    info = _load(token_hash)
    # Unknown hashes are cached too, so a flood of bad tokens does not reach the database.
    # A new token cannot collide with a cached miss: its hash has never been seen.
    value = _MISSING if info is None else dataclasses.asdict(info)
    try:
        cache.add(key, value, TOKEN_CACHE_SECONDS)
    except Exception:
        log.warning("could not cache API token lookup", exc_info=True)
    return info


def use_recorded_recently(token_id: int, now: float | None = None) -> bool:
    """Whether this process recorded the token's use within LAST_USED_RESOLUTION_SECONDS, so
    `mark_used` would have nothing to do."""
    now = clock.now().timestamp() if now is None else now
    last = _marked_here.get(token_id)
    return last is not None and 0 <= now - last < LAST_USED_RESOLUTION_SECONDS


def mark_used(info: TokenInfo) -> None:
    """Record use, throttled to one write per token per LAST_USED_RESOLUTION_SECONDS."""
    now = clock.now().timestamp()
    if use_recorded_recently(info.id, now):
        return
    try:
        first_in_window = cache.add(_used_key(info.id), 1, LAST_USED_RESOLUTION_SECONDS)
    except Exception:
        log.warning("token cache unreachable; skipping last_used_at", exc_info=True)
        return
    if first_in_window:
        ApiToken.objects.filter(pk=info.id).update(last_used_at=clock.now())
    _marked_here[info.id] = now
