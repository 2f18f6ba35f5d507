"""The REST API (DRF) and its OpenAPI schema."""

from .env import env_bool, env_int, env_str

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apiauth.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["apiauth.throttling.TokenRateThrottle"],
    # 200 requests/s per token: the API's own throughput target (docs/performance.md) is
    # reachable by one integrator; a sliding-window counter (apiauth/throttling.py) enforces it.
    "DEFAULT_THROTTLE_RATES": {"token": env_str("API_RATE_LIMIT", "12000/minute")},
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
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "birthday.openapi.document_answers_to_any_request",
    ],
}

# POST /users/bulk: its body is streamed, so it has a limit of its own; one row still obeys
# API_MAX_BODY_BYTES.
BULK_IMPORT_MAX_BYTES = env_int("BULK_IMPORT_MAX_BYTES", 1073741824)
BULK_IMPORT_CHUNK_ROWS = env_int("BULK_IMPORT_CHUNK_ROWS", 1000)

# GET /user/<id> and POST /user answered before Django when the answer would be Django's
# (birthday/hot_path/).
API_HOT_PATH = env_bool("API_HOT_PATH", True)
