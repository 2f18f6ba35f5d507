"""`Authorization: Bearer <token>` for integrators."""

import dataclasses

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from . import services


@dataclasses.dataclass(frozen=True)
class TokenClient:
    """The caller behind a token; stands in for request.user (there is no user account)."""

    id: int
    name: str
    is_authenticated: bool = True
    is_anonymous: bool = False

    def __str__(self) -> str:
        return self.name


class BearerTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        # Real tokens are ~47 characters; anything far longer is not worth hashing.
        if len(raw) > 256:
            raise exceptions.AuthenticationFailed("Invalid token.")
        info = services.lookup(raw)
        if info is None or info.revoked:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        services.mark_used(info)
        client = TokenClient(id=info.id, name=info.name)
        return client, client

    def authenticate_header(self, request):
        # Its presence makes DRF answer 401 (not 403) with this WWW-Authenticate challenge.
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apiauth.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An integrator token issued with `manage.py create_api_token NAME`.",
        }
