"""Read queries for webhook endpoints and events."""

from django.db.models import QuerySet

from .models import Endpoint, Event


def list_endpoints() -> QuerySet[Endpoint]:
    return Endpoint.objects.order_by("id")


def get_endpoint(endpoint_id: int) -> Endpoint | None:
    return Endpoint.objects.filter(pk=endpoint_id).first()


def events_of(endpoint_id: int) -> QuerySet[Event]:
    return Event.objects.filter(endpoint_id=endpoint_id).order_by("-created_at")
