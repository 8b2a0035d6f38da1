"""WHIP ingest's place in the server: its settings as limits, the admission, stop.

``POST /live/whip`` (http/whip_endpoint.py) reaches ingest/whip's ``WhipSessions`` through
the ``WhipPublishing`` protocol; this module only builds it from the settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from golive.app.webrtc_playback import ice_servers
from golive.config import Settings
from golive.ingest.whip.whip_session import StreamSink, WhipLimits
from golive.ingest.whip.whip_sessions import WhipSessions
from golive.live.publish_admission import PublishAttempt

__all__ = ["whip_limits", "whip_sessions"]


def whip_limits(s: Settings) -> WhipLimits:
    # The same STUN/TURN servers as WebRTC playback: a server behind NAT learns its public
    # address from them for publishers too.
    return WhipLimits(max_sessions=s.whip_max_sessions, ice_servers=tuple(ice_servers(s)))


def whip_sessions(
    settings: Callable[[], Settings], admit: Callable[[PublishAttempt], Awaitable[StreamSink]]
) -> WhipSessions | None:
    """The WHIP sessions, or None when ``whip_max_sessions`` is 0 (WHIP off)."""
    if settings().whip_max_sessions <= 0:
        return None
    return WhipSessions(admit, lambda: whip_limits(settings()))
