"""WHEP playback end to end: ffmpeg publishes over RTMP, an aiortc peer plays over WebRTC.

The player here is aiortc as a WHEP client (as a browser would be): it POSTs its offer,
sets the answer, and decodes what arrives (H.264 and Opus, with aiortc's own decoders).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pylibsrtp
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from golive.app import GoliveServer
from golive.transcode.ladder import Rung, RungKind
from tests.support.publisher import start_publisher
from tests.support.server import http_client, rtmp_url, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SDP = {"content-type": "application/sdp"}


@dataclass
class Player:
    """An aiortc peer as a WHEP player, counting what it decodes."""

    pc: RTCPeerConnection = field(default_factory=RTCPeerConnection)
    video: list[tuple[int, int]] = field(default_factory=list)
    audio: list[int] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def offer(self, *, audio: bool = True) -> str:
        self.pc.addTransceiver("video", direction="recvonly")
        if audio:
            self.pc.addTransceiver("audio", direction="recvonly")

        @self.pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            self.tasks.append(asyncio.create_task(self._consume(track)))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def _consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    self.video.append((frame.width, frame.height))  # type: ignore[union-attr]
                else:
                    self.audio.append(frame.sample_rate)  # type: ignore[union-attr]

    async def wait_for(self, video: int, audio: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.video) < video or len(self.audio) < audio:
            assert time.monotonic() < deadline, (
                f"got {len(self.video)} video and {len(self.audio)} audio frames; "
                f"connection {self.pc.connectionState}"
            )
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        await self.pc.close()
        for task in self.tasks:
            task.cancel()


@contextlib.asynccontextmanager
async def live(
    tmp_path: Path, *, bframes: int = 0, size: str = "320x240", **settings: object
) -> AsyncIterator[tuple[GoliveServer, httpx.AsyncClient]]:
    async with running_server(tmp_path / "data", reconnect_grace=0.5, **settings) as server:
        proc = await start_publisher(
            rtmp_url(server, server.demo_key or ""), seconds=30, size=size, bframes=bframes
        )
        try:
            async with http_client(server) as client:
                deadline = time.monotonic() + 20
                while (await client.get("/live/demo/index.m3u8")).status_code != 200:
                    assert time.monotonic() < deadline, "the stream never went live"
                    await asyncio.sleep(0.2)
                yield server, client
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()


async def post_offer(client: httpx.AsyncClient, sdp: str) -> httpx.Response:
    return await client.post("/live/demo/whep", content=sdp, headers=SDP)


async def test_whep_plays_h264_and_opus_and_delete_ends_it(tmp_path: Path) -> None:
    async with live(tmp_path) as (server, client):
        player = Player()
        try:
            r = await post_offer(client, await player.offer())
            assert r.status_code == 201, r.text
            assert r.headers["content-type"] == "application/sdp"
            assert r.headers["x-golive-webrtc-source"] == "source"
            assert r.headers["x-golive-webrtc-start"] == "next-keyframe"
            assert float(r.headers["x-golive-webrtc-keyframe-interval"]) == 1.0  # -g 30 at 30 fps
            location = r.headers["location"]
            assert location.startswith("/live/demo/whep/")
            assert "H264/90000" in r.text and "opus/48000" in r.text
            assert "VP8" not in r.text  # H.264 is forwarded: no other video codec offered
            await player.pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))
            await player.wait_for(video=30, audio=50)
            assert set(player.video) == {(320, 240)}
            assert set(player.audio) == {48000}
            (session,) = server.webrtc.sessions.for_channel("demo")
            assert session.connected
            # Audio and video share one BUNDLEd path, written on the ICE socket directly, a
            # keyframe's fragments together (UDP segmentation): fewer writes than datagrams.
            (path,) = session.paths
            assert path.datagrams >= 80, path.datagrams
            assert path.writes < path.datagrams, (path.writes, path.datagrams)
            # A connected viewer is counted (each second) as an HLS player is, and in /metrics.
            deadline = time.monotonic() + 5
            while server.viewers.count("demo") < 1:
                assert time.monotonic() < deadline, "the WebRTC viewer is not counted"
                await asyncio.sleep(0.1)
            assert server.viewers.count("demo") == 1
            metrics = (await client.get("/metrics")).text
            assert 'golive_whep_sessions{state="connected"} 1.0' in metrics
            assert 'golive_whep_sessions{state="connecting"} 0.0' in metrics
            assert 'golive_viewers{channel="demo"} 1.0' in metrics

            r = await client.delete(location)
            assert r.status_code == 200
            assert len(server.webrtc.sessions) == 0
            assert session.pc.connectionState == "closed"
            assert (await client.delete(location)).status_code == 404
        finally:
            await player.close()


async def test_two_viewers_play_the_same_rtp_stream(tmp_path: Path) -> None:
    """The packets are made once per stream: every viewer is announced the stream's SSRCs,
    and each decodes what it gets (its own SRTP keys)."""
    async with live(tmp_path) as (server, client):
        players = [Player(), Player()]
        try:
            answers = []
            for player in players:
                r = await post_offer(client, await player.offer())
                assert r.status_code == 201, r.text
                answers.append(r.text)
                await player.pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))
            for player in players:
                await player.wait_for(video=30, audio=30)
            sessions = server.webrtc.sessions.for_channel("demo")
            source = sessions[0].source
            for answer in answers:
                assert f"a=ssrc:{source.video_ssrc} " in answer
                assert f"a=ssrc:{source.audio_ssrc} " in answer
            assert all(s.viewer.video.packets > 30 for s in sessions)  # type: ignore[union-attr,attr-defined]
        finally:
            for player in players:
                await player.close()


async def test_a_lost_video_packet_is_sent_again_when_the_viewer_nacks_it(
    tmp_path: Path,
) -> None:
    """aiortc's receiver NACKs a gap at once (RFC 4585); golive answers from the stream's
    history, with the original sequence number (no RTX)."""
    async with live(tmp_path) as (server, client):
        player = Player()
        try:
            r = await post_offer(client, await player.offer())
            assert r.status_code == 201, r.text
            assert "nack" in r.text
            await player.pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))
            await player.wait_for(video=10, audio=0)
            (session,) = server.webrtc.sessions.for_channel("demo")
            video_ssrc = session.source.video_ssrc
            # The player's network loses one video packet: it never reaches SRTP (whose replay
            # window would otherwise refuse the second copy), the header is read in the clear.
            dtls = player.pc.getTransceivers()[0].receiver.transport
            lost: list[int] = []
            arrivals: list[int] = []

            class LossyNetwork:
                def __init__(self, srtp: Any) -> None:
                    self.srtp = srtp

                def unprotect(self, data: bytes) -> bytes:
                    if int.from_bytes(data[8:12], "big") == video_ssrc:
                        arrivals.append(int.from_bytes(data[2:4], "big"))
                        if len(arrivals) == 5:
                            lost.append(arrivals[-1])
                            raise pylibsrtp.Error("lost on the way")
                    return bytes(self.srtp.unprotect(data))

                def unprotect_rtcp(self, data: bytes) -> bytes:
                    return bytes(self.srtp.unprotect_rtcp(data))

                def protect_rtcp(self, data: bytes) -> bytes:
                    return bytes(self.srtp.protect_rtcp(data))

            dtls._rx_srtp = LossyNetwork(dtls._rx_srtp)  # type: ignore[assignment]
            deadline = time.monotonic() + 10
            while not lost or arrivals.count(lost[0]) < 2:
                assert time.monotonic() < deadline, f"lost {lost}, never sent again"
                await asyncio.sleep(0.05)
            outlet = session.viewer.video
            assert outlet is not None and outlet.retransmitted >= 1  # type: ignore[attr-defined]
            decoded = len(player.video)
            await player.wait_for(video=decoded + 30, audio=0)
        finally:
            await player.close()


async def test_bad_offers_are_refused_with_a_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "golive.http")
    async with live(tmp_path) as (server, client):
        r = await post_offer(client, "this is not SDP")
        assert r.status_code == 400
        assert "v=0" in r.text
        assert "WHEP offer for demo" in caplog.text and "refused (400)" in caplog.text

        player = Player()
        try:
            sdp = await player.offer()
            # Only VP8 left in the video section: nothing this server can send.
            no_h264 = "\r\n".join(
                line
                for line in sdp.split("\r\n")
                if not any(f"{pt}" in line for pt in ("H264", "packetization-mode"))
            )
            r = await post_offer(client, no_h264)
            assert r.status_code == 406
            assert "H.264" in r.text

            r = await client.post("/live/demo/whep", content=sdp)
            assert r.status_code == 415
            r = await client.post("/live/nobody/whep", content=sdp, headers=SDP)
            assert r.status_code == 404
            r = await client.patch("/live/demo/whep/abc", content="a=candidate")
            assert r.status_code == 405
            r = await client.options("/live/demo/whep")
            assert r.status_code == 204
            assert "POST" in r.headers["access-control-allow-methods"]
            assert "content-type" in r.headers["access-control-allow-headers"]
            assert len(server.webrtc.sessions) == 0
        finally:
            await player.close()


async def test_viewer_cap_answers_503_with_retry_after(tmp_path: Path) -> None:
    async with live(tmp_path, whep_max_viewers=1) as (server, client):
        first, second = Player(), Player()
        try:
            assert (await post_offer(client, await first.offer())).status_code == 201
            r = await post_offer(client, await second.offer())
            assert r.status_code == 503
            assert int(r.headers["retry-after"]) > 0
            assert len(server.webrtc.sessions) == 1
        finally:
            await first.close()
            await second.close()


async def test_a_viewer_that_never_connects_is_closed_and_freed(tmp_path: Path) -> None:
    async with live(tmp_path, whep_connect_timeout=2.0) as (server, client):
        player = Player()
        try:
            r = await post_offer(client, await player.offer())
            assert r.status_code == 201
            (session,) = server.webrtc.sessions.for_channel("demo")
            # The player never sets the answer: no ICE checks, no DTLS.
            started = time.monotonic()
            while len(server.webrtc.sessions):
                assert time.monotonic() - started < 6, "the session was never closed"
                await asyncio.sleep(0.1)
            assert time.monotonic() - started >= 1.5
            assert session.pc.connectionState == "closed"
            assert session.closed
            assert session.viewer.ended
            assert server.webrtc.sessions.expired == 1
            metrics = (await client.get("/metrics")).text
            assert "golive_whep_connect_timeouts_total 1.0" in metrics
            assert server.viewers.count("demo") == 0  # never connected: never a viewer
            assert (await client.delete(r.headers["location"])).status_code == 404
        finally:
            await player.close()


async def test_a_b_frame_source_is_served_from_the_transcoded_rendition(tmp_path: Path) -> None:
    ladder = [
        Rung("source", RungKind.SOURCE),
        Rung("120p", RungKind.VIDEO, height=120, fps=30, bitrate=200_000),
    ]
    async with live(
        tmp_path,
        bframes=2,
        transcode_ladder=ladder,
        transcode_preset="ultrafast",
        transcode_max_lag=30.0,
    ) as (server, client):
        # The rendition's first frames come once the encoder is running.
        deadline = time.monotonic() + 20
        while True:
            player = Player()
            r = await post_offer(client, await player.offer())
            if r.status_code == 201 or time.monotonic() > deadline:
                break
            assert r.status_code == 409, r.text
            await player.close()
            await asyncio.sleep(0.5)
        try:
            assert r.status_code == 201, r.text
            assert r.headers["x-golive-webrtc-source"] == "120p (source has B-frames)"
            await player.pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))
            await player.wait_for(video=20, audio=20)
            assert set(player.video) == {(160, 120)}
            (session,) = server.webrtc.sessions.for_channel("demo")
            assert session.feed == "120p" and session.source.bframes
        finally:
            await player.close()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait(data)


def _sdp_value(sdp: str, prefix: str) -> str:
    return next(line[len(prefix) :] for line in sdp.splitlines() if line.startswith(prefix))


async def test_ice_checks_from_an_unexpected_address_need_the_session_credentials(
    tmp_path: Path,
) -> None:
    """aioice takes a check from an address no candidate named (a peer-reflexive candidate,
    RFC 8445 7.3.1.3) only when it carries the session's ICE credentials: a check with a
    wrong password is answered 401 and learns nothing."""
    from aioice import stun

    async with live(tmp_path) as (server, client):
        player = Player()
        loop = asyncio.get_running_loop()
        transport = None
        try:
            offer = await player.offer()
            r = await post_offer(client, offer)
            assert r.status_code == 201
            answer = r.text
            candidate = _sdp_value(answer, "a=candidate:").split()
            host, port = candidate[4], int(candidate[5])
            local_ufrag = _sdp_value(answer, "a=ice-ufrag:")
            local_pwd = _sdp_value(answer, "a=ice-pwd:")
            remote_ufrag = _sdp_value(offer, "a=ice-ufrag:")
            transport, udp = await loop.create_datagram_endpoint(_Udp, local_addr=(host, 0))
            ours = transport.get_extra_info("sockname")

            def check(password: str) -> stun.Message:
                request = stun.Message(
                    message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST
                )
                request.attributes["USERNAME"] = f"{local_ufrag}:{remote_ufrag}"
                request.attributes["PRIORITY"] = 1853824767
                request.attributes["ICE-CONTROLLING"] = 1
                request.add_message_integrity(password.encode())
                request.add_fingerprint()
                return request

            async def response_to(request: stun.Message) -> stun.Message:
                transport.sendto(bytes(request), (host, port))
                while True:
                    message = stun.parse_message(await asyncio.wait_for(udp.received.get(), 5))
                    if message.transaction_id == request.transaction_id:
                        return message

            (session,) = server.webrtc.sessions.for_channel("demo")
            ice = session.pc.getTransceivers()[0].sender.transport.transport._connection

            def learned() -> bool:
                return any(c.port == ours[1] for c in ice._remote_candidates)

            refused = await response_to(check("not-the-password"))
            assert refused.message_class == stun.Class.ERROR
            assert refused.attributes["ERROR-CODE"][0] == 401
            assert not learned()

            accepted = await response_to(check(local_pwd))
            assert accepted.message_class == stun.Class.RESPONSE
            assert accepted.attributes["XOR-MAPPED-ADDRESS"] == (ours[0], ours[1])
            assert learned()
        finally:
            if transport is not None:
                transport.close()
            await player.close()


async def test_a_private_channel_plays_for_its_owner_and_through_a_token(tmp_path: Path) -> None:
    from tests.e2e.test_private_playback import issue, private_demo

    async with live(tmp_path) as (server, owner), http_client(server) as stranger:
        playback = await private_demo(server, owner)
        players: list[Player] = []

        async def offer() -> str:
            players.append(Player())
            return await players[-1].offer()

        try:
            r = await stranger.post("/live/demo/whep", content=await offer(), headers=SDP)
            assert r.status_code == 404
            r = await owner.post("/live/demo/whep", content=await offer(), headers=SDP)
            assert r.status_code == 201, r.text
            token = (await issue(owner, playback, {"channel": "demo", "ttl": 600}))["token"]
            r = await stranger.post(
                f"/p/{token}/live/demo/whep", content=await offer(), headers=SDP
            )
            assert r.status_code == 201, r.text
            assert r.headers["location"].startswith("/live/demo/whep/")
            # The signature's first character changed: a forged token.
            at = token.index(".") + 1
            forged = token[:at] + ("B" if token[at] == "A" else "A") + token[at + 1 :]
            r = await stranger.post(
                f"/p/{forged}/live/demo/whep", content=await offer(), headers=SDP
            )
            assert r.status_code == 403, (token, r.text)
            assert len(server.webrtc.sessions) == 2
        finally:
            for player in players:
                await player.close()


async def test_webrtc_playback_can_be_turned_off(tmp_path: Path) -> None:
    async with live(tmp_path, whep_max_viewers=0) as (server, client):
        player = Player()
        try:
            r = await post_offer(client, await player.offer())
            assert r.status_code == 404
            assert "WebRTC playback is off" in r.text
            assert len(server.webrtc.sessions) == 0
        finally:
            await player.close()
