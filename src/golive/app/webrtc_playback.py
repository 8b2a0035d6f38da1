"""WebRTC playback (WHEP) wired: a WhepSource per live stream, the node's sessions, and the
``WhepPlayback`` protocol the HTTP endpoint calls (http/whep_endpoint.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

from aiortc import RTCIceServer

from golive.config import Settings
from golive.http.whep_endpoint import WhepAnswer, WhepRefusal
from golive.live.hub import StreamHub
from golive.store.viewer_sessions import ViewerSessions
from golive.webrtc.rendition_tee import RenditionTarget, RenditionTee
from golive.webrtc.rtp_outlet import check_aiortc
from golive.webrtc.sdp_offer import OfferRefused
from golive.webrtc.whep_session import WhepSession
from golive.webrtc.whep_sessions import ViewersFull, WhepSessions
from golive.webrtc.whep_source import SOURCE, WhepSource

__all__ = ["KEYFRAME_HEADER", "SOURCE_HEADER", "START_HEADER", "WebrtcPlayback"]

log = logging.getLogger("golive.webrtc")

SOURCE_HEADER = "x-golive-webrtc-source"
START_HEADER = "x-golive-webrtc-start"
KEYFRAME_HEADER = "x-golive-webrtc-keyframe-interval"
# The prefix of a WebRTC viewer's session id in the viewer count (HLS players': "c:", "a:").
WHEP_VIEWER = "w:"
# Seconds a viewer refused for the cap is asked to wait.
FULL_RETRY_AFTER = 10


def ice_servers(settings: Settings) -> list[RTCIceServer]:
    servers = []
    for url in settings.webrtc_ice_servers:
        if url.startswith("turn"):
            servers.append(
                RTCIceServer(
                    urls=url,
                    username=settings.webrtc_turn_username or None,
                    credential=settings.webrtc_turn_credential or None,
                )
            )
        else:
            servers.append(RTCIceServer(urls=url))
    return servers


class WebrtcPlayback:
    def __init__(self, settings: Settings, viewers: ViewerSessions) -> None:
        if settings.whep_max_viewers > 0:
            check_aiortc()  # the RTP fan-out uses aiortc internals: refuse to start without
        self.sessions = WhepSessions(
            max_viewers=settings.whep_max_viewers,
            connect_timeout=settings.whep_connect_timeout,
            ice_servers=ice_servers(settings),
            watching=self._watching,
        )
        self._viewers = viewers
        # Channel -> its stream's WebRTC source and the stream's id (for the viewer count).
        self._sources: dict[str, tuple[WhepSource, str]] = {}
        # The Opus encodes of every stream, off the event loop.
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="golive-opus")
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.sessions.max_viewers > 0

    # -- per stream ------------------------------------------------------------------------

    def source_for(self, hub: StreamHub) -> WhepSource:
        """The stream's WebRTC source, a consumer of its hub."""
        source = WhepSource(hub.channel, executor=self._executor, log_extra=hub.log_extra)
        self._sources[hub.channel] = (source, hub.stream_id)

        def ended() -> None:
            if self._sources.get(hub.channel, (None,))[0] is source:
                del self._sources[hub.channel]

        source.add_end_listener(ended)
        return source

    @staticmethod
    def rendition_outputs(source: WhepSource, packager: RenditionTarget) -> RenditionTee:
        """Where the transcoder's renditions go: the packager, and the WebRTC source."""
        return RenditionTee(packager, source)

    def _watching(self, session: WhepSession) -> None:
        # A WebRTC viewer counts as an HLS player does, under a session id of its own kind.
        live = self._sources.get(session.channel)
        if live is not None and live[0] is session.source:
            self._viewers.seen(session.channel, live[1], WHEP_VIEWER + session.id)

    def _live_source(self, channel: str) -> WhepSource | None:
        live = self._sources.get(channel)
        return None if live is None or live[0].ended else live[0]

    # -- WhepPlayback ----------------------------------------------------------------------

    async def offer(self, channel: str, body: bytes, client: str) -> WhepAnswer:
        if not self.enabled:
            raise WhepRefusal(404, "WebRTC playback is off on this server (whep_max_viewers = 0)")
        source = self._live_source(channel)
        if source is None:
            raise WhepRefusal(404, f"channel {channel} is not live")
        try:
            session = await self.sessions.open(source, body)
        except OfferRefused as refused:
            raise WhepRefusal(refused.status, refused.message) from None
        except ViewersFull as full:
            raise WhepRefusal(503, str(full), retry_after=FULL_RETRY_AFTER) from None
        described = session.feed
        if session.feed != SOURCE:
            described = f"{session.feed} ({source.why_not_source})"
        headers = {SOURCE_HEADER: described, START_HEADER: "next-keyframe"}
        interval = source.keyframe_interval
        if interval is not None:
            headers[KEYFRAME_HEADER] = f"{interval:.2f}"
        return WhepAnswer(session.id, session.answer, headers)

    def serves(self, channel: str) -> bool:
        return self._live_source(channel) is not None

    async def end(self, channel: str, session: str) -> bool:
        found = self.sessions.get(session)
        if found is None or found.channel != channel:
            return False
        return await self.sessions.close(session)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self.sessions.run())

    async def close(self) -> None:
        """Close every peer connection (at stop)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.sessions.close_all()
        self._executor.shutdown(wait=False, cancel_futures=True)
