"""SRT ingest's place in the server: its settings as listener limits, start and stop.

The listener (ingest/srt/listener.py) binds one UDP port through libsrt. Only one process can
own it, so under ``--workers`` worker_processes.py gives the port to the first worker only
(the others run with ``srt_port = 0``). A missing libsrt or a port that cannot be bound is
logged as an error and the server runs on without SRT: RTMP publishers are not cut off
because an optional ingest could not start.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from golive.config import Settings
from golive.ingest.srt.admission_answer import srt_authorizer, srt_checker
from golive.ingest.srt.libsrt import SrtError, SrtUnavailable
from golive.ingest.srt.listener import SrtLimits, SrtServer, StreamSink
from golive.live.publish_admission import PublishAttempt

__all__ = ["SrtIngest", "srt_limits"]

log = logging.getLogger("golive")


def srt_limits(s: Settings) -> SrtLimits:
    return SrtLimits(
        latency_ms=s.srt_latency_ms,
        passphrase=s.srt_passphrase,
        max_connections=s.srt_max_connections,
    )


class SrtIngest:
    def __init__(
        self,
        settings: Settings,
        check: Callable[[PublishAttempt], Awaitable[None]],
        admit: Callable[[PublishAttempt], Awaitable[StreamSink]],
    ) -> None:
        """``check`` and ``admit``: ``PublishAdmission.check`` (in the handshake) and
        ``.admit`` (once connected)."""
        self._settings = settings
        self._check = check
        self._admit = admit
        self.server: SrtServer | None = None

    @property
    def port(self) -> int:
        """The bound UDP port; 0 when SRT ingest is off."""
        return self.server.port if self.server is not None else 0

    @property
    def connection_count(self) -> int:
        return self.server.connection_count if self.server is not None else 0

    async def start(self) -> None:
        s = self._settings
        if s.srt_port == 0:
            log.info("SRT ingest is off (srt_port = 0)")
            return
        server = SrtServer(srt_checker(self._check), srt_authorizer(self._admit), srt_limits(s))
        try:
            await server.start(s.host, s.srt_port)
        except SrtUnavailable as exc:
            log.error("SRT ingest is off: %s", exc)
            return
        except SrtError as exc:
            log.error("SRT ingest is off: cannot listen on UDP port %d: %s", s.srt_port, exc)
            return
        self.server = server

    def stop_listening(self) -> None:
        if self.server is not None:
            self.server.stop_listening()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
