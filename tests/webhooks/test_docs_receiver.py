"""docs/api.md's receiver example verifies what the service really sends."""

import time

from webhooks import policy, services
from tests.webhooks.receiver import docs_receiver_namespace

EVENT = {"id": "5b0c8e52-3f0e-4a0e-9a43-0d7c1c1f6b55", "type": "message.sent", "created_at": "2026-11-27T08:00:03Z",
         "data": {"message": {"id": 812, "user_id": 42, "kind": "birthday", "status": "sent"}}}


def test_the_documented_verify_accepts_real_signatures_and_nothing_else():
    verify = docs_receiver_namespace()["verify"]
    new, old = services.new_secret(), services.new_secret()
    body = services.encode_body(EVENT)
    now = int(time.time())
    header = policy.signature_header([new, old], now, body)
    assert verify(header, body, new) and verify(header, body, old)  # during a rotation either secret works
    assert not verify(header, body, services.new_secret())
    assert not verify(header, body + b" ", new)
    assert not verify(header.replace(f"t={now}", f"t={now + 1}"), body, new)
    stale = policy.signature_header([new], now - 301, body)
    assert not verify(stale, body, new)  # outside the 5-minute replay window
    assert verify(stale, body, new, now=now - 290)
    assert not verify("", body, new) and not verify("v1=abc", body, new) and not verify("t=x,v1=abc", body, new)
