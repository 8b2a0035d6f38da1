"""This node's WHEP sessions: the viewer cap, the connect deadline, and closing them.

Each session counts against ``max_viewers`` from its offer on (an unconnected one costs as
much as a connected one). A session that has not connected ``connect_timeout`` seconds
after its offer, or whose connection failed, is closed and forgotten, its peer connection
with it. Each sweep tells ``watching`` of every connected session (the node counts it as a
viewer, as it does an HLS player's playlist requests). The clock is injected; ``sweep`` is
what a timer calls.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Sequence

from aiortc import RTCConfiguration, RTCIceServer

from golive.webrtc.connect_deadlines import ConnectDeadlines
from golive.webrtc.sdp_offer import OfferRefused, check_offer
from golive.webrtc.whep_session import WhepSession
from golive.webrtc.whep_source import WhepSource

__all__ = ["SWEEP_INTERVAL", "ViewersFull", "WhepSessions"]

log = logging.getLogger("golive.webrtc")

SWEEP_INTERVAL = 1.0


class ViewersFull(Exception):
    """The node has ``max_viewers`` WebRTC viewers."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"this server has its maximum of {limit} WebRTC viewers; try later")
        self.limit = limit


class WhepSessions:
    def __init__(
        self,
        *,
        max_viewers: int,
        connect_timeout: float,
        ice_servers: Sequence[RTCIceServer] = (),
        clock: Callable[[], float] = time.monotonic,
        watching: Callable[[WhepSession], None] = lambda session: None,
    ) -> None:
        self.max_viewers = max_viewers
        self._watching = watching
        self.ice_servers = list(ice_servers)
        self._clock = clock
        self._deadlines = ConnectDeadlines(connect_timeout)
        self._sessions: dict[str, WhepSession] = {}
        self._opening = 0
        self._watched: set[int] = set()
        self._tasks: set[asyncio.Task[bool]] = set()
        self.expired = 0  # sessions closed for not connecting in time (a metric)

    @property
    def connect_timeout(self) -> float:
        return self._deadlines.timeout

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str) -> WhepSession | None:
        return self._sessions.get(session_id)

    def for_channel(self, channel: str) -> list[WhepSession]:
        return [s for s in self._sessions.values() if s.channel == channel]

    async def open(self, source: WhepSource, body: bytes) -> WhepSession:
        """A new session answering the offer in ``body``.

        Raises OfferRefused (the offer, or the stream cannot be played: its status says
        which) or ViewersFull.
        """
        offer = check_offer(body)
        if len(self._sessions) + self._opening >= self.max_viewers:
            raise ViewersFull(self.max_viewers)
        reason = source.unavailable()
        if reason is not None:
            raise OfferRefused(409, f"channel {source.channel}: {reason}")
        session_id = secrets.token_urlsafe(16)
        self._opening += 1
        try:
            session = await WhepSession.answer_offer(
                session_id,
                source,
                offer,
                RTCConfiguration(iceServers=self.ice_servers or None),
                self._state_changed,
            )
        finally:
            self._opening -= 1
        self._sessions[session_id] = session
        self._deadlines.opened(session_id, self._clock())
        if id(source) not in self._watched:
            self._watched.add(id(source))
            source.add_end_listener(lambda: self._source_ended(source))
        log.info(
            "WHEP session %s opened on %s (%s; %d WebRTC viewers)",
            session_id,
            source.channel,
            session.feed,
            len(self._sessions),
        )
        return session

    async def close(self, session_id: str) -> bool:
        """End a session (the viewer's DELETE); False when there is no such session."""
        session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        self._deadlines.forget(session_id)
        await session.close()
        log.info("WHEP session %s on %s closed", session_id, session.channel)
        return True

    def sweep(self) -> list[str]:
        """Close the sessions past their connect deadline, and the failed ones."""
        late = self._deadlines.expired(self._clock())
        for session_id in late:
            session = self._sessions.get(session_id)
            if session is not None:
                self.expired += 1
                log.warning(
                    "WHEP session %s on %s did not connect within %g s: closed",
                    session_id,
                    session.channel,
                    self.connect_timeout,
                )
                self._close_soon(session_id)
        for session in list(self._sessions.values()):
            if session.gone:
                self._close_soon(session.id)
            elif session.viewer.ready:
                self._watching(session)  # still watching: counted as a viewer
        return late

    def counts(self) -> tuple[int, int]:
        """Sessions connecting (offered, not connected yet) and connected."""
        connected = sum(1 for s in self._sessions.values() if s.viewer.ready)
        return len(self._sessions) - connected, connected

    async def run(self, interval: float = SWEEP_INTERVAL) -> None:
        """Sweep until cancelled."""
        while True:
            await asyncio.sleep(interval)
            self.sweep()

    async def close_all(self) -> None:
        for session_id in list(self._sessions):
            await self.close(session_id)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _state_changed(self, session: WhepSession, state: str) -> None:
        if state == "connected":
            self._deadlines.connected(session.id)
            session.viewer.ready = True
            log.info("WHEP session %s on %s connected", session.id, session.channel)
        elif state in ("failed", "closed"):
            self._close_soon(session.id)

    def _source_ended(self, source: WhepSource) -> None:
        self._watched.discard(id(source))
        for session in list(self._sessions.values()):
            if session.source is source:
                self._close_soon(session.id)

    def _close_soon(self, session_id: str) -> None:
        if session_id not in self._sessions:
            return
        task = asyncio.get_running_loop().create_task(self.close(session_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
