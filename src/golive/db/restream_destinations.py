"""A channel's restream destinations: checked, stored, the stream key encrypted.

The stream key of a destination is a password to someone else's service, and unlike our
own stream keys it must be given back to ffmpeg, so it cannot be a hash: it is encrypted
with Fernet (AES-128-CBC + HMAC-SHA256), with a key derived by HKDF-SHA256 from the server's
secret (``playback_token_secret``, or the one generated into the data directory). Only the
last four characters are kept in the clear, as a hint. Changing that secret makes stored
keys unreadable: such a destination reports it, and its key has to be entered again.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from golive.db.models import Channel, RestreamDestination

__all__ = [
    "KEY_LENGTH",
    "NAME_LENGTH",
    "URL_LENGTH",
    "DestinationKeys",
    "ForwardedDestination",
    "InvalidDestination",
    "RestreamDestinationInfo",
    "RestreamDestinationStore",
    "TooManyDestinations",
    "check_key",
    "check_name",
    "check_url",
    "key_hint",
]

NAME_LENGTH = 64
URL_LENGTH = 500
KEY_LENGTH = 512
_HKDF_INFO = b"golive restream destination keys v1"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\s]")
_NAME_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


class InvalidDestination(ValueError):
    """A destination's URL, key or name is refused; the message says why."""


class TooManyDestinations(Exception):
    """The channel has as many destinations as ``restream_max_destinations`` allows."""


def check_url(url: str) -> str:
    """``rtmp://host[:port]/app[/...]`` or ``rtmps://...``: no credentials, query or key."""
    url = url.strip()
    if not url:
        raise InvalidDestination("the URL is required")
    if len(url) > URL_LENGTH:
        raise InvalidDestination(f"the URL is longer than {URL_LENGTH} characters")
    if _CONTROL.search(url):
        raise InvalidDestination("the URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidDestination(f"the URL is malformed: {exc}") from None
    if parts.scheme.lower() not in ("rtmp", "rtmps"):
        raise InvalidDestination("the URL must start with rtmp:// or rtmps://")
    if not parts.hostname:
        raise InvalidDestination("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidDestination("the URL must not contain credentials (user:password@)")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise InvalidDestination("the URL must not have a query or fragment")
    if port == 0:
        raise InvalidDestination("the URL's port must be 1 to 65535")
    if not parts.path.strip("/"):
        raise InvalidDestination("the URL needs an application path (rtmp://host/app)")
    return url.rstrip("/")


def check_key(key: str) -> str:
    if not key:
        raise InvalidDestination("the stream key is required")
    if len(key) > KEY_LENGTH:
        raise InvalidDestination(f"the stream key is longer than {KEY_LENGTH} characters")
    if _CONTROL.search(key):
        raise InvalidDestination("the stream key must not contain spaces or control characters")
    return key


def check_name(name: str) -> str:
    name = name.strip()
    if len(name) > NAME_LENGTH:
        raise InvalidDestination(f"the name is longer than {NAME_LENGTH} characters")
    if _NAME_UNSAFE.search(name):
        raise InvalidDestination("the name must not contain control characters")
    return name


def key_hint(key: str) -> str:
    """``…a1b2``: the key's last four characters, when that leaves most of it hidden."""
    return f"…{key[-4:]}" if len(key) >= 12 else "…"


class DestinationKeys:
    """Encrypts and decrypts destination keys with a key derived from the server's secret."""

    def __init__(self, secret: bytes) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
            secret
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, key: str) -> str:
        return self._fernet.encrypt(key.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str | None:
        """The key, or None when it was encrypted under another secret (or is damaged)."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class RestreamDestinationInfo:
    """A destination as stored, without its key (``key`` only from :meth:`enabled_for`)."""

    id: int
    channel_id: int
    name: str
    url: str
    key_hint: str
    enabled: bool
    created_at: datetime


def _info(row: RestreamDestination) -> RestreamDestinationInfo:
    return RestreamDestinationInfo(
        row.id, row.channel_id, row.name, row.url, row.key_hint, row.enabled, row.created_at
    )


@dataclass(frozen=True, slots=True)
class ForwardedDestination:
    """An enabled destination with its key (None: it cannot be decrypted)."""

    info: RestreamDestinationInfo
    key: str | None


class RestreamDestinationStore:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], keys: DestinationKeys
    ) -> None:
        self._sessionmaker = sessionmaker
        self._keys = keys

    async def of_channel(self, channel_id: int) -> list[RestreamDestinationInfo]:
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(RestreamDestination)
                .where(RestreamDestination.channel_id == channel_id)
                .order_by(RestreamDestination.id)
            )
            return [_info(r) for r in rows]

    async def get(self, channel_id: int, dest_id: int) -> RestreamDestinationInfo | None:
        async with self._sessionmaker() as session:
            row = await session.get(RestreamDestination, dest_id)
            return None if row is None or row.channel_id != channel_id else _info(row)

    async def add(
        self,
        channel_id: int,
        *,
        url: str,
        key: str,
        name: str = "",
        enabled: bool = True,
        limit: int,
    ) -> RestreamDestinationInfo:
        """Store a new destination (checked); TooManyDestinations past ``limit``."""
        url, key, name = check_url(url), check_key(key), check_name(name)
        async with self._sessionmaker.begin() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(RestreamDestination)
                .where(RestreamDestination.channel_id == channel_id)
            )
            if (count or 0) >= limit:
                raise TooManyDestinations(f"a channel has at most {limit} restream destinations")
            row = RestreamDestination(
                channel_id=channel_id,
                name=name,
                url=url,
                key_encrypted=self._keys.encrypt(key),
                key_hint=key_hint(key),
                enabled=enabled,
            )
            session.add(row)
            await session.flush()
            return _info(row)

    async def update(
        self,
        channel_id: int,
        dest_id: int,
        *,
        url: str | None = None,
        key: str | None = None,
        name: str | None = None,
        enabled: bool | None = None,
    ) -> RestreamDestinationInfo | None:
        """Change what is given (checked); None if there is no such destination."""
        url = None if url is None else check_url(url)
        key = None if key is None else check_key(key)
        name = None if name is None else check_name(name)
        async with self._sessionmaker.begin() as session:
            row = await session.get(RestreamDestination, dest_id)
            if row is None or row.channel_id != channel_id:
                return None
            if url is not None:
                row.url = url
            if key is not None:
                row.key_encrypted = self._keys.encrypt(key)
                row.key_hint = key_hint(key)
            if name is not None:
                row.name = name
            if enabled is not None:
                row.enabled = enabled
            await session.flush()
            return _info(row)

    async def delete(self, channel_id: int, dest_id: int) -> bool:
        async with self._sessionmaker.begin() as session:
            result = await session.execute(
                delete(RestreamDestination).where(
                    RestreamDestination.id == dest_id,
                    RestreamDestination.channel_id == channel_id,
                )
            )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def enabled_for(self, channels: list[str]) -> dict[str, list[ForwardedDestination]]:
        """The enabled destinations of the named channels, keys decrypted (one query)."""
        if not channels:
            return {}
        async with self._sessionmaker() as session:
            rows = (
                await session.execute(
                    select(Channel.name, RestreamDestination)
                    .join(Channel, Channel.id == RestreamDestination.channel_id)
                    .where(Channel.name.in_(channels), RestreamDestination.enabled.is_(True))
                    .order_by(RestreamDestination.id)
                )
            ).all()
        found: dict[str, list[ForwardedDestination]] = {name: [] for name in channels}
        for name, row in rows:
            found[name].append(
                ForwardedDestination(_info(row), self._keys.decrypt(row.key_encrypted))
            )
        return found
