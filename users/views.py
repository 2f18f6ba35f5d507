"""HTTP layer for /user: parse, call a service or selector, render."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from . import selectors, services
from .serializers import ErrorSerializer, UserListQuerySerializer, UserSerializer


class BoundedJSONParser(JSONParser):
    """JSON, with nesting deep enough to exhaust the decoder's recursion reported as a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


class UserPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


COMMON_ERRORS = {
    401: _error("Missing, unknown or revoked bearer token (with a WWW-Authenticate: Bearer challenge)"),
    429: _error("Too many requests for this token; retry after the Retry-After header's seconds"),
    503: _error("The database is unavailable; retry after the Retry-After header's seconds"),
}
BODY_ERRORS = {
    400: _error("Invalid input; `fields` maps each invalid field to its messages"),
    409: _error("Another user already has this email (compared case-insensitively)"),
    413: _error("Request body larger than the configured limit"),
    415: _error("Content-Type is not application/json"),
}
NOT_FOUND = {404: _error("No user with this id")}
USER_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The user's id")


USER_NOT_FOUND = "No user with this id."


def _not_found() -> NotFound:
    return NotFound(USER_NOT_FOUND)


@extend_schema(tags=["users"])
class UserListCreateView(generics.ListCreateAPIView):
    serializer_class = UserSerializer
    pagination_class = UserPagination
    parser_classes = [BoundedJSONParser]

    def get_queryset(self):
        query = UserListQuerySerializer(data=self.request.query_params)
        if not query.is_valid():
            raise ValidationError(query.errors)
        return selectors.list_users(**query.validated_data)

    @extend_schema(
        summary="List users",
        parameters=[UserListQuerySerializer],
        responses={200: UserSerializer(many=True), 400: _error("Invalid filter value"), 404: _error("No such page"),
                   **COMMON_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(summary="Create a user", responses={201: UserSerializer, **BODY_ERRORS, **COMMON_ERRORS})
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.create_user(serializer.validated_data)
        # The saved instance is rendered as is: its occasions are the one query left.
        return Response(self.get_serializer(user).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["users"], parameters=[USER_ID])
class UserDetailView(generics.GenericAPIView):
    serializer_class = UserSerializer
    parser_classes = [BoundedJSONParser]

    def _user_id(self) -> int:
        user_id = selectors.parse_user_id(self.kwargs["id"])
        if user_id is None:
            raise _not_found()
        return user_id

    def get_object(self):
        # DRF's OPTIONS metadata calls this to probe PUT; the generic version needs a queryset
        # and a `pk` kwarg this view does not have, and would fail with a 500.
        user = selectors.get_user(self._user_id())
        if user is None:
            raise _not_found()
        return user

    def _render(self, user_id: int) -> Response:
        user = selectors.get_user(user_id)
        if user is None:
            raise _not_found()
        return Response(self.get_serializer(user).data)

    @extend_schema(summary="Get a user", responses={200: UserSerializer, **NOT_FOUND, **COMMON_ERRORS})
    def get(self, request, *args, **kwargs):
        return self._render(self._user_id())

    def _update(self, request, partial: bool) -> Response:
        user_id = self._user_id()
        current = selectors.get_user(user_id)
        if current is None:
            raise _not_found()
        serializer = self.get_serializer(current, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if not partial:
            # PUT replaces the user: an omitted optional field is cleared, not kept.
            data.setdefault("anniversary_date", None)
        try:
            services.update_user(user_id, data)
        except services.UserNotFound:
            raise _not_found() from None
        return self._render(user_id)

    @extend_schema(
        summary="Replace a user",
        description="Every field is required except anniversary_date, which is cleared when omitted.",
        responses={200: UserSerializer, **NOT_FOUND, **BODY_ERRORS, **COMMON_ERRORS},
    )
    def put(self, request, *args, **kwargs):
        return self._update(request, partial=False)

    @extend_schema(
        summary="Change some fields of a user",
        responses={200: UserSerializer, **NOT_FOUND, **BODY_ERRORS, **COMMON_ERRORS},
    )
    def patch(self, request, *args, **kwargs):
        return self._update(request, partial=True)

    @extend_schema(summary="Delete a user", responses={204: None, **NOT_FOUND, **COMMON_ERRORS})
    def delete(self, request, *args, **kwargs):
        try:
            services.delete_user(self._user_id())
        except services.UserNotFound:
            raise _not_found() from None
        return Response(status=status.HTTP_204_NO_CONTENT)
