"""Channels and their stream keys."""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
from collections.abc import Collection

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from golive.db.models import (
    CHANNEL_NAME_RE,
    CLIP_PERMISSIONS,
    RESERVED_CHANNEL_NAMES,
    STREAM_KEY_HINT_LENGTH,
    VISIBILITIES,
    Channel,
    utcnow,
)

STREAM_KEY_PREFIX = "live_"
MIN_STREAM_KEY_LENGTH = 32
MAX_STREAM_KEY_LENGTH = 128
# The key travels as the last path element of an RTMP URL, so only URL-safe characters.
STREAM_KEY_RE = re.compile(r"[A-Za-z0-9._~-]+")
DEMO_CHANNEL = "demo"


class ChannelError(Exception):
    """Base class for the channel store's errors; ``str()`` is a one-line message for users."""


class ChannelExists(ChannelError):
    """A channel with that name already exists."""


class ChannelNotFound(ChannelError, LookupError):
    """No channel has that name."""


class InvalidChannelName(ChannelError, ValueError):
    """The name does not match the channel name pattern or is reserved."""


class InvalidStreamKey(ChannelError, ValueError):
    """A caller-chosen stream key is too short, has unsafe characters or is already in use."""


def generate_stream_key() -> str:
    """A new random stream key: ``live_`` and 192 random bits, URL-safe."""
    return STREAM_KEY_PREFIX + secrets.token_urlsafe(24)


def hash_stream_key(key: str) -> str:
    """The hex SHA-256 of a key, as stored.

    A plain fast hash is enough because generated keys carry far more entropy than anyone
    could search; a salted slow hash would also make lookup by hash impossible.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def stream_key_hint(key: str) -> str:
    """The displayable start of a key: the first four characters after any ``live_`` prefix."""
    prefix = STREAM_KEY_PREFIX if key.startswith(STREAM_KEY_PREFIX) else ""
    return key[: len(prefix) + STREAM_KEY_HINT_LENGTH]


def check_channel_name(name: str) -> str:
    """Return ``name`` if it is a valid channel name, else raise InvalidChannelName."""
    if CHANNEL_NAME_RE.fullmatch(name) is None:
        raise InvalidChannelName(
            f"invalid channel name {name!r}: use 1-32 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    if name in RESERVED_CHANNEL_NAMES:
        raise InvalidChannelName(f"channel name {name!r} is reserved")
    return name


def check_stream_key(key: str) -> str:
    """Return a caller-chosen ``key`` if it is acceptable, else raise InvalidStreamKey."""
    if len(key) < MIN_STREAM_KEY_LENGTH:
        raise InvalidStreamKey(
            f"stream key is {len(key)} characters; a stream key set by hand must be at least "
            f"{MIN_STREAM_KEY_LENGTH} (leave it out to get a random one)"
        )
    if len(key) > MAX_STREAM_KEY_LENGTH:
        raise InvalidStreamKey(f"stream key must be at most {MAX_STREAM_KEY_LENGTH} characters")
    if STREAM_KEY_RE.fullmatch(key) is None:
        raise InvalidStreamKey("stream key may only contain letters, digits, '-', '_', '.' and '~'")
    return key


class ChannelStore:
    """Creates, lists and looks up channels, and checks stream keys.

    Returned Channel objects are detached from their session, so they can be read freely
    after the call but changes to them are not saved.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def add(
        self, name: str, key: str | None = None, *, title: str = "", owner_id: int | None = None
    ) -> tuple[Channel, str]:
        """Create a channel; return it with its stream key (generated unless ``key`` is given).

        The key is returned only here: the database keeps just its hash.
        """
        check_channel_name(name)
        key = generate_stream_key() if key is None else check_stream_key(key)
        key_hash = hash_stream_key(key)
        now = utcnow()
        channel = Channel(
            name=name,
            title=title,
            stream_key_hash=key_hash,
            stream_key_hint=stream_key_hint(key),
            created_at=now,
            key_rotated_at=now,
            owner_id=owner_id,
        )
        # Insert first and let the unique constraints decide: checking before inserting would
        # race, and in SQLite's WAL mode a transaction that reads before it writes can fail
        # with "database is locked" instead of waiting for a concurrent writer.
        try:
            async with self._sessionmaker() as session, session.begin():
                session.add(channel)
                await session.flush()
                # Detached before commit so a sessionmaker that expires on commit cannot
                # leave the caller with an unloadable object.
                session.expunge(channel)
        except IntegrityError as exc:
            if await self.get(name) is not None:
                raise ChannelExists(f"channel {name!r} already exists") from exc
            raise InvalidStreamKey("that stream key is already in use") from exc
        return channel, key

    async def list(self, *, owner_id: int | None = None) -> builtins.list[Channel]:
        """All channels (or those of ``owner_id``), ordered by name."""
        stmt = select(Channel).order_by(Channel.name)
        if owner_id is not None:
            stmt = stmt.where(Channel.owner_id == owner_id)
        async with self._sessionmaker() as session:
            result = await session.scalars(stmt)
            channels = builtins.list(result)
            session.expunge_all()
        return channels

    async def get(self, name: str) -> Channel | None:
        """The channel called ``name``, or None (also for names that could never exist)."""
        if CHANNEL_NAME_RE.fullmatch(name) is None:
            return None
        async with self._sessionmaker() as session:
            channel = await self._by_name(session, name)
            if channel is not None:
                session.expunge(channel)
        return channel

    async def access(self) -> dict[str, tuple[str, int | None]]:
        """Every channel that is not public: name -> (visibility, owner id)."""
        stmt = select(Channel.name, Channel.visibility, Channel.owner_id).where(
            Channel.visibility != "public"
        )
        async with self._sessionmaker() as session:
            rows = (await session.execute(stmt)).all()
        return {name: (visibility, owner) for name, visibility, owner in rows}

    async def key_hashes(self, names: Collection[str]) -> dict[str, str]:
        """The stream key hash of each of these channels that exists (one query)."""
        if not names:
            return {}
        stmt = select(Channel.name, Channel.stream_key_hash).where(Channel.name.in_(list(names)))
        async with self._sessionmaker() as session:
            rows = (await session.execute(stmt)).all()
        return {name: key_hash for name, key_hash in rows}

    async def rotate_key(self, name: str) -> str:
        """Give a channel a new random stream key and return it; the old key stops working."""
        key = generate_stream_key()
        # One UPDATE rather than read-modify-write, for the same WAL reason as in add().
        stmt = (
            update(Channel)
            .where(Channel.name == name)
            .values(
                stream_key_hash=hash_stream_key(key),
                stream_key_hint=stream_key_hint(key),
                key_rotated_at=utcnow(),
            )
        )
        async with self._sessionmaker() as session, session.begin():
            # On the connection, so the result is a CursorResult with a rowcount.
            connection = await session.connection()
            result = await connection.execute(stmt)
            if result.rowcount != 1:
                raise ChannelNotFound(f"no channel named {name!r}")
        return key

    async def update(
        self,
        name: str,
        *,
        title: str | None = None,
        owner_id: int | None = None,
        category: str | None = None,
        record: bool | None = None,
        retention_days: int | None = None,
        global_retention: bool = False,
        visibility: str | None = None,
        clip_permission: str | None = None,
        retention_gb: float | None = None,
    ) -> Channel:
        """Change a channel's title, category, owner, recording switch and/or retention
        (``global_retention``: back to the global setting; ``retention_gb`` 0: no size cap of
        its own); return the channel as it now is."""
        values: dict[str, object] = {}
        if title is not None:
            values["title"] = title
        if category is not None:
            values["category"] = category
        if owner_id is not None:
            values["owner_id"] = owner_id
        if record is not None:
            values["record"] = record
        if retention_days is not None:
            values["retention_days"] = retention_days
        elif global_retention:
            values["retention_days"] = None
        if retention_gb is not None:
            if not retention_gb >= 0:  # also refuses NaN
                raise ChannelError("retention_gb must be 0 or more")
            values["retention_gb"] = retention_gb if retention_gb > 0 else None
        if visibility is not None:
            if visibility not in VISIBILITIES:
                raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}")
            values["visibility"] = visibility
        if clip_permission is not None:
            if clip_permission not in CLIP_PERMISSIONS:
                raise ChannelError(f"clip_permission must be one of {', '.join(CLIP_PERMISSIONS)}")
            values["clip_permission"] = clip_permission
        if values:
            async with self._sessionmaker() as session, session.begin():
                connection = await session.connection()
                result = await connection.execute(
                    update(Channel).where(Channel.name == name).values(**values)
                )
                if result.rowcount != 1:
                    raise ChannelNotFound(f"no channel named {name!r}")
        channel = await self.get(name)
        if channel is None:
            raise ChannelNotFound(f"no channel named {name!r}")
        return channel

    async def delete(self, name: str) -> None:
        """Delete a channel; its stream key stops working."""
        async with self._sessionmaker() as session, session.begin():
            connection = await session.connection()
            result = await connection.execute(delete(Channel).where(Channel.name == name))
            if result.rowcount != 1:
                raise ChannelNotFound(f"no channel named {name!r}")

    async def authenticate(self, key: str) -> Channel | None:
        """The channel whose stream key is ``key``, or None."""
        if not key or len(key) > MAX_STREAM_KEY_LENGTH:
            return None
        key_hash = hash_stream_key(key)
        async with self._sessionmaker() as session:
            channel = await self._by_hash(session, key_hash)
            if channel is not None:
                session.expunge(channel)
        if channel is None:
            return None
        # The index lookup compares with ordinary string equality; confirming in constant
        # time keeps the decision itself free of a timing signal.
        if not hmac.compare_digest(channel.stream_key_hash, key_hash):
            return None
        return channel

    async def ensure_demo(self) -> tuple[Channel, str | None]:
        """Create the ``demo`` channel if missing; return it with its key, or None if it existed."""
        existing = await self.get(DEMO_CHANNEL)
        if existing is not None:
            return existing, None
        try:
            return await self.add(DEMO_CHANNEL, title="Demo")
        except ChannelExists:
            # Another process created it between the two calls.
            channel = await self.get(DEMO_CHANNEL)
            assert channel is not None
            return channel, None

    @staticmethod
    async def _by_name(session: AsyncSession, name: str) -> Channel | None:
        result = await session.scalars(select(Channel).where(Channel.name == name))
        return result.one_or_none()

    @staticmethod
    async def _by_hash(session: AsyncSession, key_hash: str) -> Channel | None:
        result = await session.scalars(select(Channel).where(Channel.stream_key_hash == key_hash))
        return result.one_or_none()
