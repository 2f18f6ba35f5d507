"""The "Django floor" the comparison measures (bench/floor_urls.py) is the API's request path with
only the endpoint's work removed: it must authenticate, throttle and answer like GET /user/<id>,
and touch no database; otherwise its figure would not be the floor it is reported as."""

import datetime

import pytest
from rest_framework.test import APIClient

from apiauth import services as tokens
from bench.floor_urls import CONSTANT_USER
from users import services

pytestmark = [pytest.mark.django_db, pytest.mark.urls("bench.floor_urls")]


def test_it_needs_a_token_like_the_real_endpoint():
    answer = APIClient().get("/bench/floor/1")
    assert answer.status_code == 401
    assert answer.json() == APIClient().get("/user/1").json()


def test_it_answers_a_user_shaped_body_without_a_query(django_assert_num_queries):
    user = services.create_user({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com",
                                 "birthday": datetime.date(1990, 3, 4), "timezone": "Europe/Paris",
                                 "anniversary_date": None})
    _, raw = tokens.create_token("floor")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    real = api.get(f"/user/{user.pk}").json()  # also caches the token and records its use
    with django_assert_num_queries(0):
        answer = api.get("/bench/floor/1")
    assert answer.status_code == 200 and answer.json() == CONSTANT_USER
    assert list(answer.json()) == list(real)
    assert list(answer.json()["next_occasions"][0]) == list(real["next_occasions"][0])


def test_it_is_authenticated_and_throttled_by_the_api_defaults():
    from rest_framework.settings import api_settings

    from bench.floor_urls import FloorView

    assert [c.__name__ for c in FloorView.throttle_classes] == [c.__name__ for c in api_settings.DEFAULT_THROTTLE_CLASSES]
    assert [c.__name__ for c in FloorView.authentication_classes] == \
        [c.__name__ for c in api_settings.DEFAULT_AUTHENTICATION_CLASSES]
