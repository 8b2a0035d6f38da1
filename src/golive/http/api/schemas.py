"""Request and response bodies of the API (they are what the OpenAPI document describes)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

CHANNEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,31}$"
# A recording's id as golive makes it (record.storage_keys.RECORDING_ID_RE).
VOD_ID_PATTERN = r"^[A-Za-z0-9_-]{16,32}$"
Visibility = Literal["public", "unlisted", "private"]
RecordingStatus = Literal["recording", "ready", "failed"]
ClipPermission = Literal["everyone", "moderators"]
ClipStatus = Literal["ready", "failed"]
Scope = Literal["read", "write", "admin", "playback"]

_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _storable(value: str) -> str:
    # Control characters and lone surrogates (valid JSON escapes, but not UTF-8) are refused.
    if _UNSTORABLE.search(value):
        raise ValueError("must not contain control characters or lone surrogates")
    return value


PlainText = Annotated[str, AfterValidator(_storable)]
# A title: storable, without leading or trailing white space.
TrimmedText = Annotated[str, AfterValidator(_storable), AfterValidator(str.strip)]


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    is_admin: bool
    created_at: datetime


class UserCreate(BaseModel):
    username: str = Field(pattern=USERNAME_PATTERN, description="Unique login name.")
    display_name: PlainText = Field(default="", max_length=100)
    is_admin: bool = False


class MeOut(BaseModel):
    user: UserOut
    token_id: int
    scopes: list[Scope]


class ChannelOut(BaseModel):
    name: str
    title: str
    owner: str | None = Field(description="Owner's username; null: administrators only.")
    stream_key_hint: str = Field(description="First characters of the stream key.")
    created_at: datetime
    key_rotated_at: datetime
    live: bool
    watch_url: str
    record: bool = Field(
        description="Whether the channel's streams are recorded (the global `record` setting "
        "must be on too)."
    )
    retention_days: int | None = Field(
        description="Days the channel's recordings are kept (0: forever); null: the global "
        "record_retention_days."
    )
    retention_gb: float | None = Field(
        default=None,
        description="Size cap of the channel's finished recordings in GB (10^9 bytes): the "
        "oldest are deleted first while they weigh more; null: no cap of its own (the global "
        "record_retention_gb still counts them).",
    )
    visibility: Visibility = Field(
        description="public: listed; unlisted: not listed, watchable by URL; private: its "
        "live media, watch page and chat need the owner's (or an administrator's) browser "
        "session or a signed playback token (POST /playback-tokens). New recordings take it.",
    )
    clip_permission: ClipPermission = Field(
        default="everyone",
        description="Who may make clips: everyone (any signed-in viewer) or moderators (the "
        "owner, chat moderators and administrators).",
    )


class ChannelCreate(BaseModel):
    name: str = Field(pattern=CHANNEL_NAME_PATTERN)
    title: PlainText = Field(default="", max_length=200)
    owner: str | None = Field(
        default=None,
        pattern=USERNAME_PATTERN,
        description="Username of the owner (administrators only); default: the caller.",
    )


class ChannelUpdate(BaseModel):
    title: PlainText | None = Field(default=None, max_length=200)
    owner: str | None = Field(
        default=None, pattern=USERNAME_PATTERN, description="New owner (administrators only)."
    )
    record: bool | None = Field(
        default=None, description="Record the channel's next streams (the current one goes on)."
    )
    retention_days: int | None = Field(
        default=None,
        ge=0,
        le=100_000,
        description="Days to keep the channel's recordings (0: forever); an explicit null goes "
        "back to the global setting. Owners may only keep recordings for less than the global "
        "record_retention_days (when it is set); administrators as long as they like.",
    )
    retention_gb: float | None = Field(
        default=None,
        ge=0,
        le=1e9,
        description="Size cap of the channel's finished recordings in GB (10^9 bytes), oldest "
        "deleted first; 0: no cap of its own.",
    )
    visibility: Visibility | None = Field(
        default=None,
        description="public, unlisted or private (takes effect at once, for the live stream "
        "too; recordings already made keep theirs).",
    )
    clip_permission: ClipPermission | None = Field(
        default=None, description="Who may make clips: everyone or moderators."
    )


class VodOut(BaseModel):
    """A recording of a live session: a VOD once its status is ``ready``."""

    id: str
    channel: str
    title: str
    visibility: Visibility = Field(
        description="public: listed; unlisted: not listed, readable by id; private: the "
        "channel's owner and administrators only."
    )
    status: RecordingStatus = Field(
        description="recording: still being written; ready: a VOD; failed: nothing was stored."
    )
    started_at: datetime
    ended_at: datetime | None
    duration: float = Field(description="Seconds (the longest recorded rendition).")
    bytes: int
    views: int
    playlist_url: str = Field(description="The HLS VOD playlist.")
    dash_url: str = Field(description="The DASH manifest.")


ExportStatus = Literal["pending", "running", "ready", "failed"]


class Mp4ExportOut(BaseModel):
    """A VOD's MP4 download: made in the background from its source rendition (``ffmpeg -c
    copy``, no re-encode)."""

    status: ExportStatus = Field(
        description="pending: queued; running: being made; ready: `url` downloads it; "
        "failed: `error` says why (POST again to retry)."
    )
    progress: float = Field(ge=0, le=1, description="0..1, how far the remux has got.")
    size: int | None = Field(description="Bytes of the MP4 once ready.")
    url: str | None = Field(description="The download, once ready.")
    error: str | None = Field(default=None, description="Why the last attempt failed.")


class ReplayMessageOut(BaseModel):
    """A chat message of a VOD's live session, placed on the VOD's timeline."""

    id: str
    user: str = Field(description="The author's username.")
    display_name: str
    text: str
    t: float = Field(description="Seconds from the VOD's start at which it was sent.")


class ChatReplayOut(BaseModel):
    """Chat messages of a range of the VOD, oldest first (deleted ones and those of users
    banned in the channel left out); at most 500: ask again from the last one's ``t``."""

    messages: list[ReplayMessageOut]


class VodUpdate(BaseModel):
    title: TrimmedText | None = Field(default=None, max_length=200)
    visibility: Visibility | None = None


class StreamKeyOut(BaseModel):
    """A new stream key: shown once, only a hash is kept."""

    channel: ChannelOut
    stream_key: str
    rtmp_server: str
    rtmp_url: str


class StreamHealthOut(BaseModel):
    bitrate_bps: float = Field(description="Ingest bitrate over the last five seconds.")
    fps: float
    keyframe_interval: float | None = Field(description="Seconds between the last keyframes.")
    video_codec: str | None
    audio_codec: str | None
    width: int
    height: int
    audio_sample_rate: int
    frames: int
    bytes: int
    uptime: float = Field(description="Seconds since the stream started.")
    transcoder: str = Field(
        description='"passthrough", or "passthrough: <why>" when the stream\'s ladder was not '
        "encoded (e.g. max_transcoders reached), or the encoder's state, speed and renditions "
        '(e.g. "running 1.00x: 720p, 480p"), or "failed: <why>".'
    )


class LiveStreamOut(BaseModel):
    channel: str
    stream_id: str
    state: Literal["live", "reconnecting", "ended"]
    started_at: datetime
    publishes: int = Field(description="Publisher connections so far (reconnects + 1).")
    viewers: int | None = Field(
        description="Concurrent viewers: players that loaded a playlist in the last 30 s "
        "(see docs/viewers.md); null when the server does not count viewers."
    )
    peak_viewers: int | None = Field(
        description="The most concurrent viewers this stream has had; null when not counted."
    )
    health: StreamHealthOut


class TokenOut(BaseModel):
    id: int
    user: str
    name: str
    token_hint: str
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreate(BaseModel):
    name: PlainText = Field(default="", max_length=100)
    scopes: list[Scope] = Field(min_length=1, max_length=3)


class TokenCreated(BaseModel):
    token: TokenOut
    secret: str = Field(description="The token itself: shown once, only a hash is kept.")


class WebhookDeliveryOut(BaseModel):
    id: int
    event_id: str
    event: str
    channel: str | None
    url: str | None = Field(description="The receiver; null for channel owners.")
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    response_status: int | None
    error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    payload: str = Field(
        description="The JSON body sent, exactly as signed (for channel owners: without "
        "address fields such as remote_addr)."
    )


class PlaybackTokenCreate(BaseModel):
    """What a playback token opens: exactly one of ``channel``, ``vod`` and ``clip``."""

    channel: str | None = Field(
        default=None, pattern=CHANNEL_NAME_PATTERN, description="A channel's live media."
    )
    vod: str | None = Field(default=None, pattern=VOD_ID_PATTERN, description="A VOD's media.")
    clip: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="A clip's media."
    )
    ttl: int = Field(
        default=3600,
        ge=1,
        description="Seconds the token is valid (at most the playback_token_max_ttl setting, "
        "7 days by default).",
    )


class PlaybackTokenOut(BaseModel):
    """A signed playback URL prefix: ``/p/<token>/...`` plays the media until ``expires_at``,
    through any cache."""

    token: str
    expires_at: datetime
    playlist_url: str = Field(description="The HLS multivariant playlist through the token.")
    mpd_url: str | None = Field(description="The DASH MPD through the token (live and VOD).")


class ClipFromLive(BaseModel):
    duration: float = Field(default=30.0, description="Seconds, 5 to 60.")
    start_pdt: float | None = Field(
        default=None,
        description="Epoch seconds of the clip's start, inside the recorded DVR window; "
        "null: the last `duration` seconds stored.",
    )
    title: PlainText = Field(default="", max_length=200)


class ClipFromVod(BaseModel):
    start: float = Field(default=0.0, description="Seconds from the VOD's start.")
    duration: float = Field(default=30.0, description="Seconds, 5 to 60.")
    title: PlainText = Field(default="", max_length=200)


class ClipUpdate(BaseModel):
    title: PlainText = Field(max_length=200)


class ClipOut(BaseModel):
    """A clip: a copy of the recorded segments it covers (it outlives its VOD)."""

    id: str
    channel: str
    creator: str | None = Field(description="The creator's username; null once deleted.")
    title: str
    vod_id: str | None = Field(description="The VOD it was cut from; null once deleted.")
    start: float = Field(description="Seconds from the recording's start to the clip's start.")
    duration: float = Field(description="Seconds (cut on segment boundaries).")
    created_at: datetime
    views: int
    status: ClipStatus
    visibility: Visibility
    url: str = Field(description="The clip's page.")
    playlist_url: str = Field(description="The HLS playlist.")
    thumbnail_url: str
    download_url: str = Field(description="The MP4 (made in the background after the clip).")
