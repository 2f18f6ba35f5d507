"""Bulk import of users from JSON Lines or CSV, streamed: rows are read one at a time and written
in chunks (BULK_IMPORT_CHUNK_ROWS), each chunk one transaction, so memory stays bounded whatever
the input's size and a bad row costs only itself.

Every row is checked by the very serializer POST /user uses. Its natural key is the email,
compared case-insensitively: a row whose email already exists (or appeared earlier in the same
input) is a `duplicate` and changes nothing, which makes re-sending an import harmless. With an
Idempotency-Key, rows created by an earlier import under the same key answer `created` again.
Occasions are computed for every created user with each occasion type's own `next_due` and written
in the same transaction as the users.
"""

import codecs
import collections
import csv
import dataclasses
import datetime
import io
import itertools
import json
import signal
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db import connection, transaction
from django.db.models.functions import Lower
from rest_framework.exceptions import ValidationError

from core import clock, occasions

from .models import User
from .serializers import UserSerializer

FORMATS = {
    "application/x-ndjson": "jsonl", "application/jsonl": "jsonl", "application/x-jsonlines": "jsonl",
    "application/json-seq": "jsonl", "text/csv": "csv",
}
CSV_COLUMNS = ("first_name", "last_name", "email", "birthday", "timezone", "anniversary_date")
MAX_KEY_LENGTH = 200


@dataclasses.dataclass
class RowResult:
    row: int
    status: str  # created | duplicate | error
    id: int | None = None
    fields: dict | None = None

    def as_dict(self) -> dict:
        out = {"row": self.row, "status": self.status}
        if self.id is not None:
            out["id"] = self.id
        if self.fields is not None:
            out["fields"] = self.fields
        return out


@dataclasses.dataclass
class Summary:
    rows: int = 0
    created: int = 0
    duplicate: int = 0
    error: int = 0

    def add(self, result: RowResult) -> None:
        self.rows += 1
        setattr(self, result.status, getattr(self, result.status) + 1)


# Parsed rows: (row number, the row as a dict, or None with a per-field error dict)
ParsedRow = tuple[int, dict | None, dict | None]


class RowTooLarge(Exception):
    pass


def lines_of(read_line, max_line_bytes: int) -> Iterator[bytes | RowTooLarge]:
    """The input's lines, read `readline(limit)` at a time; a line longer than `max_line_bytes`
    is skipped to its end and reported as RowTooLarge in its place."""
    while True:
        line = read_line(max_line_bytes + 1)
        if not line:
            return
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = read_line(max_line_bytes + 1)
            yield RowTooLarge()
            continue
        yield line


def _too_large() -> dict:
    return {"non_field_errors": [f"Row larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."]}


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


def parse_jsonl(lines: Iterable[bytes | RowTooLarge]) -> Iterator[ParsedRow]:
    """One JSON object per line, read as POST /user reads its body: UTF-8, no NaN or Infinity
    (json.loads on bytes would guess UTF-16 or UTF-32 and skip a BOM on any line). A BOM opening
    the body is skipped, as for CSV: editors write one."""
    number = 0
    opening = True
    for line in lines:
        if opening and isinstance(line, bytes):
            line = line.removeprefix(codecs.BOM_UTF8)
        opening = False
        if isinstance(line, RowTooLarge):
            number += 1
            yield number, None, _too_large()
            continue
        if not line.strip():
            continue
        number += 1
        try:
            data = json.loads(line.decode("utf-8"), parse_constant=_not_json)
        except (ValueError, RecursionError):
            yield number, None, {"non_field_errors": ["Not valid JSON (UTF-8, one object per line)."]}
            continue
        if not isinstance(data, dict):
            yield number, None, {"non_field_errors": ["Each line must be a JSON object."]}
            continue
        yield number, data, None


def parse_csv(lines: Iterable[bytes | RowTooLarge]) -> Iterator[ParsedRow]:
    """CSV with a header line naming the columns (anniversary_date may be absent or empty)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    too_large: list[int] = []

    def text_lines():
        for line in lines:
            if isinstance(line, RowTooLarge):
                too_large.append(1)
                yield "\n"  # keeps the row count; reported below
                continue
            try:
                yield decoder.decode(line)
            except UnicodeDecodeError:
                decoder.reset()
                yield "\x00invalid-utf8\n"

    def records():
        # The csv module raises on some malformed lines (a bare carriage return in an unquoted
        # field); the reader starts afresh on the next line, so the error is that row's alone.
        reader = csv.reader(text_lines())
        while True:
            try:
                yield next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield exc

    rows = records()
    header = next(rows, None)
    if header is None:
        return
    # An unreadable header names no columns: every row then says which ones are missing.
    header = [] if isinstance(header, csv.Error) else [name.strip() for name in header]
    missing = [name for name in CSV_COLUMNS if name != "anniversary_date" and name not in header]
    number = 0
    for record in rows:
        if isinstance(record, csv.Error):
            number += 1
            yield number, None, {"non_field_errors": [f"Not a valid CSV row: {record}."]}
            continue
        if not record or record == [""]:
            if too_large:
                too_large.pop()
                number += 1
                yield number, None, _too_large()
            continue
        number += 1
        if missing:
            yield number, None, {name: ["This column is missing from the CSV header."] for name in missing}
            continue
        if any("\x00" in value for value in record):
            yield number, None, {"non_field_errors": ["Not valid UTF-8."]}
            continue
        if len(record) != len(header):
            yield number, None, {"non_field_errors": [f"Expected {len(header)} columns, found {len(record)}."]}
            continue
        data = {name: value for name, value in zip(header, record) if name in CSV_COLUMNS}
        if data.get("anniversary_date", None) == "":
            data["anniversary_date"] = None
        yield number, data, None


def _messages(detail) -> dict:
    """DRF's error detail as plain JSON: {field: [message, ...]}."""
    if isinstance(detail, dict):
        return {str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()}
    return {"non_field_errors": [str(m) for m in (detail if isinstance(detail, list) else [detail])]}


def import_rows(
    rows: Iterable[ParsedRow], *, idempotency_key: str | None = None, chunk_size: int | None = None,
    now: datetime.datetime | None = None, workers: int = 1,
) -> Iterator[RowResult]:
    """Validate, insert and schedule the rows chunk by chunk; yields one result per row, in order.

    With `workers` > 1 (the import command; not the API, whose requests already run in
    parallel) rows are validated and their occasions computed in that many child processes
    while this one writes: the checks are most of the CPU an import costs. At most two chunks
    per worker are in flight, so memory stays bounded.
    """
    chunk_size = chunk_size or settings.BULK_IMPORT_CHUNK_ROWS
    now = now or clock.now()
    rows = iter(rows)
    chunks = iter(lambda: list(itertools.islice(rows, chunk_size)), [])
    if workers <= 1:
        for chunk in chunks:
            yield from _store(_check_chunk(chunk, now), idempotency_key, now)
        return
    import multiprocessing

    # Forked children inherit the loaded Django; they touch no database connection.
    with multiprocessing.get_context("fork").Pool(workers, initializer=_checker_start) as pool:
        pending: collections.deque = collections.deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_check_chunk, (chunk, now)))
            if len(pending) >= 2 * workers:
                yield from _store(pending.popleft().get(), idempotency_key, now)
        while pending:
            yield from _store(pending.popleft().get(), idempotency_key, now)


_validator: UserSerializer | None = None


def _checker_start() -> None:
    # The pool ends its checking processes with SIGTERM. A handler inherited from the parent (the
    # benchmark's, a server's) would run Python code in a forked copy whose locks the parent's
    # other threads held, and could hang there (seen: a checker waiting on a lock for good after
    # a 1,000,000-row import). Default action: the process just ends.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _check_chunk(chunk: list[ParsedRow], now: datetime.datetime) -> list[tuple[RowResult, dict | None, list]]:
    """Each row checked by POST /user's serializer, with the occasions of the valid ones."""
    global _validator
    if _validator is None:
        _validator = UserSerializer()  # one instance: building the fields per row would cost more than checking
    checked = []
    for number, data, error in chunk:
        if error is not None:
            checked.append((RowResult(number, "error", fields=error), None, []))
            continue
        try:
            validated = _validator.run_validation(data)
        except ValidationError as exc:
            checked.append((RowResult(number, "error", fields=_messages(exc.detail)), None, []))
            continue
        checked.append((RowResult(number, "created"), validated, occasions.first_occurrences(User(**validated), now)))
    return checked


def _store(checked: list[tuple[RowResult, dict | None, list]], key: str | None,
           now: datetime.datetime) -> list[RowResult]:
    valid = [(result, data, upcoming) for result, data, upcoming in checked if data is not None]
    if valid:
        _write_chunk(valid, key, now)
    return [result for result, _data, _upcoming in checked]


def _write_chunk(valid: list[tuple[RowResult, dict, list]], key: str | None, now: datetime.datetime) -> None:
    first_by_email: dict[str, tuple[RowResult, dict, list]] = {}
    repeats: list[tuple[RowResult, str]] = []
    for result, data, upcoming in valid:
        email = data["email"].lower()
        if email in first_by_email:
            repeats.append((result, email))
        else:
            first_by_email[email] = (result, data, upcoming)
    with transaction.atomic():
        created = _insert_users([data for _, data, _ in first_by_email.values()], key, now)
        existing = {}
        conflicting = [email for email in first_by_email if email not in created]
        if conflicting:
            existing = {
                email: (user_id, import_key)
                for user_id, email, import_key in User.objects.annotate(email_lower=Lower("email"))
                .filter(email_lower__in=conflicting).values_list("id", "email_lower", "import_key")
            }
        occasion_rows = []
        for email, (result, data, upcoming) in first_by_email.items():
            if email in created:
                result.id = created[email]
                occasion_rows += [(result.id, kind, local_date, due_at) for kind, local_date, due_at in upcoming]
            else:
                user_id, import_key = existing.get(email, (None, None))
                result.id = user_id
                result.status = "created" if key is not None and import_key == key else "duplicate"
        _insert_occasions(occasion_rows)
    for result, email in repeats:
        result.status, result.id = "duplicate", first_by_email[email][0].id


def _insert_users(rows: list[dict], key: str | None, now: datetime.datetime) -> dict[str, int]:
    """Insert, skipping emails that exist; returns {lowercased email: id} of the rows inserted."""
    if not rows:
        return {}
    if connection.vendor != "postgresql":
        inserted = {}
        for data in rows:
            if not User.objects.annotate(email_lower=Lower("email")).filter(email_lower=data["email"].lower()).exists():
                user = User.objects.create(import_key=key, **data)
                inserted[data["email"].lower()] = user.pk
        return inserted
    # COPY into a per-transaction staging table, then one INSERT ... SELECT: COPY's rows are
    # encoded by psycopg's C code, where unnest() of array parameters dumped each element in
    # Python (a fifth of the import's time).
    with connection.cursor() as cursor:
        _stage(cursor, "import_users_stage", "first_name varchar, last_name varchar, email varchar, birthday date, "
               "timezone varchar, anniversary_date date",
               ((r["first_name"], r["last_name"], r["email"], r["birthday"], r["timezone"], r.get("anniversary_date"))
                for r in rows))
        cursor.execute(
            "INSERT INTO users_user (first_name, last_name, email, birthday, timezone, anniversary_date, import_key, "
            "created_at, updated_at) "
            "SELECT first_name, last_name, email, birthday, timezone, anniversary_date, %s, %s, %s "
            "FROM import_users_stage ON CONFLICT ((lower(email::text))) DO NOTHING RETURNING id, lower(email)",
            [key, now, now],
        )
        inserted = {email: user_id for user_id, email in cursor.fetchall()}
        cursor.execute("DELETE FROM import_users_stage")  # in case the caller holds one transaction for many chunks
        return inserted


def _insert_occasions(rows: list[tuple]) -> None:
    """(user id, kind, local date, due instant) rows, upserted like sync_occasions does."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        Occasion = User.occasions.field.model  # the scheduler sits above users: no import of it
        Occasion.objects.bulk_create(
            [Occasion(user_id=u, kind=k, local_date=d, due_at=t) for u, k, d, t in rows],
            update_conflicts=True, unique_fields=["user", "kind"], update_fields=["local_date", "due_at"],
        )
        return
    with connection.cursor() as cursor:
        _stage(cursor, "import_occasions_stage", "user_id bigint, kind varchar, local_date date, due_at timestamptz", rows)
        cursor.execute(
            "INSERT INTO scheduler_occasion (user_id, kind, local_date, due_at) "
            "SELECT user_id, kind, local_date, due_at FROM import_occasions_stage "
            "ON CONFLICT (user_id, kind) DO UPDATE SET local_date = EXCLUDED.local_date, due_at = EXCLUDED.due_at"
        )
        cursor.execute("DELETE FROM import_occasions_stage")


def _stage(cursor, table: str, columns: str, rows: Iterable[tuple]) -> None:
    """COPY rows into a temporary staging table: made once per connection, emptied at each
    commit, and emptied by the caller after its INSERT ... SELECT in case one transaction holds
    many chunks."""
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({columns}) ON COMMIT DELETE ROWS")
    with cursor.cursor.copy(f"COPY {table} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def results_as_jsonl(results: Iterable[RowResult], summary: Summary) -> Iterator[bytes]:
    for result in results:
        summary.add(result)
        if result.fields is None and result.id is not None:
            # Most lines: only integers and a fixed word, so formatted directly (json.dumps per
            # row was a tenth of an import's time); byte for byte what json.dumps writes.
            yield f'{{"row":{result.row},"status":"{result.status}","id":{result.id}}}\n'.encode()
            continue
        yield (json.dumps(result.as_dict(), separators=(",", ":")) + "\n").encode()
    yield (json.dumps({"summary": dataclasses.asdict(summary)}, separators=(",", ":")) + "\n").encode()


def parser_for(fmt: str):
    return parse_csv if fmt == "csv" else parse_jsonl


def open_lines(stream: io.BufferedIOBase, max_line_bytes: int | None = None):
    return lines_of(stream.readline, max_line_bytes or settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
