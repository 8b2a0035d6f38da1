"""WHIP's answer to the protocol-neutral admission (live/publish_admission.py): HTTP statuses.

RFC 9725 4.2 and 4.3: a publisher is authenticated with a bearer token (the stream key, as
OBS sends it); a missing or wrong one is 401 with ``WWW-Authenticate: Bearer`` (RFC 6750
3), so a client knows to ask for the token rather than retry. A channel already live is a
conflict (409); the operator's hook saying no is 403; a codec golive does not take is 406;
everything that may pass (database or cluster state, too many sessions, shutting down,
cooling down) is 503 with Retry-After.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from golive.live.publish_admission import RefusalReason

__all__ = ["REFUSAL_STATUS", "WhipRefusal", "refusal_for"]

REFUSAL_STATUS: dict[RefusalReason, int] = {
    RefusalReason.SHUTTING_DOWN: 503,
    RefusalReason.COOLING_DOWN: 503,
    RefusalReason.WRONG_KEY: 401,
    RefusalReason.CODEC_UNSUPPORTED: 406,
    RefusalReason.REFUSED_BY_HOOK: 403,
    RefusalReason.ALREADY_LIVE: 409,
    RefusalReason.UNAVAILABLE: 503,
}

# Seconds a client is told to wait when the refusal may pass.
_RETRY_AFTER: dict[RefusalReason, int] = {
    RefusalReason.SHUTTING_DOWN: 5,
    RefusalReason.COOLING_DOWN: 60,
    RefusalReason.UNAVAILABLE: 5,
}


@dataclass(frozen=True)
class WhipRefusal:
    """An HTTP answer refusing a publish: status, text for the publisher, extra headers."""

    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def unauthorized(message: str) -> WhipRefusal:
        return WhipRefusal(401, message, {"www-authenticate": 'Bearer realm="golive"'})

    @staticmethod
    def unavailable(message: str, retry_after: int = 5) -> WhipRefusal:
        return WhipRefusal(503, message, {"retry-after": str(retry_after)})


def refusal_for(reason: RefusalReason, message: str) -> WhipRefusal:
    """The answer to a publish the admission refused."""
    status = REFUSAL_STATUS[reason]
    if status == 401:
        return WhipRefusal.unauthorized(message)
    if status == 503:
        return WhipRefusal.unavailable(message, _RETRY_AFTER.get(reason, 5))
    return WhipRefusal(status, message)
