"""SRT's answer to the protocol-neutral admission (live/publish_admission.py).

The SRT listener asks an authorizer about each caller during its handshake; this one
describes the publisher to the admission and turns a refusal's reason into the SRT reject
code the caller gets (reject_codes.py), with the admission's message for the log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from golive.ingest.srt.listener import Authorizer, SrtPublish, SrtRefused, StreamSink
from golive.ingest.srt.reject_codes import (
    REJX_CONFLICT,
    REJX_DOWN,
    REJX_FORBIDDEN,
    REJX_OVERLOAD,
    REJX_UNACCEPTABLE,
    REJX_UNAUTHORIZED,
)
from golive.live.publish_admission import AdmissionRefused, PublishAttempt, RefusalReason

__all__ = ["REFUSAL_CODE", "srt_authorizer"]

REFUSAL_CODE: dict[RefusalReason, int] = {
    RefusalReason.SHUTTING_DOWN: REJX_DOWN,
    RefusalReason.COOLING_DOWN: REJX_OVERLOAD,
    RefusalReason.WRONG_KEY: REJX_UNAUTHORIZED,
    RefusalReason.CODEC_UNSUPPORTED: REJX_UNACCEPTABLE,
    RefusalReason.REFUSED_BY_HOOK: REJX_FORBIDDEN,
    RefusalReason.ALREADY_LIVE: REJX_CONFLICT,
    RefusalReason.UNAVAILABLE: REJX_DOWN,
}


def srt_authorizer(admit: Callable[[PublishAttempt], Awaitable[StreamSink]]) -> Authorizer:
    """An SRT Authorizer over ``admit`` (``PublishAdmission.admit``)."""

    async def authorize(publish: SrtPublish) -> StreamSink:
        attempt = PublishAttempt(
            stream_key=publish.stream_key,
            remote_addr=publish.remote_addr,
            disconnect=publish.disconnect,
            protocol="srt",
        )
        try:
            return await admit(attempt)
        except AdmissionRefused as refused:
            raise SrtRefused(REFUSAL_CODE[refused.reason], refused.message) from None

    return authorize
