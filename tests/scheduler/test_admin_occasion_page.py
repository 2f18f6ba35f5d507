"""The occasions admin: read-only (no Save that ends in a 403, no Delete that would lose a
message), due times in UTC and the recipient's local time."""

import datetime

import pytest

from scheduler.models import Occasion
from tests.factories import make_user, utc

pytestmark = pytest.mark.django_db


def test_an_occasions_page_is_read_only_and_shows_both_clocks(admin_client):
    user = make_user(birthday=datetime.date(1990, 3, 4), timezone="Asia/Kathmandu", now=utc(2026, 3, 1))
    occasion = Occasion.objects.get(user=user)
    html = admin_client.get(f"/admin/scheduler/occasion/{occasion.pk}/change/").content.decode()
    assert 'name="_save"' not in html and "/delete/" not in html
    assert "2026-03-04 03:15:00 UTC" in html and "2026-03-04 09:00:00 Asia/Kathmandu (UTC+05:45)" in html
    assert admin_client.post(f"/admin/scheduler/occasion/{occasion.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Occasion.objects.filter(pk=occasion.pk).exists()
    listed = admin_client.get("/admin/scheduler/occasion/").content.decode()
    assert "2026-03-04 03:15:00 UTC" in listed
