"""A viewer's aiortc sender given a stream's shared RTP packets: SRTP and send, nothing else.

aiortc's ``RTCRtpSender`` packetizes per viewer, in its own loop; golive packetizes once per
stream (rtp_packetizer.py) instead. The sender stays for what it does well: it announces the
stream's SSRC in the answer (``announce``, before the answer is made), registers for RTCP and
sends sender reports and BYE. Its media loop waits on an ``IdleTrack`` that never yields a
frame, and the outlet writes the shared packets on the viewer's ``SrtpUdpPath`` (SRTP with
this viewer's keys, segmented writes on its ICE socket), or, for a TURN-relayed viewer,
through the sender's DTLS transport (``_send_rtp``: SRTP, then the ICE connection). The sender's
report counters are kept up to date so its RTCP SR describes what was really sent.

NACKs are answered from the stream's shared history (rtp_history.py): the packet is the
same for every viewer, only its payload type and SRTP are the viewer's. PLI/FIR are not
answered: a keyframe for one viewer needs an encoder (the viewer waits for the next
keyframe, at most a GOP).

These are aiortc and aioice internals, pinned in pyproject.toml (aiortc >=1.16,<1.17,
aioice >=0.13,<0.14);
``check_aiortc`` fails at start-up when they are not what this code expects.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aioice import Connection
from aiortc import RTCDtlsTransport, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from golive.webrtc.retransmit_budget import RetransmitBudget
from golive.webrtc.rtp_fanout import RtpBatch
from golive.webrtc.rtp_history import RtpHistory
from golive.webrtc.rtp_packetizer import with_payload_type
from golive.webrtc.srtp_udp_path import SrtpUdpPath

__all__ = ["IdleTrack", "RtpOutlet", "announce", "check_aiortc"]

# The sender's sender-report state (name-mangled private attributes of RTCRtpSender).
_NTP = "_RTCRtpSender__ntp_timestamp"
_RTP_TS = "_RTCRtpSender__rtp_timestamp"
_PACKETS = "_RTCRtpSender__packet_count"
_OCTETS = "_RTCRtpSender__octet_count"
_REPORT_STATE = (_NTP, _RTP_TS, _PACKETS, _OCTETS)


def check_aiortc() -> None:
    """Raise RuntimeError unless aiortc has the internals the outlets use."""
    problems = []
    send_rtp = getattr(RTCDtlsTransport, "_send_rtp", None)
    if send_rtp is None or not asyncio.iscoroutinefunction(send_rtp):
        problems.append("RTCDtlsTransport._send_rtp(data) is missing")
    init = getattr(RTCRtpSender.__init__, "__code__", None)
    rtcp = getattr(getattr(RTCRtpSender, "_run_rtcp", None), "__code__", None)
    if init is None or "_ssrc" not in init.co_names:
        problems.append("RTCRtpSender._ssrc is missing")
    if (
        init is None
        or rtcp is None
        or not all(name in init.co_names and name in rtcp.co_names for name in _REPORT_STATE)
    ):
        problems.append("RTCRtpSender's sender-report counters are not where they were")
    setup = getattr(getattr(RTCDtlsTransport, "_setup_srtp", None), "__code__", None)
    if setup is None or "_tx_srtp" not in setup.co_names:
        problems.append("RTCDtlsTransport._tx_srtp (the SRTP session) is missing")
    connection = getattr(Connection.__init__, "__code__", None)
    if connection is None or "_nominated" not in connection.co_names:
        problems.append("aioice's Connection._nominated (the selected pairs) is missing")
    handle = getattr(getattr(RTCRtpSender, "_handle_rtcp_packet", None), "__code__", None)
    if handle is None or "_retransmit" not in handle.co_names:
        problems.append("RTCRtpSender does not answer NACKs through _retransmit")
    if problems:
        import aiortc

        raise RuntimeError(
            f"WebRTC playback needs aiortc 1.16 internals; aiortc {aiortc.__version__}: "
            + "; ".join(problems)
        )


def announce(sender: RTCRtpSender, ssrc: int) -> None:
    """Make ``sender`` use the stream's SSRC (before the answer names it in a=ssrc)."""
    sender._ssrc = ssrc


class IdleTrack(MediaStreamTrack):
    """A sender's track that yields no frame: the sender's media loop waits here until the
    track stops, its RTP goes out through an outlet."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._stopped = asyncio.Event()

    async def recv(self) -> Any:
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._stopped.set()


class RtpOutlet:
    """One viewer's sender of one kind: the shared packets, this viewer's payload type.

    With a ``history`` (the stream's, video), the viewer's NACKs are answered from it: the
    sender's ``_retransmit``, which aiortc calls for each packet a NACK names, is this
    outlet's, within the viewer's ``RetransmitBudget``."""

    def __init__(
        self,
        sender: RTCRtpSender,
        payload_type: int,
        path: SrtpUdpPath | None = None,
        *,
        history: RtpHistory | None = None,
        budget: RetransmitBudget | None = None,
    ) -> None:
        self._sender = sender
        self._path = path
        self.payload_type = payload_type
        self.closed = False
        self.packets = 0
        self.retransmitted = 0
        self._history = history
        self._budget = budget or RetransmitBudget()
        if history is not None:
            setattr(sender, "_retransmit", self.retransmit)  # noqa: B010 (an instance's override)

    def close(self) -> None:
        self.closed = True

    async def send(self, batch: RtpBatch) -> None:
        if self.closed:
            return
        sender = self._sender
        packets = batch.for_payload_type(self.payload_type)
        if not await self._write(packets):
            return
        self.packets += len(packets)
        setattr(sender, _NTP, batch.ntp)
        setattr(sender, _RTP_TS, batch.timestamp)
        setattr(sender, _PACKETS, getattr(sender, _PACKETS) + len(packets))
        setattr(sender, _OCTETS, getattr(sender, _OCTETS) + batch.payload_bytes)

    async def retransmit(self, sequence: int) -> None:
        """Send the packet numbered ``sequence`` again, if kept and within the budget."""
        if self.closed or self._history is None:
            return
        packet = self._history.get(sequence)
        if packet is None or not self._budget.take():
            return
        if await self._write([with_payload_type(packet, self.payload_type)]):
            self.retransmitted += 1

    async def _write(self, packets: list[bytes]) -> bool:
        try:
            if self._path is None or not self._path.send(packets):
                send = self._sender.transport._send_rtp
                for packet in packets:
                    await send(packet)
        except ConnectionError:
            self.closed = True  # DTLS gone: the session is closed by its state change
            return False
        return True
