"""The restream destinations' store, on SQLite and PostgreSQL: keys encrypted (a round trip,
a hint, unreadable under another secret), the checks, the per-channel limit, the cascade."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from golive.db.channels import ChannelStore
from golive.db.engine import Database
from golive.db.models import RestreamDestination
from golive.db.restream_destinations import (
    DestinationKeys,
    InvalidDestination,
    RestreamDestinationStore,
    TooManyDestinations,
    check_url,
    key_hint,
)

KEY = "live_0123456789abcdefa1b2"


def test_key_encryption_round_trip_and_other_secrets() -> None:
    keys = DestinationKeys(b"s" * 32)
    token = keys.encrypt(KEY)
    assert KEY not in token
    assert keys.encrypt(KEY) != token  # Fernet tokens are randomised
    assert keys.decrypt(token) == KEY
    assert DestinationKeys(b"t" * 32).decrypt(token) is None
    assert keys.decrypt("not a token") is None


def test_key_hint_shows_the_end_of_long_keys_only() -> None:
    assert key_hint(KEY) == "…a1b2"
    assert key_hint("short") == "…"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/app", "rtmp:// or rtmps://"),
        ("srt://example.com:9000/app", "rtmp:// or rtmps://"),
        ("rtmp:///app", "no host"),
        ("rtmp://user:pw@example.com/app", "credentials"),
        ("rtmp://example.com/app?key=1", "query"),
        ("rtmp://example.com/app#x", "query or fragment"),
        ("rtmp://example.com", "application path"),
        ("rtmp://example.com:99999/app", "malformed"),
        ("rtmp://exa mple.com/app", "spaces"),
        ("rtmp://example.com/" + "a" * 500, "longer than 500"),
        ("", "required"),
    ],
)
def test_urls_refused_with_the_reason(url: str, why: str) -> None:
    with pytest.raises(InvalidDestination, match=why):
        check_url(url)


def test_urls_accepted() -> None:
    assert check_url(" rtmps://live.example:443/app/ ") == "rtmps://live.example:443/app"
    assert check_url("RTMP://[::1]:1935/live2") == "RTMP://[::1]:1935/live2"


async def test_store_round_trip_limit_and_cascade(db: Database) -> None:
    sessions = db.sessionmaker
    channels = ChannelStore(sessions)
    show, _ = await channels.add("show")
    other, _ = await channels.add("other")
    store = RestreamDestinationStore(sessions, DestinationKeys(b"k" * 32))
    yt = await store.add(show.id, url="rtmp://a.example/live2", key=KEY, name="YouTube", limit=2)
    assert (yt.name, yt.key_hint, yt.enabled) == ("YouTube", "…a1b2", True)
    tw = await store.add(show.id, url="rtmps://b.example/app", key="k2", enabled=False, limit=2)
    with pytest.raises(TooManyDestinations):
        await store.add(show.id, url="rtmp://c.example/app", key="k3", limit=2)
    with pytest.raises(InvalidDestination, match="key"):
        await store.add(other.id, url="rtmp://c.example/app", key="has space", limit=2)
    # Stored encrypted: the key is nowhere in the row.
    async with sessions() as session:
        rows = (await session.scalars(select(RestreamDestination))).all()
    assert all(KEY not in (r.key_encrypted + r.key_hint + r.url) for r in rows)
    assert [d.id for d in await store.of_channel(show.id)] == [yt.id, tw.id]
    assert await store.get(other.id, yt.id) is None  # not that channel's
    forwarded = await store.enabled_for(["show", "other"])
    assert [(f.info.id, f.key) for f in forwarded["show"]] == [(yt.id, KEY)]
    assert forwarded["other"] == []
    # Enable one, change a key, rename; updates of another channel's destination fail.
    updated = await store.update(show.id, tw.id, enabled=True, key="new-key-0000wxyz")
    assert updated is not None and updated.enabled and updated.key_hint == "…wxyz"
    assert await store.update(other.id, tw.id, name="x") is None
    with pytest.raises(InvalidDestination):
        await store.update(show.id, tw.id, url="ftp://x/y")
    forwarded = await store.enabled_for(["show"])
    assert [f.key for f in forwarded["show"]] == [KEY, "new-key-0000wxyz"]
    # Under another secret the keys cannot be read back.
    stranger = RestreamDestinationStore(sessions, DestinationKeys(b"x" * 32))
    assert [f.key for f in (await stranger.enabled_for(["show"]))["show"]] == [None, None]
    assert not await store.delete(other.id, yt.id)
    assert await store.delete(show.id, yt.id)
    assert [d.id for d in await store.of_channel(show.id)] == [tw.id]
    # Deleting the channel deletes its destinations.
    await channels.delete("show")
    async with sessions() as session:
        assert (await session.scalars(select(RestreamDestination))).all() == []
