"""HTTP layer for POST /users/bulk: the body is read line by line as it arrives, never whole."""

import tempfile

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import UnsupportedMediaType, ValidationError
from rest_framework.views import APIView

from core.exceptions import PayloadTooLarge

from . import bulk
from .views import COMMON_ERRORS, _error

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="Optional, up to 200 characters: rows created by an earlier import with the same key answer "
                "`created` again (with the same id) instead of `duplicate`.",
)
RESULT_EXAMPLE = (
    '{"row":1,"status":"created","id":101}\n'
    '{"row":2,"status":"duplicate","id":7}\n'
    '{"row":3,"status":"error","fields":{"timezone":["Unknown time zone \'Mars/Base\'; use an IANA name such as Europe/Paris."]}}\n'
    '{"summary":{"rows":3,"created":1,"duplicate":1,"error":1}}\n'
)


class _CountingStream:
    """The request body, refused past BULK_IMPORT_MAX_BYTES even without a Content-Length."""

    def __init__(self, stream, limit: int):
        self.stream, self.limit, self.read_bytes = stream, limit, 0

    def readline(self, size=-1):
        line = self.stream.readline(size)
        self.read_bytes += len(line)
        if self.read_bytes > self.limit:
            raise PayloadTooLarge()
        return line


@extend_schema(tags=["users"])
class UserBulkImportView(APIView):
    @extend_schema(
        summary="Import many users (JSON Lines or CSV)",
        description=(
            "The body is JSON Lines (`Content-Type: application/x-ndjson`, one user object per line) or CSV "
            "(`text/csv`, a header line naming the columns first_name, last_name, email, birthday, timezone and "
            "optionally anniversary_date). Each row is checked like POST /user. The answer is JSON Lines, one "
            "result per row in order (`created`, `duplicate` of an existing email, or `error` with per-field "
            "messages), then a summary line. Re-sending an import changes nothing."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request={"application/x-ndjson": OpenApiTypes.STR, "text/csv": OpenApiTypes.STR},
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description="One JSON result per row, then a summary line",
                examples=[OpenApiExample("results", value=RESULT_EXAMPLE)],
            ),
            400: _error("Idempotency-Key too long"),
            413: _error("Body larger than BULK_IMPORT_MAX_BYTES"),
            415: _error("Content-Type is neither JSON Lines nor CSV"),
            **COMMON_ERRORS,
        },
    )
    def post(self, request, *args, **kwargs):
        media_type = request.content_type.split(";")[0].strip().lower()
        fmt = bulk.FORMATS.get(media_type)
        if fmt is None:
            raise UnsupportedMediaType(media_type)
        key = request.headers.get("Idempotency-Key") or None
        if key is not None and len(key) > bulk.MAX_KEY_LENGTH:
            raise ValidationError({"Idempotency-Key": [f"At most {bulk.MAX_KEY_LENGTH} characters."]})
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > settings.BULK_IMPORT_MAX_BYTES:
            raise PayloadTooLarge()
        stream = _CountingStream(request._request, settings.BULK_IMPORT_MAX_BYTES)
        rows = bulk.parser_for(fmt)(bulk.open_lines(stream))
        # Results go to a temporary file while the body is read, and are streamed back once it is
        # consumed: a client that reads the answer only after sending (most do) cannot deadlock,
        # and a million results never sit in memory.
        spool = tempfile.TemporaryFile()
        summary = bulk.Summary()
        for chunk in bulk.results_as_jsonl(bulk.import_rows(rows, idempotency_key=key), summary):
            spool.write(chunk)
        spool.seek(0)
        response = StreamingHttpResponse(_drain(spool), content_type="application/x-ndjson")
        response["X-Import-Created"] = str(summary.created)
        response["X-Import-Duplicates"] = str(summary.duplicate)
        response["X-Import-Errors"] = str(summary.error)
        return response


def _drain(spool):
    try:
        while block := spool.read(65536):
            yield block
    finally:
        spool.close()
