"""`POST /user`: validated by the API's own serializer, written as one statement (the user and its
first occasions), rendered as Django renders it."""

from __future__ import annotations

import io
import json
import time
import types

import psycopg
from django.conf import settings
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from core import clock, occasions
from observability.metrics.definitions import DB_TRANSACTION_DURATION
from observability.metrics.users import count_created
from users.models import User
from users.serializers import UserSerializer, render_user
from users.services import EDITABLE_FIELDS
from users.views import UserListCreateView

from .endpoint import DECLINE, Endpoint, render


def _refuse_constant(name: str):
    # As DRF's strict JSONParser: NaN and Infinity are not JSON.
    raise ValueError(f"{name} is not valid JSON")


class UserCreates(Endpoint):
    """POST /user with a JSON body the serializer accepts; statuses of its own, once it has
    counted the request against the rate limit: 201, 429 and 503. Every body the serializer
    refuses, and an email already taken, are Django's to answer (its 400 and 409 bodies)."""

    method = "POST"

    def __init__(self):
        super().__init__(UserListCreateView, "/user")
        # The view's serializer, run as `is_valid()` runs it: the validation is the serializer's.
        self.serializer = UserSerializer()
        self.max_body = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        user_table, occasion = User._meta.db_table, User.occasions.field.model
        columns = (*EDITABLE_FIELDS, "created_at", "updated_at")
        column_names = ", ".join(f'"{User._meta.get_field(name).column}"' for name in columns)
        placeholders = ", ".join(["%s"] * len(columns))
        insert_user = f'INSERT INTO "{user_table}" ({column_names}) VALUES ({placeholders}) RETURNING "id"'

        def with_occasions(count: int) -> str:
            # One statement, so one transaction in autocommit: both rows or neither, as
            # services.create_user's atomic block gives. The occasions are scalar parameters,
            # which cost psycopg less to adapt than arrays.
            rows = ", ".join(["(%s::varchar, %s::date, %s::timestamptz)"] * count)
            return (f'WITH new_user AS ({insert_user}), new_occasions AS (INSERT INTO '
                    f'"{occasion._meta.db_table}" ("user_id", "kind", "local_date", "due_at") '
                    f'SELECT new_user."id", o.kind, o.local_date, o.due_at FROM new_user, (VALUES {rows}) '
                    'AS o(kind, local_date, due_at)) SELECT "id" FROM new_user')

        # One prepared statement per number of occasions a user can have (one per type at most;
        # with none, the user alone).
        most = len(occasions.all_types())
        self.statements = [insert_user, *(with_occasions(count) for count in range(1, most + 1))]

    def serve(self, environ):
        if (environ["REQUEST_METHOD"] != "POST" or environ.get("QUERY_STRING") or environ.get("PATH_INFO") != "/user"
                or environ.get("CONTENT_TYPE") != "application/json" or environ.get("HTTP_TRANSFER_ENCODING")):
            return None
        length = environ.get("CONTENT_LENGTH", "")
        if not length.isdigit() or not 0 < int(length) <= self.max_body:
            return None  # Django answers an empty or oversized body
        caller = self.screen(environ)
        if caller is None:
            return None
        body = environ["wsgi.input"].read(int(length))
        # Django reads the same bytes whenever it answers instead.
        environ["wsgi.input"] = io.BytesIO(body)
        data = self._validated(body)
        if data is None:
            return None
        counted = self.authorise_and_count(caller)
        if counted is DECLINE:
            return None
        wait, counter = counted
        answer = self.respond(environ, caller, wait, lambda: self._create(data), request_bytes=len(body))
        if answer is DECLINE:
            self.uncount(counter)
            return None
        return answer

    def _validated(self, body: bytes) -> dict | None:
        """The serializer's validated data, or None where it would refuse the body."""
        try:
            document = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
            return self.serializer.run_validation(document)
        except (ValueError, RecursionError, ValidationError):
            return None

    def _create(self, data: dict):
        # As the model's auto_now_add and auto_now fields set them, and the scheduler's clock.
        created_at, updated_at = timezone.now(), timezone.now()
        fields = {name: data.get(name) for name in EDITABLE_FIELDS}
        user = types.SimpleNamespace(**fields, created_at=created_at, updated_at=updated_at)
        first = occasions.first_occurrences(user, clock.now())
        params = (*fields.values(), created_at, updated_at, *(value for row in first for value in row))
        started = time.perf_counter()
        try:
            [(user.id,)] = self.db.rows(self.statements[len(first)], params)
        except psycopg.IntegrityError:
            return DECLINE  # the email is taken: Django finds the same and answers its 409
        except psycopg.OperationalError as exc:
            return self.database_failed(exc)
        DB_TRANSACTION_DURATION.labels("commit").observe(time.perf_counter() - started)
        self.database_answered()
        count_created(user.timezone)
        rows = [types.SimpleNamespace(kind=kind, local_date=day, due_at=due) for kind, day, due in first]
        return 201, render(render_user(user, rows)), []
