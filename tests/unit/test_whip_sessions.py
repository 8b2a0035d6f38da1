"""WhipSessions with aiortc answering real offers: the admission's sink, the bounds (sessions,
ICE/DTLS time), DELETE and shutdown. The admission is a stand-in; no media flows here (the
e2e test publishes with ffmpeg)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from golive.ingest.whip.whip_session import WhipLimits
from golive.ingest.whip.whip_sessions import WhipSessions
from golive.live.publish_admission import AdmissionRefused, PublishAttempt, RefusalReason
from golive.media.frame import Frame, Track
from tests.support.whip import an_offer
from tests.unit.test_whip_opus_to_aac import opus_packets

KEY = "live_0123456789abcdefghij"


class Sink:
    def __init__(self) -> None:
        self.closed: list[str] = []
        self.tracks: list[Track] = []
        self.log_extra = {"channel": "demo"}

    def on_track(self, track: Track) -> None:
        self.tracks.append(track)

    def on_frame(self, frame: Frame) -> None:
        pass

    def on_close(self, reason: str) -> None:
        self.closed.append(reason)


class Admission:
    def __init__(self) -> None:
        self.attempts: list[PublishAttempt] = []
        self.sinks: list[Sink] = []

    async def admit(self, attempt: PublishAttempt) -> Sink:
        self.attempts.append(attempt)
        if attempt.stream_key != KEY:
            raise AdmissionRefused(RefusalReason.WRONG_KEY, "Invalid stream key")
        sink = Sink()
        self.sinks.append(sink)
        return sink


async def test_answer_then_dropped_when_ice_never_completes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="golive.ingest.whip")
    admission = Admission()
    sessions = WhipSessions(admission.admit, lambda: WhipLimits(connect_timeout=1.0))
    reply = await sessions.publish((await an_offer()).encode(), KEY, "127.0.0.1:5000")
    assert reply.status == 201, reply.body
    assert reply.headers["content-type"] == "application/sdp"
    assert reply.body.startswith("v=0") and "a=candidate:" in reply.body
    assert "H264" in reply.body and "opus" in reply.body and "VP8" not in reply.body
    assert reply.session_id is not None and len(reply.session_id) >= 16
    (attempt,) = admission.attempts
    assert attempt.protocol == "whip" and attempt.codecs == {"avc1", "mp4a"}
    assert sessions.count == 1
    await asyncio.sleep(2.0)
    (sink,) = admission.sinks
    assert sink.closed == ["ICE/DTLS did not complete within 1 s"]
    assert sessions.count == 0
    assert any("did not complete" in r.getMessage() for r in caplog.records)


async def test_session_limit_delete_and_close() -> None:
    admission = Admission()
    sessions = WhipSessions(admission.admit, lambda: WhipLimits(max_sessions=1))
    offer = (await an_offer(audio=False)).encode()
    first = await sessions.publish(offer, KEY, "127.0.0.1:5000")
    assert first.status == 201 and first.session_id is not None
    full = await sessions.publish(offer, KEY, "127.0.0.1:5001")
    assert full.status == 503 and int(full.headers["retry-after"]) > 0
    assert sessions.end(first.session_id)
    assert admission.sinks[0].closed == ["publisher ended the session"]
    assert not sessions.end(first.session_id)
    again = await sessions.publish(offer, KEY, "127.0.0.1:5002")
    assert again.status == 201
    await sessions.close()
    assert admission.sinks[1].closed == ["server is shutting down"]
    assert (await sessions.publish(offer, KEY, "127.0.0.1:5003")).status == 503


async def test_refusals_are_answered_and_logged_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="golive.ingest.whip")
    sessions = WhipSessions(Admission().admit)
    offer = (await an_offer()).encode()
    no_key = await sessions.publish(offer, None, "127.0.0.1:5000")
    assert no_key.status == 401 and "bearer" in no_key.headers["www-authenticate"].lower()
    wrong = await sessions.publish(offer, "live_wrongwrongwrongwrong", "127.0.0.1:5000")
    assert wrong.status == 401
    bad = await sessions.publish(b"v=0\r\n", KEY, "127.0.0.1:5000")
    assert bad.status == 400
    lines = [r.getMessage() for r in caplog.records]
    assert len([x for x in lines if "refused with" in x]) == 3
    assert not any("wrongwrongwrong" in x or KEY in x for x in lines)
    assert sessions.count == 0


async def test_an_offer_aiortc_cannot_take_is_refused_before_the_admission() -> None:
    admission = Admission()
    sessions = WhipSessions(admission.admit)
    # H.264 in packetization mode 0 only: no payload type aiortc can receive.
    offer = (await an_offer(audio=False)).replace("packetization-mode=1", "packetization-mode=0")
    reply = await sessions.publish(offer.encode(), KEY, "127.0.0.1:5000")
    assert reply.status == 400 and "cannot be negotiated" in reply.body
    assert admission.attempts == []  # no publish opened and closed
    assert sessions.count == 0


class RecordingSink(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.frames: list[Frame] = []

    def on_frame(self, frame: Frame) -> None:
        self.frames.append(frame)


class PassingPublish:
    """Stands in for WhipPublish (which holds audio until the first video keyframe): each AAC
    unit goes straight to the sink."""

    started = True
    aligned_by = None

    def audio_began(self, now: float, timestamp: int) -> None:
        pass

    def audio(self, pts: int, data: bytes) -> list[Frame]:
        return [Frame(2, pts, pts, True, data)]


async def test_the_end_of_a_publish_flushes_the_aac_encoders_last_frames() -> None:
    """One second of Opus in, one second of AAC out: the encoder holds its last frames until
    flushed, and the end of the publish (the publisher's DELETE) waits for them."""
    sinks: list[RecordingSink] = []

    async def admit(attempt: PublishAttempt) -> RecordingSink:
        sinks.append(RecordingSink())
        return sinks[-1]

    sessions = WhipSessions(admit)
    reply = await sessions.publish((await an_offer()).encode(), KEY, "127.0.0.1:5000")
    assert reply.status == 201 and reply.session_id is not None
    session = sessions._sessions[reply.session_id]
    session._publish = PassingPublish()  # type: ignore[assignment]
    for i, packet in enumerate(opus_packets(50)):  # 50 x 20 ms
        session._media("audio/opus", packet, i * 960)
    assert sessions.end(reply.session_id)
    await session.closed()
    (sink,) = sinks
    assert sink.closed == ["publisher ended the session"]
    samples = 1024 * len(sink.frames)
    assert samples >= 48_000, f"{len(sink.frames)} AAC frames: the tail was lost"
