import pytest
from rest_framework.test import APIClient

from apiauth import services as token_services


@pytest.fixture
def token(db) -> str:
    _, raw = token_services.create_token("security-tests")
    return raw


@pytest.fixture
def api(token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
