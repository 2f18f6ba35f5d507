"""What `bin/run` prints once everything is up: the addresses really in use (from the same
settings the processes read), where the vendor simulator logs what it accepted, and one curl that
creates a user who is due right now, so the first message goes out on the next tick.

    python -m devtools.quickstart --credentials var/credentials.txt [--simulator-log var/....jsonl]
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import shlex
import zoneinfo
from pathlib import Path

# Real places whose offsets cover UTC-11 to UTC+14: at any instant some of them are past the send
# hour with hours of the day left.
ZONES = (
    "Pacific/Pago_Pago", "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver",
    "America/Chicago", "America/New_York", "America/Sao_Paulo", "Atlantic/South_Georgia", "Atlantic/Azores",
    "Europe/London", "Europe/Paris", "Europe/Athens", "Europe/Moscow", "Asia/Dubai", "Asia/Karachi",
    "Asia/Kolkata", "Asia/Dhaka", "Asia/Bangkok", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney",
    "Pacific/Noumea", "Pacific/Auckland", "Pacific/Tongatapu", "Pacific/Kiritimati",
)
# Room left before local midnight, so the birthday is still today when the next ticks run.
MARGIN = datetime.timedelta(minutes=15)


# zoneinfo keeps only a few zones it has no reference to; these loops visit hundreds.
_zone = functools.cache(zoneinfo.ZoneInfo)


@functools.cache
def every_zone() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones() - {"Factory", "localtime"}))


def due_now_zone(now: datetime.datetime, send_hour: int) -> str:
    """A zone where it is now past `send_hour`:00 and at least MARGIN before midnight: a user whose
    birthday is today there is due at once. Of those, the one with the most of the day left; from
    every zone when none of ZONES fits, and with less room only when the send hour is that late."""
    every = every_zone()
    for zones, margin in ((ZONES, MARGIN), (every, MARGIN), (every, datetime.timedelta(0))):
        best = None
        for name in zones:
            local = now.astimezone(_zone(name))
            start = local.replace(hour=send_hour, minute=0, second=0, microsecond=0)
            midnight = datetime.datetime.combine(local.date() + datetime.timedelta(days=1), datetime.time(),
                                                 tzinfo=local.tzinfo)
            left = midnight - local
            if local >= start and left > margin and (best is None or left > best[1]):
                best = (name, left)
        if best:
            return best[0]
    raise ValueError(f"no zone is past {send_hour}:00 at {now}")


def birthday_today(zone: str, now: datetime.datetime) -> datetime.date:
    """Today's date there, in a past year (a leap year when today is 29 February)."""
    today = now.astimezone(zoneinfo.ZoneInfo(zone)).date()
    return today.replace(year=1992 if (today.month, today.day) == (2, 29) else 1990)


def due_now_user(now: datetime.datetime, send_hour: int) -> dict:
    zone = due_now_zone(now, send_hour)
    return {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": f"ada.{now.strftime('%Y%m%d%H%M%S')}@example.com",
        "birthday": birthday_today(zone, now).isoformat(),
        "timezone": zone,
    }


def http_address(bind: str) -> str:
    """The URL a browser on this machine uses for a gunicorn `bind` value."""
    if bind.startswith(("unix:", "fd://")):
        return bind
    host, _, port = bind.rpartition(":")
    if host in {"", "0.0.0.0", "*"}:
        host = "127.0.0.1"
    elif host in {"[::]", "::"}:
        host = "[::1]"
    return f"http://{host}:{port}"


def gunicorn_bind() -> str:
    """The address gunicorn binds, read from its own config file (API_BIND or its default)."""
    import runpy

    conf = Path(__file__).resolve().parent.parent / "birthday" / "gunicorn_config.py"
    return runpy.run_path(str(conf))["bind"]


def curl(api: str, token: str, body: dict) -> str:
    return " ".join([
        "curl", "-sS", "-X", "POST", shlex.quote(f"{api}/user"),
        "-H", shlex.quote(f"Authorization: Bearer {token}"), "-H", shlex.quote("Content-Type: application/json"),
        "-d", shlex.quote(json.dumps(body, separators=(",", ":"))),
    ])


def read_credentials(path: Path) -> dict[str, str]:
    """bootstrap_local's file: "admin login: <user> / <password>" and "API token: <token>"."""
    found = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition(":")
        if sep:
            found[key.strip()] = value.strip()
    return found


def banner(*, api: str, metrics_host: str, worker_port: int, beat_port: int, vendor: str,
           simulator_log: str | None, credentials: dict[str, str], send_hour: int, tick_seconds: int,
           now: datetime.datetime) -> str:
    body = due_now_user(now, send_hour)
    lines = [
        "",
        "birthday is running (Ctrl-C stops it):",
        f"  API docs       {api}/api/docs/",
        f"  OpenAPI schema {api}/api/schema/",
        f"  admin          {api}/admin/  (login {credentials.get('admin login', '?')})",
        f"  API metrics    {api}/metrics",
        f"  worker metrics http://{metrics_host}:{worker_port}/metrics",
        f"  beat metrics   http://{metrics_host}:{beat_port}/metrics",
        f"  vendor         {vendor}",
    ]
    if simulator_log:
        lines.append(f"  accepted log   {simulator_log}  (one JSON line per message the simulator accepted)")
    lines += [
        f"  API token      {credentials.get('API token', '?')}",
        "",
        f"A user whose birthday is today in {body['timezone']}, where it is past {send_hour:02d}:00 "
        f"(its message goes out on the next tick, every {tick_seconds} s):",
        "",
        "  " + curl(api, credentials.get("API token", "<token>"), body),
        "",
    ]
    return "\n".join(lines)


def wait_for(api: str, timeout: float = 90.0) -> None:
    """Until the API answers (so the curl below works when pasted), or the deadline."""
    import time

    import httpx

    if not api.startswith("http"):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{api}/healthz", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.5)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", type=Path, required=True)
    parser.add_argument("--simulator-log")
    args = parser.parse_args(argv)

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "birthday.settings")
    django.setup()
    from django.conf import settings

    from core import clock

    api = http_address(gunicorn_bind())
    wait_for(api)
    metrics_host = settings.METRICS_BIND_ADDRESS
    if metrics_host in {"0.0.0.0", ""}:
        metrics_host = "127.0.0.1"
    print(banner(
        api=api,
        metrics_host=metrics_host, worker_port=settings.WORKER_METRICS_PORT, beat_port=settings.BEAT_METRICS_PORT,
        vendor=settings.VENDOR_BASE_URL, simulator_log=args.simulator_log,
        credentials=read_credentials(args.credentials), send_hour=settings.SEND_HOUR,
        tick_seconds=settings.SCHEDULER_TICK_SECONDS, now=clock.now(),
    ), flush=True)


if __name__ == "__main__":
    main()
