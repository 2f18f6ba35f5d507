"""What the API's hot path may cost: the queries per request (asserted, so a change that adds one
shows here), and the hand-built rendering of a user, which must equal DRF's field-by-field one."""

import datetime

import pytest
from rest_framework.test import APIClient

from apiauth import services as tokens
from core import clock
from scheduler.models import Occasion
from tests.factories import user_payload
from users import selectors, services
from users.serializers import UserSerializer

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    _, raw = tokens.create_token("hot-path")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    # The first request caches the token and records its use; later ones do neither.
    assert api.get("/user/1").status_code == 404
    return api


def test_get_user_is_one_query(client, django_assert_num_queries):
    user = services.create_user({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com",
                                 "birthday": datetime.date(1990, 3, 4), "timezone": "Europe/Paris",
                                 "anniversary_date": datetime.date(2015, 6, 10)})
    # The occasions joined to their user; the token and the rate limit are served by Redis.
    with django_assert_num_queries(1):
        answer = client.get(f"/user/{user.pk}")
    assert answer.status_code == 200
    assert sorted(occasion["type"] for occasion in answer.json()["next_occasions"]) == ["anniversary", "birthday"]


def test_a_user_without_occasion_rows_is_still_found(client):
    user = services.create_user({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com",
                                 "birthday": datetime.date(1990, 3, 4), "timezone": "Europe/Paris"})
    Occasion.objects.filter(user=user).delete()
    answer = client.get(f"/user/{user.pk}")
    assert answer.status_code == 200
    assert answer.json()["id"] == user.pk and answer.json()["next_occasions"] == []


def test_post_user_is_one_transaction_and_one_read(client, django_assert_num_queries):
    # BEGIN (here a savepoint), INSERT user, SAVEPOINT, INSERT occasions (bulk upsert), RELEASE,
    # COMMIT, then the occasions read back for the answer: 7 statements, 11 before the "is the
    # email taken" query (the unique index says so), its savepoint and the re-read of the user went.
    with django_assert_num_queries(7) as captured:
        assert client.post("/user", user_payload(), format="json").status_code == 201
    statements = [query["sql"].split()[0] for query in captured.captured_queries]
    assert statements.count("INSERT") == 2 and statements[-1] == "SELECT", statements


def test_a_taken_email_is_still_409_without_the_pre_check(client):
    assert client.post("/user", user_payload(email="ann@example.com"), format="json").status_code == 201
    answer = client.post("/user", user_payload(email="ANN@example.com"), format="json")
    assert answer.status_code == 409
    assert answer.json()["fields"] == {"email": ["A user with this email already exists."]}
    # The failed insert rolled back only its own block: the request's connection still works.
    assert client.get("/user").json()["count"] == 1


@pytest.mark.parametrize("zone", ["Asia/Kathmandu", "America/St_Johns", "UTC", "Pacific/Kiritimati"])
@pytest.mark.parametrize("anniversary", [None, datetime.date(2016, 2, 29)])
def test_the_hand_built_rendering_equals_drfs(zone, anniversary):
    with clock.frozen(datetime.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=datetime.UTC)):
        user = services.create_user({
            "first_name": "Ann", "last_name": "Lee", "email": f"ann-{zone.replace('/', '-')}@example.com",
            "birthday": datetime.date(1988, 2, 29), "timezone": zone, "anniversary_date": anniversary,
        })
    for instance in (user, selectors.get_user(user.pk), selectors.list_users().get(pk=user.pk)):
        serializer = UserSerializer(instance)
        # DRF's own rendering through the declared fields (ModelSerializer's to_representation).
        assert serializer.data == super(UserSerializer, serializer).to_representation(instance)
        assert list(serializer.data) == list(UserSerializer.Meta.fields)
