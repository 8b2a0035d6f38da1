"""SRT's answer to each admission refusal, in the handshake's check or the admission after
it: the reject code the caller sees."""

from __future__ import annotations

from typing import Any

import pytest

from golive.ingest.srt.admission_answer import REFUSAL_CODE, srt_authorizer, srt_checker
from golive.ingest.srt.listener import SrtPublish, SrtRefused
from golive.live.publish_admission import AdmissionRefused, PublishAttempt, RefusalReason


def test_every_reason_has_a_code() -> None:
    assert set(REFUSAL_CODE) == set(RefusalReason)
    assert REFUSAL_CODE[RefusalReason.WRONG_KEY] == 1401  # SRT_REJX_UNAUTHORIZED
    assert REFUSAL_CODE[RefusalReason.ALREADY_LIVE] == 1409  # SRT_REJX_CONFLICT
    assert REFUSAL_CODE[RefusalReason.SHUTTING_DOWN] == 1503  # SRT_REJX_DOWN
    assert all(1400 <= code < 1600 for code in REFUSAL_CODE.values())


@pytest.mark.parametrize("adapter", [srt_checker, srt_authorizer])
@pytest.mark.parametrize("reason", list(RefusalReason))
async def test_refusal_becomes_reject_code(reason: RefusalReason, adapter: Any) -> None:
    """The same answer whether the handshake's check or the admission after it refuses."""
    seen: list[PublishAttempt] = []

    async def refuse(attempt: PublishAttempt) -> object:
        seen.append(attempt)
        raise AdmissionRefused(reason, "why")

    with pytest.raises(SrtRefused) as caught:
        await adapter(refuse)(SrtPublish("KEY", "127.0.0.1:5000", lambda _: None))
    assert caught.value.code == REFUSAL_CODE[reason]
    assert caught.value.message == "why"
    attempt = seen[0]
    assert (attempt.protocol, attempt.stream_key, attempt.remote_addr) == (
        "srt",
        "KEY",
        "127.0.0.1:5000",
    )
    assert attempt.codecs is None  # SRT only learns them from the media


async def test_admitted_sink_is_returned() -> None:
    sink = object()

    async def admit(attempt: PublishAttempt) -> object:
        return sink

    assert await srt_authorizer(admit)(SrtPublish("K", "a:1", lambda _: None)) is sink  # type: ignore[arg-type]


async def test_check_that_passes_returns_nothing() -> None:
    async def check(attempt: PublishAttempt) -> None:
        return None

    assert await srt_checker(check)(SrtPublish("K", "a:1", lambda _: None)) is None  # type: ignore[func-returns-value]
