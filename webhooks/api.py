"""HTTP layer for /webhooks/endpoints: parse, call a service or selector, render."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from messaging.api import COMMON_ERRORS, _error
from users.selectors import parse_user_id
from users.views import BoundedJSONParser

from . import selectors, services
from .serializers import EndpointSerializer, EndpointWithSecretSerializer, RotateSecretSerializer

ENDPOINT_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The endpoint's id")
BODY_ERRORS = {400: _error("Invalid input; `fields` maps each invalid field to its messages"),
               415: _error("Content-Type is not application/json")}
NOT_FOUND = {404: _error("No endpoint with this id")}
PAGE_NOT_FOUND = {404: _error("No such page (past the last one)")}


def _endpoint_id(raw) -> int:
    endpoint_id = parse_user_id(raw)
    if endpoint_id is None:
        raise NotFound("No endpoint with this id.")
    return endpoint_id


@extend_schema(tags=["webhooks"])
class EndpointListCreateView(generics.ListCreateAPIView):
    serializer_class = EndpointSerializer
    parser_classes = [BoundedJSONParser]

    def get_queryset(self):
        return selectors.list_endpoints()

    @extend_schema(summary="List webhook endpoints (a page past the last answers 404)",
                   responses={200: EndpointSerializer(many=True), **PAGE_NOT_FOUND, **COMMON_ERRORS})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(summary="Register a webhook endpoint",
                   description="The answer carries the signing secret, shown only here and on rotation.",
                   responses={201: EndpointWithSecretSerializer, **BODY_ERRORS, **COMMON_ERRORS})
    def post(self, request, *args, **kwargs):
        serializer = EndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.create_endpoint(**serializer.validated_data)
        return Response(EndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["webhooks"], parameters=[ENDPOINT_ID])
class EndpointDetailView(generics.GenericAPIView):
    serializer_class = EndpointSerializer
    parser_classes = [BoundedJSONParser]

    def get_object(self):
        endpoint = selectors.get_endpoint(_endpoint_id(self.kwargs["id"]))
        if endpoint is None:
            raise NotFound("No endpoint with this id.")
        return endpoint

    @extend_schema(summary="Get a webhook endpoint", responses={200: EndpointSerializer, **NOT_FOUND, **COMMON_ERRORS})
    def get(self, request, *args, **kwargs):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(summary="Change a webhook endpoint (url, description, event_types, is_active)",
                   responses={200: EndpointSerializer, **NOT_FOUND, **BODY_ERRORS, **COMMON_ERRORS})
    def patch(self, request, *args, **kwargs):
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            endpoint = services.update_endpoint(endpoint_id=serializer.instance.pk, data=dict(serializer.validated_data))
        except services.EndpointNotFound:
            raise NotFound("No endpoint with this id.") from None
        return Response(self.get_serializer(endpoint).data)

    @extend_schema(summary="Delete a webhook endpoint and its undelivered events",
                   responses={204: None, **NOT_FOUND, **COMMON_ERRORS})
    def delete(self, request, *args, **kwargs):
        try:
            services.delete_endpoint(endpoint_id=_endpoint_id(self.kwargs["id"]))
        except services.EndpointNotFound:
            raise NotFound("No endpoint with this id.") from None
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["webhooks"], parameters=[ENDPOINT_ID])
class EndpointRotateSecretView(generics.GenericAPIView):
    serializer_class = RotateSecretSerializer
    parser_classes = [BoundedJSONParser]

    @extend_schema(summary="Rotate the signing secret",
                   description="Events are signed with the new secret and, during `overlap_hours`, the old one too.",
                   request=RotateSecretSerializer,
                   responses={200: EndpointWithSecretSerializer, **NOT_FOUND, **BODY_ERRORS, **COMMON_ERRORS})
    def post(self, request, *args, **kwargs):
        serializer = RotateSecretSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        try:
            endpoint = services.rotate_secret(endpoint_id=_endpoint_id(self.kwargs["id"]),
                                              overlap_hours=serializer.validated_data.get("overlap_hours"))
        except services.EndpointNotFound:
            raise NotFound("No endpoint with this id.") from None
        return Response(EndpointWithSecretSerializer(endpoint).data)
