"""A stream's RTP packets handed to its viewers' sinks, in order, from one task per stream.

The packets of an access unit (or of a few Opus frames) are a ``RtpBatch``, made once; each
viewer's sink only encrypts and sends them (``RtpSink``, see rtp_outlet.py). Viewers whose
browser numbered the codec differently get a copy with their payload type, made once per
number, not once per viewer. One task per stream sends a batch to every sink before the next
batch: a viewer's send is SRTP and a UDP write, which never waits, so a per-viewer task would
only add wake-ups. It yields to the event loop every ``YIELD_EVERY`` packets, so a keyframe
for hundreds of viewers (tens of milliseconds of sending) does not hold up everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from golive.webrtc.rtp_packetizer import with_payload_type

__all__ = ["RtpBatch", "RtpFanout", "RtpSink"]

log = logging.getLogger("golive.webrtc")

# About 5 ms of sending (10 us a packet) between yields to the event loop.
YIELD_EVERY = 500


@dataclass(eq=False, slots=True)
class RtpBatch:
    """Packets made once for every viewer of a stream; ``timestamp`` is the RTP timestamp
    of the last one and ``ntp`` the wall-clock time (64-bit NTP) it maps to, for sender
    reports."""

    packets: list[bytes]
    payload_type: int
    timestamp: int
    ntp: int
    payload_bytes: int
    _by_type: dict[int, list[bytes]] = field(default_factory=dict)

    def for_payload_type(self, payload_type: int) -> list[bytes]:
        if payload_type == self.payload_type:
            return self.packets
        packets = self._by_type.get(payload_type)
        if packets is None:
            packets = [with_payload_type(p, payload_type) for p in self.packets]
            self._by_type[payload_type] = packets
        return packets


class RtpSink(Protocol):
    """One viewer's way out for one kind of media."""

    @property
    def closed(self) -> bool: ...

    async def send(self, batch: RtpBatch) -> None: ...

    def close(self) -> None: ...


class RtpFanout:
    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._queue: deque[tuple[RtpBatch, Sequence[RtpSink]]] = deque()
        self._task: asyncio.Task[None] | None = None

    @property
    def backlog(self) -> int:
        """Batches not sent yet (more than a few: the node is out of CPU)."""
        return len(self._queue)

    def push(self, batch: RtpBatch, sinks: Sequence[RtpSink]) -> None:
        if not sinks:
            return
        self._queue.append((batch, sinks))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def clear(self) -> None:
        self._queue.clear()

    async def flushed(self) -> None:
        """Wait until every batch pushed so far is sent."""
        while self._task is not None and not self._task.done():
            await asyncio.wait([self._task])

    async def close(self) -> None:
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        queue = self._queue
        sent = 0
        while queue:
            batch, sinks = queue.popleft()
            size = len(batch.packets)
            for sink in sinks:
                if sink.closed:
                    continue
                try:
                    await sink.send(batch)
                except Exception:
                    # One viewer's failure is its own: it stops getting media, others do not.
                    log.exception("%s: sending RTP to a WebRTC viewer failed", self.channel)
                    sink.close()
                sent += size
                if sent >= YIELD_EVERY:
                    sent = 0
                    await asyncio.sleep(0)
