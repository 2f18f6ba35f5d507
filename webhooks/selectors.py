"""Read queries for webhook endpoints and events."""

from django.db.models import QuerySet

from .models import Endpoint


def list_endpoints() -> QuerySet[Endpoint]:
    return Endpoint.objects.order_by("id")


def get_endpoint(endpoint_id: int) -> Endpoint | None:
    return Endpoint.objects.filter(pk=endpoint_id).first()
