from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from birthday import health
from birthday.api_docs import SchemaView, SwaggerView
from observability.metrics.exposition import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health.LivenessView.as_view(), name="healthz"),
    path("readyz", health.ReadinessView.as_view(), name="readyz"),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/docs", RedirectView.as_view(pattern_name="swagger-ui", permanent=True)),
    path("", include("users.urls")),
    path("", include("messaging.urls")),
    path("", include("webhooks.urls")),
    # Aggregates every gunicorn worker through the multiprocess directory.
    path("metrics", metrics_view, name="metrics"),
]

# API clients get the API's JSON error shape instead of Django's HTML pages.
handler400 = "birthday.exceptions.bad_request"
handler404 = "birthday.exceptions.page_not_found"
handler500 = "birthday.exceptions.server_error"
