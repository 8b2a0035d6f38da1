"""RTP made once per stream: the H.264/Opus packetizer, the per-viewer payload type, the
fan-out and a viewer's outlet (its SRTP path faked), and the aiortc internals check."""

from __future__ import annotations

import asyncio
import struct

import pytest
from aiortc import RTCRtpSender
from aiortc.codecs.h264 import H264PayloadDescriptor
from aiortc.rtp import RtpPacket

from golive.webrtc import rtp_outlet
from golive.webrtc.retransmit_budget import RetransmitBudget
from golive.webrtc.rtp_fanout import RtpBatch, RtpFanout
from golive.webrtc.rtp_history import RtpHistory
from golive.webrtc.rtp_outlet import IdleTrack, RtpOutlet, check_aiortc
from golive.webrtc.rtp_packetizer import MAX_PAYLOAD, RtpPacketizer, with_payload_type

SPS = b"\x67\x42\xc0\x1f\xda\x01"
PPS = b"\x68\xce\x3c\x80"


def idr(size: int) -> bytes:
    return b"\x65" + bytes(i % 251 for i in range(size - 1))


def depacketize(packets: list[bytes]) -> bytes:
    """The Annex-B access unit aiortc's H.264 depayloader rebuilds from the packets."""
    return b"".join(H264PayloadDescriptor.parse(RtpPacket.parse(p).payload)[1] for p in packets)


def annexb(*nals: bytes) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + n for n in nals)


# -- packetizer -----------------------------------------------------------------------------


def test_small_nal_units_go_one_per_packet_with_the_marker_on_the_last() -> None:
    rtp = RtpPacketizer(0x11223344, 96, sequence=10, timestamp_offset=1000)
    packets = rtp.h264([SPS, PPS, idr(500)], 3000)
    parsed = [RtpPacket.parse(p) for p in packets]
    assert [p.payload for p in parsed] == [SPS, PPS, idr(500)]
    assert [p.sequence_number for p in parsed] == [10, 11, 12]
    assert [p.marker for p in parsed] == [0, 0, 1]
    assert {(p.version, p.payload_type, p.ssrc, p.timestamp) for p in parsed} == {
        (2, 96, 0x11223344, 4000)
    }
    assert rtp.sequence == 13


def test_a_nal_unit_over_the_mtu_is_cut_into_fu_a_fragments() -> None:
    rtp = RtpPacketizer(1, 102, max_payload=MAX_PAYLOAD)
    big = idr(3 * MAX_PAYLOAD)
    packets = rtp.h264([big], 0)
    assert all(len(p) <= 12 + MAX_PAYLOAD for p in packets)
    assert len(packets) == 4  # 3599 bytes after the header, 1198 per fragment
    indicators = {p[12] for p in packets}
    assert indicators == {0x60 | 28}  # the IDR's NRI, FU-A
    assert packets[0][13] == 0x80 | 5 and packets[-1][13] == 0x40 | 5
    assert all(p[13] == 5 for p in packets[1:-1])
    assert [RtpPacket.parse(p).marker for p in packets] == [0, 0, 0, 1]
    assert depacketize(packets) == annexb(big)


def test_a_nal_unit_of_exactly_the_mtu_is_not_fragmented() -> None:
    rtp = RtpPacketizer(1, 96, max_payload=100)
    assert len(rtp.h264([idr(100)], 0)) == 1
    assert len(rtp.h264([idr(101)], 0)) == 2


def test_an_access_unit_round_trips_through_aiortcs_depayloader() -> None:
    rtp = RtpPacketizer(1, 96, max_payload=200)
    nals = [SPS, PPS, idr(1000), b"\x41" + bytes(range(250))]
    assert depacketize(rtp.h264(nals, 0)) == annexb(*nals)


def test_sequence_numbers_and_timestamps_wrap() -> None:
    rtp = RtpPacketizer(7, 96, sequence=0xFFFE, timestamp_offset=0xFFFF_FF00)
    packets = rtp.h264([SPS, PPS, idr(10)], 0x200)
    assert [RtpPacket.parse(p).sequence_number for p in packets] == [0xFFFE, 0xFFFF, 0]
    assert RtpPacket.parse(packets[0]).timestamp == 0x100
    assert rtp.sequence == 1


def test_opus_is_one_packet_per_frame_with_a_marker_only_when_asked() -> None:
    rtp = RtpPacketizer(9, 111, sequence=5)
    first = RtpPacket.parse(rtp.opus(b"\xfc\x01\x02", 960, marker=True))
    second = RtpPacket.parse(rtp.opus(b"\xfc\x03", 1920))
    assert (first.payload, first.marker, first.timestamp, first.sequence_number) == (
        b"\xfc\x01\x02",
        1,
        960,
        5,
    )
    assert (second.marker, second.timestamp, second.sequence_number) == (0, 1920, 6)


def test_a_bad_payload_type_is_refused() -> None:
    with pytest.raises(ValueError, match="0-127"):
        RtpPacketizer(1, 128)


# -- per-viewer payload type ----------------------------------------------------------------


def test_the_payload_type_is_rewritten_and_the_marker_kept() -> None:
    rtp = RtpPacketizer(1, 96)
    first, last = rtp.h264([SPS, idr(10)], 0)
    assert with_payload_type(first, 96) is first  # the same number: no copy
    moved = with_payload_type(last, 127)
    parsed = RtpPacket.parse(moved)
    assert (parsed.payload_type, parsed.marker) == (127, 1)
    assert moved[:1] == last[:1] and moved[2:] == last[2:]
    assert RtpPacket.parse(with_payload_type(first, 35)).marker == 0


def test_a_batch_rewrites_once_per_payload_type() -> None:
    packets = RtpPacketizer(1, 96).h264([SPS, idr(10)], 0)
    batch = RtpBatch(packets, 96, 0, 0, 16)
    assert batch.for_payload_type(96) is packets
    a, b = batch.for_payload_type(102), batch.for_payload_type(102)
    assert a is b and [RtpPacket.parse(p).payload_type for p in a] == [102, 102]


# -- fan-out and outlet ---------------------------------------------------------------------


class FakeDtls:
    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[bytes] = []
        self.fail_after = fail_after

    async def _send_rtp(self, data: bytes) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise ConnectionError("Cannot send encrypted RTP, not connected")
        self.sent.append(data)


class FakeSender:
    """What an outlet uses of aiortc's RTCRtpSender."""

    def __init__(self, transport: FakeDtls) -> None:
        self.transport = transport
        for name in rtp_outlet._REPORT_STATE:
            setattr(self, name, 0)


def report(sender: FakeSender) -> tuple[int, ...]:
    return tuple(getattr(sender, name) for name in rtp_outlet._REPORT_STATE)


async def test_each_viewer_gets_the_shared_packets_with_its_payload_type() -> None:
    rtp = RtpPacketizer(0xABCD, 96, sequence=100, timestamp_offset=0)
    packets = rtp.h264([SPS, PPS, idr(3000)], 9000)
    batch = RtpBatch(packets, 96, 9000, 5 << 32, sum(len(p) - 12 for p in packets))
    chrome, firefox = FakeSender(FakeDtls()), FakeSender(FakeDtls())
    a = RtpOutlet(chrome, 96)  # type: ignore[arg-type]
    b = RtpOutlet(firefox, 126)  # type: ignore[arg-type]
    fanout = RtpFanout("demo")
    fanout.push(batch, [a, b])
    await fanout.flushed()
    assert chrome.transport.sent == packets
    assert [p[2:] for p in firefox.transport.sent] == [p[2:] for p in packets]
    assert {RtpPacket.parse(p).payload_type for p in firefox.transport.sent} == {126}
    assert RtpPacket.parse(firefox.transport.sent[-1]).marker == 1
    # Sender reports describe what was sent: its last timestamp, its wall time, the counts.
    assert report(chrome) == (5 << 32, 9000, len(packets), batch.payload_bytes)
    assert report(firefox) == report(chrome)


async def test_a_viewer_whose_transport_closed_stops_and_others_go_on() -> None:
    rtp = RtpPacketizer(1, 96)
    gone, kept = FakeSender(FakeDtls(fail_after=1)), FakeSender(FakeDtls())
    a, b = RtpOutlet(gone, 96), RtpOutlet(kept, 96)  # type: ignore[arg-type]
    fanout = RtpFanout("demo")
    for pts in (0, 3000):
        fanout.push(RtpBatch(rtp.h264([SPS, idr(10)], pts), 96, pts, 0, 0), [a, b])
    await fanout.flushed()
    assert a.closed and not b.closed
    assert len(gone.transport.sent) == 1 and len(kept.transport.sent) == 4
    assert fanout.backlog == 0


async def test_a_failing_sink_is_logged_closed_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        closed = False

        async def send(self, batch: RtpBatch) -> None:
            raise RuntimeError("boom")

        def close(self) -> None:
            self.closed = True

    broken, ok = Broken(), RtpOutlet(FakeSender(FakeDtls()), 96)  # type: ignore[arg-type]
    fanout = RtpFanout("demo")
    fanout.push(RtpBatch([b"\x80\x60" + bytes(10)], 96, 0, 0, 0), [broken, ok])
    await fanout.flushed()
    assert broken.closed and ok.packets == 1
    assert "demo: sending RTP to a WebRTC viewer failed" in caplog.text


async def test_the_idle_track_waits_until_stopped() -> None:
    from aiortc.mediastreams import MediaStreamError

    track = IdleTrack("video")
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    track.stop()
    with pytest.raises(MediaStreamError):
        await waiting


# -- the aiortc internals -------------------------------------------------------------------


def test_the_installed_aiortc_has_what_the_outlets_use() -> None:
    check_aiortc()


def test_an_aiortc_without_them_is_refused_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(RTCRtpSender, "_run_rtcp")
    with pytest.raises(RuntimeError, match="sender-report counters"):
        check_aiortc()


def test_rtp_header_layout() -> None:
    packet = RtpPacketizer(0x01020304, 96, sequence=0x0506, timestamp_offset=0).opus(b"x", 7)
    assert struct.unpack("!BBHII", packet[:12]) == (0x80, 96, 0x0506, 7, 0x01020304)


async def test_the_fanout_yields_to_the_loop_during_a_large_batch() -> None:
    rtp = RtpPacketizer(1, 96)
    packets = rtp.h264([idr(60 * MAX_PAYLOAD)], 0)  # a keyframe of 61 packets
    viewers = [FakeSender(FakeDtls()) for _ in range(20)]
    outlets = [RtpOutlet(v, 96) for v in viewers]  # type: ignore[arg-type]
    ticks: list[int] = []

    async def other_work() -> None:
        while True:
            ticks.append(sum(len(v.transport.sent) for v in viewers))
            await asyncio.sleep(0)

    ticker = asyncio.ensure_future(other_work())
    await asyncio.sleep(0)
    fanout = RtpFanout("demo")
    fanout.push(RtpBatch(packets, 96, 0, 0, 0), outlets)
    await fanout.flushed()
    ticker.cancel()
    assert all(len(v.transport.sent) == len(packets) for v in viewers)
    during = [t for t in ticks if 0 < t < 20 * len(packets)]
    assert len(during) >= 2  # other tasks ran while the batch was going out


# -- NACK: the stream's history, a viewer's budget --------------------------------------------


def test_the_history_keeps_the_last_packets_by_sequence_number() -> None:
    rtp = RtpPacketizer(1, 96, sequence=0xFFF0)
    history = RtpHistory(size=16)
    sent = [p for n in range(24) for p in rtp.h264([idr(50)], n * 3000)]  # wraps at 65536
    history.add(sent)
    assert history.get(0xFFF0) is None  # overwritten by a later packet in its slot
    assert history.get(0xFFF7) is None
    assert history.get(0xFFF8) == sent[8]
    assert history.get(7) == sent[-1]
    assert history.get(8) is None  # not sent yet
    history.clear()
    assert history.get(7) is None


def test_the_budget_refills_at_its_rate_up_to_its_burst() -> None:
    now = [0.0]
    budget = RetransmitBudget(rate=10, burst=3, clock=lambda: now[0])
    assert [budget.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.1  # one token
    assert [budget.take() for _ in range(2)] == [True, False]
    now[0] += 100.0  # never past the burst
    assert sum(budget.take() for _ in range(10)) == 3
    assert budget.refused == 1 + 1 + 7


async def test_a_nack_is_answered_from_the_streams_history_with_the_viewers_payload_type() -> None:
    rtp = RtpPacketizer(7, 96, sequence=500)
    history = RtpHistory()
    packets = rtp.h264([SPS, PPS, idr(3000)], 0)
    history.add(packets)
    now = [0.0]
    sender = FakeSender(FakeDtls())
    outlet = RtpOutlet(
        sender,  # type: ignore[arg-type]
        126,
        history=history,
        budget=RetransmitBudget(rate=1, burst=2, clock=lambda: now[0]),
    )
    # aiortc's sender calls its _retransmit for every sequence number a NACK names.
    await sender._retransmit(502)  # type: ignore[attr-defined]
    await sender._retransmit(9999)  # type: ignore[attr-defined]  # not kept: nothing sent
    (again,) = sender.transport.sent
    assert again[2:] == packets[2][2:] and RtpPacket.parse(again).payload_type == 126
    await sender._retransmit(503)  # type: ignore[attr-defined]
    await sender._retransmit(504)  # type: ignore[attr-defined]  # over the budget
    assert len(sender.transport.sent) == 2 and outlet.retransmitted == 2
    outlet.close()
    now[0] += 10
    await sender._retransmit(504)  # type: ignore[attr-defined]  # closed: nothing
    assert outlet.retransmitted == 2


def test_aiortc_answers_nacks_through_the_senders_retransmit() -> None:
    # The hook RtpOutlet replaces; check_aiortc refuses to start without it.
    code = RTCRtpSender._handle_rtcp_packet.__code__
    assert "_retransmit" in code.co_names
