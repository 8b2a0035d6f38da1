"""SRT's answer to the protocol-neutral admission (live/publish_admission.py).

The SRT listener checks each caller during its handshake (``PublishAdmission.check``: no side
effect, since libsrt may still fail the handshake afterwards, on the passphrase) and admits it
once connected (``PublishAdmission.admit``). These adapters describe the publisher to the
admission and turn a refusal's reason into the SRT reject code (reject_codes.py), with the
admission's message for the log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from golive.ingest.srt.listener import Authorizer, Checker, SrtPublish, SrtRefused, StreamSink
from golive.ingest.srt.reject_codes import (
    REJX_CONFLICT,
    REJX_DOWN,
    REJX_FORBIDDEN,
    REJX_OVERLOAD,
    REJX_UNACCEPTABLE,
    REJX_UNAUTHORIZED,
)
from golive.live.publish_admission import AdmissionRefused, PublishAttempt, RefusalReason

__all__ = ["REFUSAL_CODE", "srt_authorizer", "srt_checker"]

REFUSAL_CODE: dict[RefusalReason, int] = {
    RefusalReason.SHUTTING_DOWN: REJX_DOWN,
    RefusalReason.COOLING_DOWN: REJX_OVERLOAD,
    RefusalReason.WRONG_KEY: REJX_UNAUTHORIZED,
    RefusalReason.CODEC_UNSUPPORTED: REJX_UNACCEPTABLE,
    RefusalReason.REFUSED_BY_HOOK: REJX_FORBIDDEN,
    RefusalReason.ALREADY_LIVE: REJX_CONFLICT,
    RefusalReason.UNAVAILABLE: REJX_DOWN,
}

_T = TypeVar("_T")


def srt_checker(check: Callable[[PublishAttempt], Awaitable[None]]) -> Checker:
    """An SRT Checker over ``check`` (``PublishAdmission.check``)."""
    return _answered(check)


def srt_authorizer(admit: Callable[[PublishAttempt], Awaitable[StreamSink]]) -> Authorizer:
    """An SRT Authorizer over ``admit`` (``PublishAdmission.admit``)."""
    return _answered(admit)


def _answered(
    step: Callable[[PublishAttempt], Awaitable[_T]],
) -> Callable[[SrtPublish], Awaitable[_T]]:
    async def answer(publish: SrtPublish) -> _T:
        attempt = PublishAttempt(
            stream_key=publish.stream_key,
            remote_addr=publish.remote_addr,
            disconnect=publish.disconnect,
            protocol="srt",
        )
        try:
            return await step(attempt)
        except AdmissionRefused as refused:
            raise SrtRefused(REFUSAL_CODE[refused.reason], refused.message) from None

    return answer
