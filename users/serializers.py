"""The API's JSON contract for users. Input checks live here; business rules in services."""

import datetime
import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core import calendar, clock

from . import rules
from .models import User

EARLIEST_DATE = datetime.date(1900, 1, 1)
# Local dates run up to 14 hours ahead of UTC (Pacific/Kiritimati); a date is "in the future"
# only once it is past today everywhere, and then checked against the user's own zone.
MAX_UTC_OFFSET = datetime.timedelta(hours=14)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF would otherwise accept 42 and store "42"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictEmailField(serializers.EmailField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictDateField(serializers.DateField):
    """YYYY-MM-DD only, from 1900-01-01, never past today in any time zone."""

    default_error_messages = {
        "invalid": "Date has wrong format or is not a real date. Use YYYY-MM-DD.",
        "too_early": "Date must be on or after 1900-01-01.",
        "future": "Date cannot be in the future.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("format", "%Y-%m-%d")
        kwargs.setdefault("input_formats", ["%Y-%m-%d"])
        super().__init__(**kwargs)

    def to_internal_value(self, value):
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            self.fail("invalid")
        try:
            date = datetime.date.fromisoformat(value)
        except ValueError:
            self.fail("invalid")
        if date < EARLIEST_DATE:
            self.fail("too_early")
        if date > (clock.now() + MAX_UTC_OFFSET).date():
            self.fail("future")
        return date


class OccasionSerializer(serializers.Serializer):
    type = serializers.CharField(source="kind", help_text="Occasion type, e.g. birthday or anniversary")
    local_date = serializers.DateField(help_text="The date of the occasion in the user's time zone")
    local_time = serializers.SerializerMethodField(help_text="When the message is due, in the user's time zone")
    utc = serializers.SerializerMethodField(help_text="When the message is due, in UTC")

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_local_time(self, occasion) -> str:
        return occasion.due_at.astimezone(calendar.zone(self.context["timezone"])).isoformat()

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_utc(self, occasion) -> str:
        return occasion.due_at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class UserSerializer(serializers.ModelSerializer):
    first_name = StrictCharField(max_length=100)
    last_name = StrictCharField(max_length=100)
    email = StrictEmailField(max_length=254)
    birthday = StrictDateField(help_text="YYYY-MM-DD")
    timezone = StrictCharField(max_length=64, help_text="IANA time zone name, e.g. Australia/Melbourne")
    anniversary_date = StrictDateField(
        required=False, allow_null=True, help_text="YYYY-MM-DD; optional, null for none"
    )
    next_occasions = serializers.SerializerMethodField(
        help_text="The next occurrence of each occasion, soonest first; messages go out at these times."
    )

    class Meta:
        model = User
        fields = [
            "id", "first_name", "last_name", "email", "birthday", "timezone", "anniversary_date",
            "created_at", "updated_at", "next_occasions",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # Email uniqueness is the service's business (409, not 400), not a serializer validator.
        validators = []

    def validate_timezone(self, value: str) -> str:
        if not calendar.is_valid_zone(value):
            raise serializers.ValidationError(f"Unknown time zone {value!r}; use an IANA name such as Europe/Paris.")
        return value

    def validate(self, attrs):
        # A partial update is checked against the stored values of the fields it leaves out; a
        # full one (PUT) clears an omitted anniversary.
        def value(field):
            if field in attrs:
                return attrs[field]
            return getattr(self.instance, field, None) if self.partial else None

        errors = rules.date_errors(
            birthday=value("birthday"), anniversary_date=value("anniversary_date"),
            zone_name=value("timezone"), now=clock.now(), given=set(attrs),
        )
        if errors:
            raise serializers.ValidationError({field: [message] for field, message in errors.items()})
        return attrs

    @extend_schema_field(OccasionSerializer(many=True))
    def get_next_occasions(self, user) -> list:
        return render_occasions(user.timezone, user.occasions.all())

    def to_representation(self, user):
        return render_user(user, user.occasions.all())


def render_occasions(zone_name: str, occasions) -> list[dict]:
    """Each occasion's next occurrence, soonest first (`next_occasions`)."""
    rows = sorted(occasions, key=lambda occasion: (occasion.due_at, occasion.kind))
    zone = calendar.zone(zone_name)
    return [
        {
            "type": occasion.kind,
            "local_date": occasion.local_date.isoformat(),
            "local_time": occasion.due_at.astimezone(zone).isoformat(),
            "utc": occasion.due_at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for occasion in rows
    ]


def render_user(user, occasions) -> dict:
    """A user as the API renders it. The same JSON the serializer's declared fields give
    (tests/users/test_serializers.py compares them), built directly: DRF rebuilds a
    ModelSerializer's fields from the model for every instance it renders, which was a sixth of a
    GET's CPU. `user` is a User or anything with its attributes (the hot path's row)."""
    return {
        "id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "birthday": _date(user.birthday),
        "timezone": user.timezone,
        "anniversary_date": _date(user.anniversary_date),
        "created_at": _datetime(user.created_at),
        "updated_at": _datetime(user.updated_at),
        "next_occasions": render_occasions(user.timezone, occasions),
    }


def _date(value: datetime.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _datetime(value: datetime.datetime) -> str:
    # As DRF's DateTimeField renders with USE_TZ and TIME_ZONE = "UTC".
    text = value.astimezone(datetime.UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class UserListQuerySerializer(serializers.Serializer):
    """Filters for GET /user."""

    timezone = StrictCharField(required=False, max_length=64, help_text="Only users in this IANA time zone")
    birthday_month = serializers.IntegerField(
        required=False, min_value=1, max_value=12, help_text="Only users born in this month (1-12)"
    )


class ErrorSerializer(serializers.Serializer):
    """The body of every error response."""

    error = serializers.CharField(help_text="Machine-readable code, e.g. invalid, conflict, not_found")
    detail = serializers.CharField(help_text="Human-readable explanation")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Per-field messages (400 invalid input, 409 conflict)",
    )
