"""Encoded frames taken from an aiortc receiver before its decoder: nothing is decoded.

aiortc's ``RTCRtpReceiver`` reassembles each frame in its jitter buffer (H.264 depacketized
to Annex B per RFC 6184, Opus packets as they are) and hands ``(codec, frame)`` to a decoder
thread through a ``queue.Queue``. The receiver here gets a queue that passes each encoded
frame to a callback on the event loop instead; the decoder thread aiortc starts finds
nothing in it until the ``None`` that stops it, so it never decodes. A second small
replacement keeps the frames' RTP timestamps as sent (aiortc would rebase them on its own
first one), which the publish unwraps itself; a third lets the sender reports (RTCP SR:
the sender's wall clock for an RTP timestamp, RFC 3550 6.4.1) be seen on their way in.
``request_keyframe`` uses the receiver's own PLI sender (RFC 4585 6.3.1).

All three replace private attributes of ``RTCRtpReceiver``: verified against aiortc 1.16
(the range pinned in pyproject.toml), as is the PLI sender; ``install`` fails loudly
(tests/unit/test_whip_received_units.py) if a release renames them.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.rtp import AnyRtcpPacket, RtcpSrPacket

__all__ = ["EncodedFrame", "SenderReport", "install", "request_keyframe"]

# (mime type lowercased, payload: Annex B access unit or Opus packet, RTP timestamp)
EncodedFrame = Callable[[str, bytes, int], None]
# (the sender's wall clock in seconds since 1900 (NTP), the RTP timestamp it goes with)
SenderReport = Callable[[float, int], None]

_QUEUE = "_RTCRtpReceiver__decoder_queue"
_MAPPER = "_RTCRtpReceiver__timestamp_mapper"
_RTCP = "_handle_rtcp_packet"  # what the DTLS transport calls with each RTCP packet


class _Tap(queue.Queue[Any]):
    def __init__(self, deliver: EncodedFrame) -> None:
        super().__init__()
        self._deliver = deliver

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the receiver stopping: let its idle thread end
            super().put(None, block, timeout)
            return
        codec, frame = item
        self._deliver(codec.mimeType.lower(), frame.data, frame.timestamp)


class _SentTimestamps:
    """Stands in for aiortc's TimestampMapper: the timestamp as the sender wrote it."""

    def map(self, timestamp: int) -> int:
        return timestamp


def install(
    receiver: RTCRtpReceiver, deliver: EncodedFrame, report: SenderReport | None = None
) -> None:
    """Route ``receiver``'s encoded frames to ``deliver`` and its sender reports to
    ``report`` (call before it starts receiving)."""
    for name in (_QUEUE, _MAPPER, _RTCP):
        if not hasattr(receiver, name):
            raise RuntimeError(
                f"aiortc's RTCRtpReceiver has no {name}: this aiortc release is not one the "
                "WHIP ingest was verified with (see pyproject.toml)"
            )
    setattr(receiver, _QUEUE, _Tap(deliver))
    setattr(receiver, _MAPPER, _SentTimestamps())
    if report is not None:
        handle = receiver._handle_rtcp_packet

        async def seen(packet: AnyRtcpPacket) -> None:
            if isinstance(packet, RtcpSrPacket):
                ntp = packet.sender_info.ntp_timestamp
                report(ntp / (1 << 32), packet.sender_info.rtp_timestamp)
            await handle(packet)

        setattr(receiver, _RTCP, seen)


async def request_keyframe(receiver: RTCRtpReceiver) -> bool:
    """Asks the sender of ``receiver``'s media for a keyframe (an RTCP picture loss
    indication); False when no media has come yet (its SSRC is not known)."""
    sources = receiver.getSynchronizationSources()
    if not sources:
        return False
    await receiver._send_rtcp_pli(sources[0].source)
    return True
