"""One stream's RTP packets, made once for all its WebRTC viewers (RFC 3550, RFC 6184, RFC 7587).

A packetizer owns one RTP stream: its SSRC, its sequence numbers and its timestamp offset.
H.264 access units become single NAL unit packets, or FU-A fragments for NAL units larger
than ``MAX_PAYLOAD`` (packetization-mode 1; STAP-A is optional and not used); the marker bit
is set on the last packet of an access unit. An Opus frame is one packet. Every viewer gets
the same bytes: only the payload type may differ per viewer (``with_payload_type``).
Pure: no clock, no randomness (the caller picks the SSRC and the starting points).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

from golive.media.annexb import Buffer

__all__ = ["HEADER_SIZE", "MAX_PAYLOAD", "RtpPacketizer", "with_payload_type"]

HEADER_SIZE = 12
# Room for SRTP's tag, UDP/IP and a TURN relay's headers in a 1500-byte path MTU.
MAX_PAYLOAD = 1200
_VERSION = 0x80  # V=2, no padding, no extension, no CSRC
_FU_A = 28
_HEADER = struct.Struct("!BBHII")


class RtpPacketizer:
    """RTP packets of one stream (one SSRC) with the given payload type."""

    def __init__(
        self,
        ssrc: int,
        payload_type: int,
        *,
        sequence: int = 0,
        timestamp_offset: int = 0,
        max_payload: int = MAX_PAYLOAD,
    ) -> None:
        if not 0 <= payload_type < 128:
            raise ValueError(f"RTP payload type must be 0-127, not {payload_type}")
        if max_payload < 3:
            raise ValueError("an FU-A fragment needs room for at least one byte")
        self.ssrc = ssrc & 0xFFFFFFFF
        self.payload_type = payload_type
        self.sequence = sequence & 0xFFFF  # the next packet's
        self.timestamp_offset = timestamp_offset & 0xFFFFFFFF
        self.max_payload = max_payload

    def timestamp(self, media_time: int) -> int:
        """The RTP timestamp of a time in the stream's clock units."""
        return (self.timestamp_offset + media_time) & 0xFFFFFFFF

    def h264(self, nal_units: Iterable[Buffer], media_time: int) -> list[bytes]:
        """The packets of one access unit (its NAL units without start codes or lengths)."""
        payloads: list[Buffer] = []
        limit = self.max_payload
        for nal in nal_units:
            size = len(nal)
            if not size:
                continue
            if size <= limit:
                payloads.append(nal)
            else:
                payloads.extend(_fu_a(nal, limit))
        return self._packets(payloads, self.timestamp(media_time), marker_last=True)

    def opus(self, frame: bytes, media_time: int, *, marker: bool = False) -> bytes:
        """The packet of one Opus frame; ``marker`` on the first after a silence or a start."""
        return self._packets([frame], self.timestamp(media_time), marker_last=marker)[0]

    def _packets(
        self, payloads: Sequence[Buffer], timestamp: int, *, marker_last: bool
    ) -> list[bytes]:
        out = []
        last = len(payloads) - 1
        pack = _HEADER.pack
        seq = self.sequence
        for i, payload in enumerate(payloads):
            second = self.payload_type | (0x80 if marker_last and i == last else 0)
            out.append(pack(_VERSION, second, seq, timestamp, self.ssrc) + payload)
            seq = (seq + 1) & 0xFFFF
        self.sequence = seq
        return out


def _fu_a(nal: Buffer, limit: int) -> list[bytes]:
    # RFC 6184 5.8: the NAL header's F and NRI bits go to the FU indicator, its type to the
    # FU header; the header byte itself is not sent, the rest is cut to fit.
    view = memoryview(nal)
    header = view[0]
    indicator = bytes((header & 0xE0 | _FU_A,))
    kind = header & 0x1F
    body = view[1:]
    step = limit - 2
    count = (len(body) + step - 1) // step
    out = []
    for i in range(count):
        fu = kind | (0x80 if i == 0 else 0) | (0x40 if i == count - 1 else 0)
        out.append(indicator + bytes((fu,)) + body[i * step : (i + 1) * step])
    return out


def with_payload_type(packet: bytes, payload_type: int) -> bytes:
    """The packet with another payload type (a viewer's own number for the codec); the
    marker bit is kept."""
    second = packet[1]
    if second & 0x7F == payload_type:
        return packet
    return packet[:1] + bytes((second & 0x80 | payload_type,)) + packet[2:]
