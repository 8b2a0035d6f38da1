"""A stream's recent RTP packets by sequence number, for the retransmissions viewers ask for.

The packets are the stream's (made once, shared by every viewer), so one history per stream
and kind serves every viewer's NACKs (RFC 4585 generic NACK, answered with the original
packet: RTX is not negotiated). ``size`` packets are kept: 1024 is about 3 s of a 3 Mbps
stream, longer than a browser keeps asking for a packet.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["RtpHistory"]


class RtpHistory:
    def __init__(self, size: int = 1024) -> None:
        self._slots: list[bytes | None] = [None] * size

    def add(self, packets: Sequence[bytes]) -> None:
        slots, size = self._slots, len(self._slots)
        for packet in packets:
            slots[int.from_bytes(packet[2:4], "big") % size] = packet

    def get(self, sequence: int) -> bytes | None:
        """The packet numbered ``sequence`` if it is still kept."""
        packet = self._slots[sequence % len(self._slots)]
        if packet is None or int.from_bytes(packet[2:4], "big") != sequence:
            return None
        return packet

    def clear(self) -> None:
        self._slots = [None] * len(self._slots)
