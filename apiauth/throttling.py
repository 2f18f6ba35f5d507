"""Per-token request rate limit (scope "token"); callers without a token are keyed by IP."""

import logging

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

log = logging.getLogger(__name__)


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_rate(self):
        # Read at request time, not class definition, so a changed setting takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        client_id = getattr(request.auth, "id", None)
        ident = f"token-{client_id}" if client_id is not None else f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:
            # The limiter lives in the cache; losing the cache must not take the API down.
            log.warning("throttle cache unreachable; allowing the request", exc_info=True)
            return True
