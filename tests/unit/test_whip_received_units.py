"""aiortc's receiver hands WHIP its encoded frames, undecoded (received_units.py).

Verified against the aiortc release pinned in pyproject.toml: a real RTCRtpReceiver is fed
real RTP packets (H.264 packetized by aiortc's own packetizer) through the path the DTLS
transport uses; the access unit comes out whole, with its RTP timestamp as sent, and no
decoder runs."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import aiortc
import av
import pytest
from aiortc.codecs.h264 import H264Encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
from aiortc.rtp import RtcpPacket, RtcpPsfbPacket, RtcpSenderInfo, RtcpSrPacket, RtpPacket

from golive.ingest.whip import received_units
from golive.media.annexb import split_annexb


class _Transport:
    """Just enough of an RTCDtlsTransport for a receiver (no network)."""

    state = "connected"
    _stats_id = "t"

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def _register_rtp_receiver(self, receiver: object, parameters: object) -> None:
        pass

    def _unregister_rtp_receiver(self, receiver: object) -> None:
        pass

    async def _send_rtp(self, data: bytes) -> None:
        self.sent.append(data)

    def _get_stats(self) -> dict[str, object]:
        return {}


def test_the_pinned_aiortc_is_the_verified_one() -> None:
    major, minor = (int(x) for x in aiortc.__version__.split(".")[:2])
    assert (major, minor) == (1, 16)


async def test_access_units_reach_the_callback_undecoded() -> None:
    got: list[tuple[str, bytes, int]] = []
    reports: list[tuple[float, int]] = []
    transport = _Transport()
    receiver = aiortc.RTCRtpReceiver("video", transport)  # type: ignore[arg-type]
    receiver._set_rtcp_ssrc(99)
    receiver._track = aiortc.rtcrtpreceiver.RemoteStreamTrack(kind="video")
    received_units.install(
        receiver,
        lambda mime, data, ts: got.append((mime, data, ts)),
        lambda ntp, ts: reports.append((ntp, ts)),
    )
    codec = RTCRtpCodecParameters(
        mimeType="video/H264",
        clockRate=90000,
        payloadType=102,
        parameters={"packetization-mode": "1", "profile-level-id": "42e01f"},
    )
    await receiver.receive(RTCRtpReceiveParameters(codecs=[codec]))
    encoder = H264Encoder()
    seq = 100
    start = 2**32 - 3000  # the second frame's timestamp wraps
    for i in range(3):
        frame = av.VideoFrame(320, 240, "yuv420p")
        frame.pts, frame.time_base = i * 3000, Fraction(1, 90000)
        payloads, _ = encoder.encode(frame, force_keyframe=i == 0)
        for j, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=102,
                sequence_number=seq,
                timestamp=(start + i * 3000) & 0xFFFFFFFF,
                marker=j == len(payloads) - 1,
            )
            packet.ssrc = 1234
            packet.payload = payload
            seq += 1
            await receiver._handle_rtp_packet(packet, arrival_time_ms=i * 33)
    # A sender report is seen on its way to aiortc's own handling (which still gets it).
    ntp = (3_900_000_000 << 32) | (1 << 31)  # 3.9e9 s and a half since 1900
    report = RtcpSrPacket(
        ssrc=1234,
        sender_info=RtcpSenderInfo(
            ntp_timestamp=ntp, rtp_timestamp=start, packet_count=3, octet_count=1000
        ),
    )
    await receiver._handle_rtcp_packet(report)
    assert reports == [(3_900_000_000.5, start)]
    stats = await receiver.getStats()
    assert any(s.type == "remote-outbound-rtp" for s in stats.values())
    # A keyframe request goes to the sender of the media seen (RTCP PLI, RFC 4585 6.3.1).
    transport.sent.clear()
    assert await received_units.request_keyframe(receiver)
    plis = [p for data in transport.sent for p in RtcpPacket.parse(data)]
    assert [(type(p), p.fmt, p.media_ssrc) for p in plis] == [(RtcpPsfbPacket, 1, 1234)]
    await receiver.stop()
    await asyncio.sleep(0)
    # A frame leaves the jitter buffer when the next one starts: two of three so far.
    assert [(m, ts) for m, _, ts in got] == [("video/h264", start), ("video/h264", 0)]
    types = [n[0] & 0x1F for n in split_annexb(got[0][1])]
    assert 7 in types and 8 in types and 5 in types
    # The decoder thread idled and has ended: the track's first item is its end, no picture.
    with pytest.raises(aiortc.mediastreams.MediaStreamError):
        await receiver.track.recv()
