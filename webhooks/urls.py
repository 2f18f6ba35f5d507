from django.urls import path

from . import api

urlpatterns = [
    path("webhooks/endpoints", api.EndpointListCreateView.as_view(), name="webhook-endpoint-list"),
    path("webhooks/endpoints/<str:id>", api.EndpointDetailView.as_view(), name="webhook-endpoint-detail"),
    path("webhooks/endpoints/<str:id>/rotate-secret", api.EndpointRotateSecretView.as_view(),
         name="webhook-endpoint-rotate"),
]
