"""Database tables, as SQLAlchemy 2 typed declarative models.

Schema changes go through an Alembic revision in ``golive/db/migrations/versions``; the
models are never used to create tables directly.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates
from sqlalchemy.types import TypeDecorator

CHANNEL_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

# Channels are watched at /<name>, so names that top-level HTTP routes use (or are likely to
# use) would shadow them or be shadowed.
RESERVED_CHANNEL_NAMES = frozenset(
    {
        "admin",
        "api",
        "assets",
        "chat",
        "clip",
        "clips",
        "dashboard",
        "docs",
        "embed",
        "health",
        "healthz",
        "hls",
        "live",
        "login",
        "logout",
        "metrics",
        "openapi",
        "redoc",
        "signup",
        "static",
        "vod",
        "videos",
        "vods",
        "watch",
        "web",
        "whep",
        "whip",  # POST /live/whip is WHIP ingest, not a channel's media
        "ws",
    }
)

STREAM_KEY_HINT_LENGTH = 4

VISIBILITIES = ("public", "unlisted", "private")
PRIVATE = "private"

# Stable constraint names make later migrations (and SQLite batch mode) able to refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def is_valid_channel_name(name: str) -> bool:
    """Whether ``name`` matches the channel name pattern and is not reserved."""
    return CHANNEL_NAME_RE.fullmatch(name) is not None and name not in RESERVED_CHANNEL_NAMES


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and always read back timezone-aware.

    SQLite has no timezone-aware type, so without this the same column would come back naive
    on SQLite and aware on PostgreSQL.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base shared by every golive table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Channel(Base):
    """A channel: a name viewers watch and the stream key that lets one publisher feed it.

    Only a SHA-256 hash of the stream key is stored; ``stream_key_hint`` keeps a few leading
    characters so an operator can tell keys apart in listings and logs.
    """

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="", server_default="")
    category: Mapped[str] = mapped_column(String(60), default="", server_default="")
    # Seconds a chatter waits between messages (0: off); owner and moderators are exempt.
    chat_slow_mode: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    stream_key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    stream_key_hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the current key was issued: equal to created_at until the first rotation.
    key_rotated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The user who may manage the channel through the API; None: administrators only.
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True, default=None
    )
    # Whether the channel's streams are recorded (the global `record` setting must be on too).
    record: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # Days its recordings are kept (0: forever); None: the global record_retention_days.
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True, default=None)
    # Size cap of its finished recordings in GB (10^9 bytes), oldest deleted first; None: no
    # cap of its own (the global record_retention_gb still counts them).
    retention_gb: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    # public: listed; unlisted: not listed, watchable by URL; private: the owner's (or an
    # administrator's) browser session or a signed playback token. New recordings inherit it.
    visibility: Mapped[str] = mapped_column(String(16), default="public", server_default="public")
    # Who may clip its streams and VODs: CLIP_EVERYONE (signed-in viewers) or CLIP_MODERATORS.
    clip_permission: Mapped[str] = mapped_column(
        String(16), default="everyone", server_default="everyone"
    )

    @validates("name")
    def _validate_name(self, _key: str, name: str) -> str:
        if not is_valid_channel_name(name):
            raise ValueError(f"invalid channel name {name!r}")
        return name

    @property
    def masked_key(self) -> str:
        """The key hint followed by an ellipsis, safe to display or log."""
        return f"{self.stream_key_hint}…"

    def __repr__(self) -> str:
        return f"Channel(id={self.id!r}, name={self.name!r}, key={self.masked_key!r})"


USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")


class User(Base):
    """Someone who owns channels and holds API tokens; administrators see everything."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # For the web sign-in of a later version; API access uses tokens only.
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, username={self.username!r}, admin={self.is_admin!r})"


class ApiToken(Base):
    """A personal API token: only its SHA-256 is stored, with a hint to tell tokens apart."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_hint: Mapped[str] = mapped_column(String(16))
    # Space-separated subset of "read write admin playback".
    scopes: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebhookDelivery(Base):
    """One webhook event and how its delivery went (the delivery log)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    # The channel itself (its name may be reused after a delete); None once it is deleted.
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="SET NULL"), nullable=True, index=True, default=None
    )
    url: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[str] = mapped_column(Text)
    # pending, delivered, failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebSession(Base):
    """A signed-in browser: only the SHA-256 of the cookie's random id is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChatMessage(Base):
    """One chat message, kept with the live stream's media time it was sent at."""

    __tablename__ = "chat_messages"
    # Chat replay reads a stream's messages by media time (migration 0011).
    __table_args__ = (Index("ix_chat_messages_stream_id_media_time", "stream_id", "media_time"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    # Server epoch milliseconds: 64-bit (migration 0013); SQLite's INTEGER already is.
    sent_at_ms: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    stream_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    media_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class ChatModerator(Base):
    """A user the channel's owner appointed to moderate its chat."""

    __tablename__ = "chat_moderators"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class ChatBan(Base):
    """A user who may not chat in a channel: for good (``until`` None) or until a time."""

    __tablename__ = "chat_bans"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    by_user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class InviteCode(Base):
    """A one-use code that lets someone sign up when ``signup`` is ``invite``; only its
    SHA-256 is stored, like stream keys and API tokens."""

    __tablename__ = "invite_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    used_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )


# Recording statuses: being written; complete (a VOD); nothing could be stored.
RECORDING_ACTIVE = "recording"
RECORDING_READY = "ready"
RECORDING_FAILED = "failed"


class Recording(Base):
    """One recorded live session (a stream across its publisher reconnects): the VOD to be."""

    __tablename__ = "recordings"

    # Random and URL-safe: it names the recording's objects in storage and its URLs.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The channel itself (a name may be reused after a delete); None once it is deleted.
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="SET NULL"), nullable=True, index=True, default=None
    )
    channel: Mapped[str] = mapped_column(String(32), index=True)
    # The live stream's id (StreamHub.stream_id): a resumed stream continues its recording.
    stream_id: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # public, unlisted, private
    visibility: Mapped[str] = mapped_column(String(16), default="public", server_default="public")
    status: Mapped[str] = mapped_column(String(16), default=RECORDING_ACTIVE, index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    duration: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Times the VOD was watched (counted by the VOD player's side, not by the API).
    views: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The fencing token of the publish lease whose node writes it (0 in a single process):
    # writes carrying a smaller token are refused (a node that lost the channel).
    fence_token: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class RecordingSegment(Base):
    """One stored CMAF segment of one rendition of a recording, in the recording's order.

    ``sequence`` is the recording's own count per rendition, continuous across publisher
    reconnects; ``gap_before`` says segments before this one were lost (storage down for
    longer than the buffer holds); ``discontinuity`` that a new timeline starts here.
    """

    __tablename__ = "recording_segments"
    __table_args__ = (UniqueConstraint("recording_id", "rendition", "sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    rendition: Mapped[str] = mapped_column(String(32))
    sequence: Mapped[int] = mapped_column(Integer)
    # Presentation time of the first frame, in the rendition's track timescale.
    media_start: Mapped[int] = mapped_column(BigInteger)
    timescale: Mapped[int] = mapped_column(Integer)
    duration: Mapped[float] = mapped_column(Float)  # seconds
    byte_size: Mapped[int] = mapped_column(Integer)
    program_date_time: Mapped[float] = mapped_column(Float)  # seconds since the epoch
    storage_key: Mapped[str] = mapped_column(String(200))
    init_key: Mapped[str] = mapped_column(String(200))
    discontinuity: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    gap_before: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


EXPORT_PENDING = "pending"
EXPORT_RUNNING = "running"
EXPORT_READY = "ready"
EXPORT_FAILED = "failed"


class VodExport(Base):
    """The MP4 download of a VOD (``record/mp4_export.py`` makes it): one row per VOD, its
    latest attempt. ``progress`` is 0..1 (written every few seconds while it runs)."""

    __tablename__ = "vod_exports"

    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), default=EXPORT_PENDING)
    progress: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    size: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    error: Mapped[str] = mapped_column(String(500), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# Who may make clips of a channel: any signed-in viewer, or its owner, chat moderators and
# administrators ("followers" comes later).
CLIP_EVERYONE = "everyone"
CLIP_MODERATORS = "moderators"
CLIP_PERMISSIONS = (CLIP_EVERYONE, CLIP_MODERATORS)
# A clip's status: its segments copied and its playlists stored (it plays); or the copy failed.
CLIP_READY = "ready"
CLIP_FAILED = "failed"


class Clip(Base):
    """A short piece of a recording, kept as a copy of the segments it covers (its own
    objects under ``clips/<id>/``): the recording may expire or be deleted, the clip stays."""

    __tablename__ = "clips"

    # Random and URL-safe, like a recording's: it names the clip's objects and URLs.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The recording it was cut from; None once that recording is deleted.
    recording_id: Mapped[str | None] = mapped_column(
        ForeignKey("recordings.id", ondelete="SET NULL"), nullable=True, index=True
    )
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="SET NULL"), nullable=True, index=True, default=None
    )
    channel: Mapped[str] = mapped_column(String(32), index=True)
    creator_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    title: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # That of the VOD it was cut from when it was made (a live clip: public).
    visibility: Mapped[str] = mapped_column(String(16), default="public", server_default="public")
    # Seconds from the recording's start to the clip's first segment, and the clip's length.
    start: Mapped[float] = mapped_column(Float)
    duration: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    views: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16), default=CLIP_READY)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Its MP4 download (record/mp4_export.py): "" (none asked), pending, running, ready, failed.
    export_status: Mapped[str] = mapped_column(String(16), default="", server_default="")
    export_progress: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    export_size: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    export_error: Mapped[str] = mapped_column(String(500), default="", server_default="")


class RestreamDestination(Base):
    """Where a channel's live stream is also sent (restream): an RTMP(S) server URL and a
    stream key, kept encrypted (db/restream_destinations.py), never shown back whole."""

    __tablename__ = "restream_destinations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64), default="", server_default="")
    url: Mapped[str] = mapped_column(String(512))
    key_encrypted: Mapped[str] = mapped_column(Text)
    key_hint: Mapped[str] = mapped_column(String(16), default="", server_default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
