"""What the API works on: stores, the live streams and settings, handed in by app.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from golive.accounts.api_rate_limit import ApiRateLimit
from golive.accounts.playback_tokens import PlaybackTokens
from golive.chat.chat_service import ChatService
from golive.clip_requests import ClipRequests
from golive.config import Settings
from golive.db.api_tokens import ApiTokenStore
from golive.db.channels import ChannelStore
from golive.db.chat_replay import ChatReplay
from golive.db.chat_store import ChatStore
from golive.db.recordings import RecordingStore
from golive.db.restream_destinations import RestreamDestinationStore
from golive.db.users import UserStore
from golive.db.webhook_deliveries import WebhookDeliveryLog
from golive.http.api.restream_status import RestreamLive
from golive.store.object_store import ObjectStore


@dataclass(frozen=True, slots=True)
class LiveStreamInfo:
    """A live stream as the API shows it (built from the live layer by app.py's adapter)."""

    channel: str
    stream_id: str
    state: str
    started_at: float  # epoch seconds
    publishes: int
    viewers: int | None
    peak_viewers: int | None
    health: dict[str, float | int | str | None]
    dvr: bool = False  # the stream has a DVR playlist (/live/<channel>/dvr.m3u8)
    dvr_from: float | None = None  # epoch seconds: the oldest media the DVR playlist lists


class LiveStreams(Protocol):
    """The live layer, seen from the API."""

    def list(self) -> list[LiveStreamInfo]: ...

    def get(self, channel: str) -> LiveStreamInfo | None: ...

    def stop(self, channel: str, reason: str, *, end: bool) -> bool:
        """Disconnect the publisher; with ``end`` the stream ends at once (no grace)."""
        ...


class ClipChannels(Protocol):
    """The clips, as playback tokens need them (the clips' store provides it)."""

    async def channel_of(self, clip_id: str) -> str | None:
        """The name of the channel a clip was made from; None: no such clip."""
        ...


class ExportView(Protocol):
    """The state of a VOD's MP4 export."""

    @property
    def status(self) -> str: ...
    @property
    def progress(self) -> float: ...
    @property
    def size(self) -> int: ...
    @property
    def error(self) -> str: ...


class Mp4Exports(Protocol):
    """The VODs' MP4 downloads (``record/mp4_export.py``, adapted by app.py)."""

    async def start(self, recording_id: str, duration: float) -> ExportView | None:
        """Start an export unless one is waiting, running or ready: the current state; None
        if too many are waiting."""
        ...

    async def state(self, recording_id: str) -> ExportView | None: ...


@dataclass(frozen=True, slots=True)
class ApiServices:
    channels: ChannelStore
    users: UserStore
    tokens: ApiTokenStore
    deliveries: WebhookDeliveryLog
    live: LiveStreams
    settings: Callable[[], Settings]
    chat: ChatService | None = None
    chat_store: ChatStore | None = None
    # The recordings' index and the object store their segments are in (None: no recordings).
    recordings: RecordingStore | None = None
    recording_objects: ObjectStore | None = None
    mp4_exports: Mp4Exports | None = None
    # Signs playback tokens (POST /playback-tokens); None: the endpoint answers not_found.
    playback_tokens: PlaybackTokens | None = None
    # Called after a channel's visibility or owner changed (the origin's in-memory map).
    channels_changed: Callable[[], Awaitable[None]] | None = None
    # Which channel a clip belongs to (playback tokens for clips).
    clip_channels: ClipChannels | None = None
    # Requests per token and unknown tokens per address (None: no limit, as in unit tests).
    rate_limit: ApiRateLimit | None = None
    # Chat replay of VODs (None: no recordings).
    chat_replay: ChatReplay | None = None
    # Making and managing clips (None: no recordings, so no clips).
    clips: ClipRequests | None = None
    clip_exports: Mp4Exports | None = None
    # Restream destinations (stored) and their live status (None: not available).
    restreams: RestreamDestinationStore | None = None
    restream_live: RestreamLive | None = None
