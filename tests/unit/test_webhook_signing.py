"""Webhook signatures: HMAC-SHA256 over timestamp and body, with replay protection."""

from __future__ import annotations

import hashlib
import hmac

from golive.webhooks.dispatcher import WebhookTarget, retry_delay
from golive.webhooks.events import WebhookEvent
from golive.webhooks.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
    signed_headers,
    verify,
)

SECRET = "s3cret-s3cret-s3cret"


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1700000000, body) == f"v1={expected}"


def test_receiver_accepts_fresh_and_refuses_tampered_stale_or_foreign() -> None:
    body = WebhookEvent("stream.started", "demo", {"stream_id": "ab12cd34"}).body()
    headers = signed_headers(SECRET, body, now=1_000_000.0)
    ts, sig = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    assert verify(SECRET, body, timestamp=ts, signature_header=sig, now=1_000_010.0)
    assert not verify(SECRET, body + b" ", timestamp=ts, signature_header=sig, now=1_000_010.0)
    assert not verify("other-secret-other", body, timestamp=ts, signature_header=sig, now=1e6)
    # Replay: the same request later than the tolerance is refused.
    assert not verify(SECRET, body, timestamp=ts, signature_header=sig, now=1_000_301.0)
    # A different timestamp with the old signature does not verify either.
    assert not verify(SECRET, body, timestamp="1000100", signature_header=sig, now=1_000_100.0)
    assert not verify(SECRET, body, timestamp="soon", signature_header=sig, now=1e6)
    # Several signatures (secret rotation): one match is enough.
    assert verify(SECRET, body, timestamp=ts, signature_header=f"v1=00, {sig}", now=1e6)


def test_event_body_is_stable_json() -> None:
    event = WebhookEvent("stream.ended", "demo", {"b": 2, "a": 1})
    assert event.body() == event.body()
    assert event.body().startswith(b'{"channel":"demo","created_at":')
    assert event.id.startswith("evt_")


def test_retry_delays_double_and_are_capped() -> None:
    target = WebhookTarget(url="http://x", secret=SECRET, retry_delay=2.0)
    assert [retry_delay(target, n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert retry_delay(target, 30) == 600.0
