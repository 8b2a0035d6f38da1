"""RTMP's answer to the protocol-neutral admission (live/publish_admission.py).

The RTMP server asks an ``Authorizer`` about each publish; this one describes the publisher
to the admission and turns a refusal's reason into the onStatus code the publisher gets.
``NetStream.Publish.BadName`` where the name (the stream key) is the problem, which OBS shows
as "invalid stream key" or "already in use"; ``NetStream.Publish.Rejected`` for everything
else, with the admission's message as the description.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from golive.ingest.rtmp.server import Authorizer, PublishRefused, PublishRequest, StreamSink
from golive.live.publish_admission import AdmissionRefused, PublishAttempt, RefusalReason

__all__ = ["REFUSAL_STATUS", "rtmp_authorizer"]

BAD_NAME = "NetStream.Publish.BadName"
REJECTED = "NetStream.Publish.Rejected"

REFUSAL_STATUS: dict[RefusalReason, str] = {
    RefusalReason.SHUTTING_DOWN: REJECTED,
    RefusalReason.COOLING_DOWN: REJECTED,
    RefusalReason.WRONG_KEY: BAD_NAME,
    RefusalReason.CODEC_UNSUPPORTED: REJECTED,
    RefusalReason.REFUSED_BY_HOOK: REJECTED,
    RefusalReason.ALREADY_LIVE: BAD_NAME,
    RefusalReason.UNAVAILABLE: REJECTED,
}


def rtmp_authorizer(admit: Callable[[PublishAttempt], Awaitable[StreamSink]]) -> Authorizer:
    """An Authorizer over ``admit`` (``PublishAdmission.admit``)."""

    async def authorize(request: PublishRequest) -> StreamSink:
        attempt = PublishAttempt(
            stream_key=request.stream_name,
            remote_addr=request.remote_addr,
            disconnect=request.disconnect,
            protocol="rtmp",
            details={"app": request.app},
        )
        try:
            return await admit(attempt)
        except AdmissionRefused as refused:
            raise PublishRefused(REFUSAL_STATUS[refused.reason], refused.message) from None

    return authorize
