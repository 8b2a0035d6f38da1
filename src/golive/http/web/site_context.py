"""What the site's pages and JSON endpoints work with, handed in by app.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from golive.accounts.attempt_store import AttemptCounter
from golive.accounts.login_rate_limit import LoginRateLimit
from golive.accounts.web_sessions import BrowserSessions
from golive.clip_requests import ClipRequests
from golive.config import Settings
from golive.db.channels import ChannelStore
from golive.db.chat_replay import ChatReplay
from golive.db.invites import InviteStore
from golive.db.recordings import RecordingStore
from golive.db.restream_destinations import RestreamDestinationStore
from golive.db.users import UserStore
from golive.db.vod_views import VodViews
from golive.http.api.restream_status import RestreamLive
from golive.http.api.services import LiveStreamInfo, Mp4Exports

__all__ = ["LiveStreamsView", "VodSite", "WebContext"]


class LiveStreamsView(Protocol):
    """The live streams, as the site reads and stops them (the API's ``LiveStreams`` fits)."""

    def list(self) -> list[LiveStreamInfo]: ...

    def get(self, channel: str) -> LiveStreamInfo | None: ...

    def stop(self, channel: str, reason: str, *, end: bool) -> bool: ...


@dataclass(frozen=True, slots=True)
class VodSite:
    """What the VOD pages use: the recordings' index, chat replay, the view counter, the MP4
    exports."""

    recordings: RecordingStore
    chat_replay: ChatReplay
    views: VodViews
    exports: Mp4Exports | None = None


@dataclass(frozen=True, slots=True)
class WebContext:
    """Stores, live view, settings and limits shared by the site's routes."""

    channels: ChannelStore
    users: UserStore
    sessions: BrowserSessions
    live: LiveStreamsView
    settings: Callable[[], Settings]
    # The RTMP server URL streamers put into OBS (without the key).
    ingest_url: Callable[[], str]
    login_limit: LoginRateLimit
    signup_limit: AttemptCounter
    max_channels_per_user: int
    # Where invite codes are checked when the signup setting is "invite".
    invites: InviteStore | None = None
    # Called after a channel's visibility changed (the origin's in-memory map of them).
    channels_changed: Callable[[], Awaitable[None]] | None = None
    # The VOD pages (past broadcasts, the VOD player, chat replay); None: no recordings.
    vods: VodSite | None = None
    # Making clips and reading them (None: no recordings, so no clips).
    clips: ClipRequests | None = None
    # Restream destinations and their live status (None: not available).
    restreams: RestreamDestinationStore | None = None
    restream_live: RestreamLive | None = None

    def trusted_origins(self) -> tuple[str, ...]:
        """Origins accepted besides the request's own host: the configured public URL."""
        url = self.settings().public_url
        return (url,) if url else ()
