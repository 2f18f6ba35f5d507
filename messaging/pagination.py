"""Keyset (cursor) pagination on (due_at, id) for message listings.

DRF's CursorPagination keys on one field and falls back to an OFFSET among rows that share its
value; thousands of messages share a due instant (every user of a zone born on the same day), so
that offset would grow with them. Here the cursor carries the last row's (due_at, id) and the
next page is `WHERE (due_at, id) > (%s, %s) ORDER BY due_at, id LIMIT n`: one range scan of the
(status, due_at, id) or (due_at, id) index, whatever the page's depth.
"""

import datetime
from base64 import b64decode, b64encode
from urllib import parse

from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from .sql import db_values

_TABLE = "messaging_message"


class MessageCursorPagination(CursorPagination):
    ordering = ("due_at", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    invalid_cursor_message = "Invalid cursor."

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        position, reverse = self._decode(request)
        if position is not None:
            operator = "<" if reverse else ">"
            queryset = queryset.extra(
                where=[f'("{_TABLE}"."due_at", "{_TABLE}"."id") {operator} (%s, %s)'],
                params=db_values(list(position)),
            )
        queryset = queryset.order_by(*(("-due_at", "-id") if reverse else ("due_at", "id")))
        rows = list(queryset[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if reverse:
            rows.reverse()
            self._has_next, self._has_previous = position is not None, more
        else:
            self._has_next, self._has_previous = more, position is not None
        self.page = rows
        return rows

    def _decode(self, request):
        raw = request.query_params.get(self.cursor_query_param)
        if not raw:
            return None, False
        try:
            fields = parse.parse_qs(b64decode(raw.encode("ascii"), validate=True).decode("ascii"), strict_parsing=True)
            due_at = datetime.datetime.fromisoformat(fields["d"][0])
            message_id = int(fields["i"][0])
            reverse = fields.get("r", ["0"])[0] == "1"
        except (ValueError, KeyError, UnicodeError, TypeError):
            raise NotFound(self.invalid_cursor_message) from None
        if due_at.tzinfo is None:
            raise NotFound(self.invalid_cursor_message)
        try:
            # In UTC, as the cursors written here are: Python reads offsets up to ±23:59:59 and
            # PostgreSQL refuses those from ±16:00 (a 500); past year 9999 or before 1, a 404.
            due_at = due_at.astimezone(datetime.UTC)
        except OverflowError:
            raise NotFound(self.invalid_cursor_message) from None
        return (due_at, message_id), reverse

    def _link(self, message, reverse: bool) -> str:
        query = {"d": message.due_at.isoformat(), "i": str(message.id)}
        if reverse:
            query["r"] = "1"
        token = b64encode(parse.urlencode(query).encode("ascii")).decode("ascii")
        return replace_query_param(self.base_url, self.cursor_query_param, token)

    def get_next_link(self):
        return self._link(self.page[-1], reverse=False) if self._has_next and self.page else None

    def get_previous_link(self):
        if not self._has_previous:
            return None
        if not self.page:
            return remove_query_param(self.base_url, self.cursor_query_param)
        return self._link(self.page[0], reverse=True)

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})
