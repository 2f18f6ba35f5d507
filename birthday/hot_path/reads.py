"""`GET /user/<id>`: the user and its occasions in one SELECT, rendered as Django renders them."""

from __future__ import annotations

import re
import types

import psycopg

from users.models import User
from users.selectors import parse_user_id
from users.serializers import render_user
from users.views import USER_NOT_FOUND, UserDetailView

from .endpoint import DECLINE, Endpoint, render

_PATH = re.compile(r"/user/([0-9]{1,19})")
USER_COLUMNS = ("id", "first_name", "last_name", "email", "birthday", "timezone", "anniversary_date",
                "created_at", "updated_at")


class UserReads(Endpoint):
    """GET /user/<id>; statuses of its own, once it has counted the request against the rate
    limit (as DRF does after authenticating): 200, 404, 429 and 503."""

    method = "GET"

    def __init__(self):
        super().__init__(UserDetailView, "/user/1", id="1")
        occasion = User.occasions.field.model
        self.sql = (
            "SELECT " + ", ".join(f'u."{User._meta.get_field(name).column}"' for name in USER_COLUMNS)
            + ', o."kind", o."local_date", o."due_at"'
            + f' FROM "{User._meta.db_table}" u LEFT JOIN "{occasion._meta.db_table}" o'
            + ' ON o."user_id" = u."id" WHERE u."id" = %s'
        )

    def serve(self, environ):
        if environ["REQUEST_METHOD"] != "GET" or environ.get("QUERY_STRING"):
            return None
        match = _PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None:
            return None
        user_id = parse_user_id(match.group(1))
        if user_id is None:
            return None
        caller = self.screen(environ)
        if caller is None:
            return None
        counted = self.authorise_and_count(caller)
        if counted is DECLINE:
            return None
        wait, _ = counted
        return self.respond(environ, caller, wait, lambda: self._read(user_id))

    def _read(self, user_id: int):
        try:
            rows = self.db.rows(self.sql, (user_id,))
        except psycopg.OperationalError as exc:
            return self.database_failed(exc)
        self.database_answered()
        if not rows:
            return 404, render({"error": "not_found", "detail": USER_NOT_FOUND}), []
        user = types.SimpleNamespace(**dict(zip(USER_COLUMNS, rows[0], strict=False)))
        width = len(USER_COLUMNS)
        occasions = [types.SimpleNamespace(kind=row[width], local_date=row[width + 1], due_at=row[width + 2])
                     for row in rows if row[width] is not None]
        return 200, render(render_user(user, occasions)), []
