"""How the admin pages write an instant: in UTC and in the recipient's own zone, side by side,
each with its zone, so nobody has to guess which clock a time is on."""

import datetime
import zoneinfo


def utc(instant: datetime.datetime | None) -> str:
    if instant is None:
        return "-"
    return f"{instant.astimezone(datetime.UTC):%Y-%m-%d %H:%M:%S} UTC"


def local(instant: datetime.datetime | None, zone_name: str) -> str:
    if instant is None:
        return "-"
    try:
        moment = instant.astimezone(zoneinfo.ZoneInfo(zone_name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"(unknown zone {zone_name!r})"
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M:%S} {zone_name} (UTC{offset[:3]}:{offset[3:]})"


def utc_and_local(instant: datetime.datetime | None, zone_name: str) -> str:
    if instant is None:
        return "-"
    return f"{utc(instant)}  ·  {local(instant, zone_name)}"
