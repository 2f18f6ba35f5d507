"""Rules a recipient's dates must satisfy together, shared by the API serializer and the admin
form so both refuse the same input with the same per-field words."""

import datetime

from core import calendar

FUTURE = "Date cannot be in the future."
ANNIVERSARY_BEFORE_BIRTH = "The anniversary cannot be before the birth date."
BIRTH_AFTER_ANNIVERSARY = "The birth date cannot be after the anniversary."
DATE_FIELDS = ("birthday", "anniversary_date")


def date_errors(
    *, birthday: datetime.date | None, anniversary_date: datetime.date | None, zone_name: str | None,
    now: datetime.datetime, given=DATE_FIELDS,
) -> dict[str, str]:
    """field -> message for every rule the dates break; empty when they are fine.

    `given` names the fields the caller is setting (a partial update sets some; the others are
    the stored values): only those are checked for being in the future, unless the zone is
    among them (a stored date that was today in the old zone can be tomorrow in the new one), and
    an anniversary before the birth date is reported on the field that is being set. The future
    check needs a valid zone (today differs by zone); without one it is left to the zone's own error.
    """
    errors = {}
    values = {"birthday": birthday, "anniversary_date": anniversary_date}
    checked = DATE_FIELDS if "timezone" in given else given
    if zone_name and calendar.is_valid_zone(zone_name):
        today = calendar.local_today(zone_name, now)
        for field in DATE_FIELDS:
            if field in checked and values[field] is not None and values[field] > today:
                errors[field] = FUTURE
    if not errors and birthday is not None and anniversary_date is not None and anniversary_date < birthday:
        if "anniversary_date" in given:
            errors["anniversary_date"] = ANNIVERSARY_BEFORE_BIRTH
        else:
            errors["birthday"] = BIRTH_AFTER_ANNIVERSARY
    return errors
