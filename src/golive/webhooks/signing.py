"""HMAC-SHA256 signatures of webhook requests, over the timestamp and the body.

A receiver recomputes ``HMAC-SHA256(secret, f"{timestamp}." + body)``, compares it in
constant time with the ``v1=`` value of ``X-Golive-Signature`` and refuses a timestamp more
than a few minutes old, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Golive-Signature"
TIMESTAMP_HEADER = "X-Golive-Timestamp"
EVENT_HEADER = "X-Golive-Event"
DELIVERY_HEADER = "X-Golive-Delivery"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE = 300.0  # seconds


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value: ``v1=`` and the hex HMAC-SHA256 of ``b"<timestamp>." + body``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """Timestamp and signature headers for one request."""
    timestamp = int(time.time() if now is None else now)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(
    secret: str,
    body: bytes,
    *,
    timestamp: str,
    signature_header: str,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        return False
    expected = signature(secret, sent, body)
    # Several signatures may be sent (comma-separated) while a secret is being rotated.
    return any(hmac.compare_digest(expected, s.strip()) for s in signature_header.split(","))
