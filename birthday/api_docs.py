"""The views that serve the OpenAPI document (`/api/schema/`) and Swagger UI (`/api/docs/`).

drf-spectacular's own views render their errors the way they render their success (a 405 in
YAML under the OpenAPI media type, a 406 as an HTML page); these answer every error in the
API's JSON shape (birthday/exceptions.py) instead, as every other path does."""

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response


class _JsonErrors:
    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class SchemaView(_JsonErrors, SpectacularAPIView):
    pass


class SwaggerView(_JsonErrors, SpectacularSwaggerView):
    pass
