"""WHEP sessions: the viewer cap and the connect deadline (clock injected)."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection

from golive.media.frame import Track, TrackKind
from golive.webrtc.connect_deadlines import ConnectDeadlines
from golive.webrtc.sdp_offer import OfferRefused
from golive.webrtc.whep_sessions import ViewersFull, WhepSessions
from golive.webrtc.whep_source import WhepSource
from tests.unit.test_avc import baseline_sps, make_avcc

VIDEO = Track(1, TrackKind.VIDEO, "avc1.42c01f", 90_000, make_avcc(baseline_sps()))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_deadlines_expire_once_and_not_after_connecting() -> None:
    deadlines = ConnectDeadlines(15.0)
    deadlines.opened("a", 0.0)
    deadlines.opened("b", 5.0)
    deadlines.opened("c", 5.0)
    deadlines.connected("c")
    assert deadlines.expired(14.9) == []
    assert deadlines.expired(15.0) == ["a"]
    assert deadlines.expired(19.0) == []
    assert deadlines.expired(20.0) == ["b"]
    assert deadlines.expired(1000.0) == [] and len(deadlines) == 0


async def offer_sdp() -> tuple[RTCPeerConnection, bytes]:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp.encode()


@pytest.fixture
def source() -> WhepSource:
    source = WhepSource("demo")
    source.on_tracks([VIDEO])
    return source


async def test_a_session_that_does_not_connect_in_time_is_closed(source: WhepSource) -> None:
    clock = Clock()
    sessions = WhepSessions(max_viewers=5, connect_timeout=15.0, clock=clock)
    client, offer = await offer_sdp()
    try:
        session = await sessions.open(source, offer)
        assert "H264" in session.answer and "a=candidate" in session.answer
        assert source.viewers == 1
        clock.now += 14.0
        assert sessions.sweep() == []
        clock.now += 1.0
        assert sessions.sweep() == [session.id]
        await asyncio.sleep(0.05)  # the close runs as a task
        for _ in range(50):
            if not len(sessions):
                break
            await asyncio.sleep(0.02)
        assert len(sessions) == 0 and sessions.expired == 1
        assert session.closed and session.pc.connectionState == "closed"
        assert source.viewers == 0 and session.viewer.ended
        assert session.viewer.video is not None and session.viewer.video.closed
    finally:
        await client.close()
        await sessions.close_all()


async def test_the_answer_announces_the_streams_ssrc_and_no_rtx(source: WhepSource) -> None:
    sessions = WhepSessions(max_viewers=5, connect_timeout=15.0)
    clients = []
    try:
        answers = []
        for _ in range(2):
            client, offer = await offer_sdp()
            clients.append(client)
            answers.append((await sessions.open(source, offer)).answer)
        for answer in answers:
            assert f"a=ssrc:{source.video_ssrc} cname:" in answer
            assert "rtx" not in answer and "ssrc-group" not in answer
        (session, _) = sessions.for_channel("demo")
        outlet = session.viewer.video
        assert outlet is not None
        assert f"a=rtpmap:{outlet.payload_type} H264/90000" in session.answer  # type: ignore[attr-defined]
    finally:
        for client in clients:
            await client.close()
        await sessions.close_all()


async def test_the_cap_counts_every_session(source: WhepSource) -> None:
    sessions = WhepSessions(max_viewers=2, connect_timeout=15.0, clock=Clock())
    clients = []
    try:
        for _ in range(2):
            client, offer = await offer_sdp()
            clients.append(client)
            await sessions.open(source, offer)
        client, offer = await offer_sdp()
        clients.append(client)
        with pytest.raises(ViewersFull, match="maximum of 2"):
            await sessions.open(source, offer)
        first = next(iter(sessions.for_channel("demo")))
        assert await sessions.close(first.id)
        assert not await sessions.close(first.id)
        assert (await sessions.open(source, offer)).answer
    finally:
        for client in clients:
            await client.close()
        await sessions.close_all()
    assert len(sessions) == 0 and source.viewers == 0


async def test_a_stream_that_cannot_be_played_refuses_the_offer() -> None:
    source = WhepSource("demo")  # no video yet
    sessions = WhepSessions(max_viewers=2, connect_timeout=15.0)
    client, offer = await offer_sdp()
    try:
        with pytest.raises(OfferRefused) as refused:
            await sessions.open(source, offer)
        assert refused.value.status == 409
        assert "no H.264 video yet" in refused.value.message
    finally:
        await client.close()


async def test_the_end_of_the_stream_closes_its_sessions(source: WhepSource) -> None:
    sessions = WhepSessions(max_viewers=5, connect_timeout=15.0)
    client, offer = await offer_sdp()
    try:
        session = await sessions.open(source, offer)
        source.on_end()
        for _ in range(50):
            if not len(sessions):
                break
            await asyncio.sleep(0.02)
        assert len(sessions) == 0 and session.closed
    finally:
        await client.close()


async def test_connected_sessions_are_reported_watching_at_each_sweep(source: WhepSource) -> None:
    watched: list[str] = []
    sessions = WhepSessions(
        max_viewers=5, connect_timeout=15.0, watching=lambda s: watched.append(s.id)
    )
    clients = []
    try:
        opened = []
        for _ in range(2):
            client, offer = await offer_sdp()
            clients.append(client)
            opened.append(await sessions.open(source, offer))
        assert sessions.counts() == (2, 0)
        sessions.sweep()
        assert watched == []  # connecting is not watching
        sessions._state_changed(opened[1], "connected")
        assert sessions.counts() == (1, 1)
        sessions.sweep()
        sessions.sweep()
        assert watched == [opened[1].id, opened[1].id]
    finally:
        for client in clients:
            await client.close()
        await sessions.close_all()
