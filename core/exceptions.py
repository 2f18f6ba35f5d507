"""Errors the domain raises that the API layer turns into answers."""

from rest_framework import status
from rest_framework.exceptions import APIException


class ConflictError(Exception):
    """The request contradicts data that already exists (e.g. an email already taken).

    Raised by services, which know nothing of HTTP; the API's handler turns it into a 409.
    """

    def __init__(self, fields: dict[str, list[str]], detail: str = "The request conflicts with existing data."):
        super().__init__(detail)
        self.fields = fields
        self.detail = detail


class PayloadTooLarge(APIException):
    """A request body over the configured limit (413), raised by views that read the body."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"
