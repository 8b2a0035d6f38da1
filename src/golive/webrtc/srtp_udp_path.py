"""A viewer's shortest way out: SRTP with its keys, then its ICE pair's UDP socket directly.

aiortc sends each RTP packet through four coroutines (DTLS transport, ICE transport, ICE
connection, STUN protocol) and one ``sendto`` each. For hundreds of viewers that is most of
the server's CPU. This path protects a batch with the viewer's SRTP session and writes it in
a few segmented writes (datagram_batches.py) on the nominated pair's own socket, to the same
address: the viewer receives the same datagrams.

It applies to a plain UDP pair (host or server-reflexive candidate). A TURN-relayed pair, or
a socket whose transport still holds unsent datagrams (kept in order behind them), goes
through aiortc as before: ``send`` returns False. The socket is a duplicate of the pair's
descriptor (the event loop, asyncio's or uvloop's, keeps its own object), closed with the path.

These are aiortc and aioice internals (``_tx_srtp``, ``_connection._nominated``), checked at
start-up by ``rtp_outlet.check_aiortc``.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Sequence
from typing import Any

from aiortc import RTCDtlsTransport

from golive.webrtc.datagram_batches import DatagramWriter

__all__ = ["SrtpUdpPath"]

_ICE_COMPONENT = 1  # RTP and RTCP share the first component (rtcp-mux, required by WHEP)


class SrtpUdpPath:
    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self.dtls = dtls
        self._pair: Any = None
        self._sock: socket.socket | None = None
        self._writer: DatagramWriter | None = None
        self._transport: Any = None
        self.closed = False
        self.datagrams = 0  # written directly (not through aiortc)
        self.writes = 0  # the system calls that wrote them

    def send(self, packets: Sequence[bytes]) -> bool:
        """Protect and write ``packets``; False (nothing sent) when they must go through
        aiortc instead. ConnectionError when DTLS is not connected (any more)."""
        dtls = self.dtls
        if dtls.state != "connected":
            raise ConnectionError("DTLS is not connected")
        writer = self._current_writer()
        if writer is None:
            return False
        transport = self._transport
        if transport.get_write_buffer_size():
            return False  # datagrams queued in the loop go first, through aiortc
        protect = dtls._tx_srtp.protect
        writes = writer.writes
        protected = [protect(p) for p in packets]
        sent = writer.send(protected)
        self.datagrams += sent
        self.writes += writer.writes - writes
        for datagram in protected[sent:]:
            transport.sendto(datagram, self._pair.remote_addr)  # the loop queues them
        return True

    def close(self) -> None:
        self.closed = True
        self._drop()

    def _current_writer(self) -> DatagramWriter | None:
        if self.closed:
            return None
        pair = self.dtls.transport._connection._nominated.get(_ICE_COMPONENT)
        if pair is None:
            return None
        if pair is not self._pair:
            self._drop()
            self._pair = pair
            self._open(pair)
        return self._writer

    def _open(self, pair: Any) -> None:
        if pair.local_candidate.type == "relay":
            return
        transport = pair.protocol.transport
        raw = transport.get_extra_info("socket") if transport is not None else None
        fd = raw.fileno() if raw is not None else -1
        if fd < 0:
            return
        self._sock = socket.socket(fileno=os.dup(fd))
        self._sock.setblocking(False)
        self._transport = transport
        self._writer = DatagramWriter(self._sock, pair.remote_addr)

    def _drop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = self._writer = self._transport = None
