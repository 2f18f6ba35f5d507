import pytest


@pytest.fixture(autouse=True)
def receivers_on_loopback(settings):
    """The tests' receivers listen on 127.0.0.1, which production refuses
    (tests/webhooks/test_targets.py holds the refusal)."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
