"""HTTP layer for /messages and /user/<id>/messages: parse, call a selector or service, render."""

import logging

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from core.exceptions import ConflictError
from users.selectors import parse_user_id
from users.serializers import ErrorSerializer
from users.models import User

from . import operations, outbox, selectors
from .pagination import MessageCursorPagination
from .serializers import MessageDetailSerializer, MessageListQuerySerializer, MessageSerializer


log = logging.getLogger(__name__)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


COMMON_ERRORS = {
    401: _error("Missing, unknown or revoked bearer token (with a WWW-Authenticate: Bearer challenge)"),
    429: _error("Too many requests for this token; retry after the Retry-After header's seconds"),
}
LIST_ERRORS = {400: _error("Invalid filter value"), 404: _error("Invalid cursor"), **COMMON_ERRORS}
MESSAGE_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The message's id")
USER_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The user's id")
CURSOR_NOTE = (
    "Ordered by due_at, then id. Follow `next` for the following page; the cursor is opaque and "
    "stays valid while rows are added (keyset paging, no offsets)."
)


def _message_id(raw) -> int:
    message_id = parse_user_id(raw)  # the same bigint rule as user ids
    if message_id is None:
        raise NotFound("No message with this id.")
    return message_id


def _filters(request) -> dict:
    query = MessageListQuerySerializer(data=request.query_params)
    if not query.is_valid():
        raise ValidationError(query.errors)
    return query.validated_data


@extend_schema(tags=["messages"])
class MessageListView(generics.ListAPIView):
    serializer_class = MessageSerializer
    pagination_class = MessageCursorPagination

    def get_queryset(self):
        return selectors.list_messages(**_filters(self.request))

    @extend_schema(summary="List messages", description=CURSOR_NOTE, parameters=[MessageListQuerySerializer],
                   responses={200: MessageSerializer(many=True), **LIST_ERRORS})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=["messages"], parameters=[USER_ID])
class UserMessageListView(generics.ListAPIView):
    serializer_class = MessageSerializer
    pagination_class = MessageCursorPagination

    def get_queryset(self):
        user_id = parse_user_id(self.kwargs["id"])
        if user_id is None or not User.objects.filter(pk=user_id).exists():
            raise NotFound("No user with this id.")
        return selectors.list_messages(user_id=user_id, **_filters(self.request))

    @extend_schema(summary="List a user's messages", description=CURSOR_NOTE, parameters=[MessageListQuerySerializer],
                   responses={200: MessageSerializer(many=True), **LIST_ERRORS})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=["messages"], parameters=[MESSAGE_ID])
class MessageDetailView(generics.GenericAPIView):
    serializer_class = MessageDetailSerializer

    def get_object(self):
        message = selectors.get_message(_message_id(self.kwargs["id"]))
        if message is None:
            raise NotFound("No message with this id.")
        return message

    @extend_schema(summary="Get a message with its delivery attempts",
                   responses={200: MessageDetailSerializer, 404: _error("No message with this id"), **COMMON_ERRORS})
    def get(self, request, *args, **kwargs):
        return Response(self.get_serializer(self.get_object()).data)


@extend_schema(tags=["messages"], parameters=[MESSAGE_ID])
class MessageRetryView(generics.GenericAPIView):
    serializer_class = MessageDetailSerializer

    @extend_schema(
        summary="Retry a dead or failed message",
        description="Gives the message a fresh retry budget and queues it now. A sent message is never sent "
                    "again: retrying one, or one still in progress or expired, answers 409.",
        request=None,
        responses={202: MessageSerializer, 404: _error("No message with this id"),
                   409: _error("The message is not dead or failed (`fields.status` says what it is)"),
                   **COMMON_ERRORS},
    )
    def post(self, request, *args, **kwargs):
        message_id = _message_id(self.kwargs["id"])
        try:
            message = operations.retry_message(message_id=message_id)
        except operations.MessageNotFound:
            raise NotFound("No message with this id.") from None
        except operations.NotRetryable as exc:
            raise ConflictError(
                {"status": [f"The message is {exc.status}; only dead or failed messages can be retried."]},
                detail=_not_retryable_detail(exc.status),
            ) from None
        except outbox.BrokerUnreachable:
            # The retry is committed; only its publishing failed. The message waits, pending and
            # due now, for the periodic dispatcher, which publishes it once the broker is back.
            log.warning("retry of message %s saved; the broker is unreachable, the dispatcher will publish it",
                        message_id)
            message = selectors.get_message(message_id)
        return Response(MessageSerializer(message).data, status=status.HTTP_202_ACCEPTED)


def _not_retryable_detail(current: str) -> str:
    if current == "sent":
        return "The message was already sent; it is never sent twice."
    if current == "expired":
        return "The message expired past the catch-up window; an operator can retry it from the admin."
    return f"The message is still in progress ({current}); it is retried automatically."
