"""The channel store, the database engine and the migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

import golive.db.channels as channels_module
from golive.config import Settings
from golive.db.channels import (
    ChannelExists,
    ChannelNotFound,
    ChannelStore,
    InvalidChannelName,
    InvalidStreamKey,
    hash_stream_key,
)
from golive.db.engine import (
    Database,
    alembic_config,
    make_engine,
    make_sessionmaker,
    migrate,
    sqlite_path,
)
from golive.db.models import Base
from tests.support.postgres_server import DATABASE_BACKENDS, fresh_database_url


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("GOLIVE_"):
            monkeypatch.delenv(name)
    # Migrations must not depend on the working directory.
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "data"


@pytest.fixture(params=DATABASE_BACKENDS)
def database_url(request: pytest.FixtureRequest, data_dir: Path) -> str:
    """An empty database: the SQLite file in ``data_dir``, or one on the PostgreSQL server."""
    return fresh_database_url(request.param, request, data_dir)


@pytest.fixture
async def db(data_dir: Path, database_url: str) -> AsyncIterator[Database]:
    database = await Database.open(Settings(data_dir=data_dir, database_url=database_url))
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def store(db: Database) -> ChannelStore:
    return ChannelStore(db.sessionmaker)


def db_file(data_dir: Path) -> Path:
    return data_dir / "golive.db"


# Engine and migrations


async def test_migrate_creates_database_with_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "x.db"
    await migrate(f"sqlite+aiosqlite:///{path}")
    await migrate(f"sqlite+aiosqlite:///{path}")  # idempotent
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "channels" in tables


async def test_database_open_creates_data_dir(data_dir: Path) -> None:
    assert not data_dir.exists()
    database = await Database.open(Settings(data_dir=data_dir))
    await database.close()
    assert db_file(data_dir).is_file()


def _schema_diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _downgrade_to_base(conn: Connection) -> None:
    command.downgrade(alembic_config(conn), "base")


async def test_migrations_match_models(database_url: str) -> None:
    """An empty database migrated to head has exactly the models' schema, on either backend;
    every revision downgrades, and upgrading again gives the same schema."""
    await migrate(database_url)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_diff) == []
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade_to_base)
        async with engine.connect() as conn:
            assert await conn.run_sync(_table_names) == {"alembic_version"}
    finally:
        await engine.dispose()
    await migrate(database_url)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_diff) == []
            assert Base.metadata.tables.keys() <= await conn.run_sync(_table_names)
    finally:
        await engine.dispose()


async def test_in_memory_database() -> None:
    database = await Database.open(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    try:
        store = ChannelStore(database.sessionmaker)
        _, key = await store.add("mem")
        assert (await store.authenticate(key)) is not None
    finally:
        await database.close()


def test_sqlite_path() -> None:
    assert sqlite_path("sqlite+aiosqlite:////srv/g.db") == Path("/srv/g.db")
    assert sqlite_path("sqlite+aiosqlite:///:memory:") is None
    assert sqlite_path("sqlite+aiosqlite://") is None
    assert sqlite_path("postgresql+asyncpg://u@h/db") is None


async def test_store_works_with_expiring_sessionmaker(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'e.db'}"
    await migrate(url)
    engine = make_engine(url)
    try:
        from sqlalchemy.ext.asyncio import async_sessionmaker

        store = ChannelStore(async_sessionmaker(engine, expire_on_commit=True))
        channel, _ = await store.add("expiring")
        assert channel.name == "expiring"
        assert channel.id > 0
    finally:
        await engine.dispose()
    assert make_sessionmaker(engine).kw["expire_on_commit"] is False


# add / get / list


async def test_add_generates_strong_key(store: ChannelStore) -> None:
    channel, key = await store.add("news", title="Evening news")
    assert key.startswith("live_")
    assert len(key) == len("live_") + 32  # 24 random bytes, base64url
    assert channel.id > 0
    assert channel.name == "news"
    assert channel.title == "Evening news"
    assert channel.stream_key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert channel.stream_key_hint == key[:9]
    assert channel.masked_key == key[:9] + "…"
    assert channel.created_at.tzinfo is UTC
    assert channel.key_rotated_at == channel.created_at


async def test_generated_keys_differ(store: ChannelStore) -> None:
    keys = {(await store.add(f"c{i}"))[1] for i in range(5)}
    assert len(keys) == 5


async def test_add_with_own_key(store: ChannelStore) -> None:
    channel, key = await store.add("mine", "my-own-key_1234.~-long-enough-for-32")
    assert key == "my-own-key_1234.~-long-enough-for-32"
    assert channel.stream_key_hint == "my-o"
    assert (await store.authenticate(key)) is not None


@pytest.mark.parametrize(
    "key",
    [
        "short",
        "x" * 31,
        "has space in the key and more than 32",
        "slash/in/the/key/and-then-some-more",
        "x" * 129,
    ],
)
async def test_add_rejects_bad_keys(store: ChannelStore, key: str) -> None:
    with pytest.raises(InvalidStreamKey):
        await store.add("chan", key)
    assert await store.list() == []


async def test_hand_set_keys_need_32_characters(store: ChannelStore) -> None:
    with pytest.raises(InvalidStreamKey, match=r"31 characters.*at least 32"):
        await store.add("chan", "k" * 31)
    _, key = await store.add("chan", "k" * 32)
    assert (await store.authenticate(key)) is not None


async def test_add_rejects_key_in_use(store: ChannelStore) -> None:
    await store.add("one", "shared-key-1234567890-1234567890")
    with pytest.raises(InvalidStreamKey, match="in use"):
        await store.add("two", "shared-key-1234567890-1234567890")


async def test_add_duplicate_name(store: ChannelStore) -> None:
    await store.add("dup")
    with pytest.raises(ChannelExists):
        await store.add("dup")


async def test_concurrent_adds_of_one_name(store: ChannelStore) -> None:
    results = await asyncio.gather(*(store.add("race") for _ in range(4)), return_exceptions=True)
    assert sum(isinstance(r, tuple) for r in results) == 1
    assert sum(isinstance(r, ChannelExists) for r in results) == 3


async def test_concurrent_adds_of_different_names(store: ChannelStore) -> None:
    await asyncio.gather(*(store.add(f"par{i}") for i in range(8)))
    assert len(await store.list()) == 8


@pytest.mark.parametrize(
    "name", ["", "A", "Demo", "-x", "_x", "a" * 33, "a.b", "a b", "é", "api", "hls", "a/b"]
)
async def test_add_rejects_bad_names(store: ChannelStore, name: str) -> None:
    with pytest.raises(InvalidChannelName):
        await store.add(name)


@pytest.mark.parametrize("name", ["a", "0", "a" * 32, "x_y-z", "9lives", "demo"])
async def test_add_accepts_good_names(store: ChannelStore, name: str) -> None:
    channel, _ = await store.add(name)
    assert channel.name == name


async def test_list_and_get(store: ChannelStore) -> None:
    assert await store.list() == []
    await store.add("zeta")
    await store.add("alpha")
    assert [c.name for c in await store.list()] == ["alpha", "zeta"]
    got = await store.get("zeta")
    assert got is not None and got.name == "zeta"
    assert await store.get("missing") is None
    assert await store.get("Not Valid") is None


# keys


async def test_authenticate(store: ChannelStore) -> None:
    channel, key = await store.add("auth")
    found = await store.authenticate(key)
    assert found is not None and found.id == channel.id
    assert await store.authenticate(key + "x") is None
    assert await store.authenticate(key[:-1]) is None
    assert await store.authenticate("live_" + "A" * 32) is None
    assert await store.authenticate("") is None
    assert await store.authenticate("x" * 10_000) is None


async def test_authenticate_compares_in_constant_time(
    store: ChannelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, key = await store.add("timing")
    calls: list[tuple[object, object]] = []
    real: Callable[..., bool] = channels_module.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(channels_module.hmac, "compare_digest", spy)
    assert await store.authenticate(key) is not None
    assert calls == [(hash_stream_key(key), hash_stream_key(key))]


async def test_rotate_key(store: ChannelStore) -> None:
    channel, old_key = await store.add("rot")
    new_key = await store.rotate_key("rot")
    assert new_key != old_key and new_key.startswith("live_")
    assert await store.authenticate(old_key) is None
    found = await store.authenticate(new_key)
    assert found is not None and found.id == channel.id
    assert found.stream_key_hint == new_key[:9]
    assert found.key_rotated_at > channel.key_rotated_at
    assert found.created_at == channel.created_at


async def test_key_hashes_of_several_channels_in_one_query(store: ChannelStore) -> None:
    a, key_a = await store.add("keya")
    b, _ = await store.add("keyb")
    assert await store.key_hashes([]) == {}
    found = await store.key_hashes(["keya", "keyb", "gone"])
    assert found == {"keya": a.stream_key_hash, "keyb": b.stream_key_hash}
    assert found["keya"] == hash_stream_key(key_a)
    await store.rotate_key("keya")
    assert (await store.key_hashes(["keya"]))["keya"] != a.stream_key_hash


async def test_rotate_key_of_missing_channel(store: ChannelStore) -> None:
    with pytest.raises(ChannelNotFound):
        await store.rotate_key("ghost")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # reads the SQLite files
async def test_only_the_hash_is_stored(db: Database, store: ChannelStore, data_dir: Path) -> None:
    _, key = await store.add("secret")
    rotated = await store.rotate_key("secret")
    _, own = await store.add("own", "my-very-own-stream-key-of-32-chars")
    await db.close()
    files = [p for p in data_dir.iterdir() if p.name.startswith("golive.db")]
    content = b"".join(p.read_bytes() for p in files)
    assert hash_stream_key(rotated).encode() in content
    for k in (key, rotated, own):
        # Neither the key nor its secret part (after the visible hint) is anywhere on disk.
        assert k.encode() not in content
        assert k[9:].encode() not in content
    with sqlite3.connect(db_file(data_dir)) as conn:
        rows = conn.execute("SELECT * FROM channels").fetchall()
    assert not any(key in str(value) for row in rows for value in row)


async def test_ensure_demo(store: ChannelStore) -> None:
    channel, key = await store.ensure_demo()
    assert channel.name == "demo"
    assert key is not None
    again, no_key = await store.ensure_demo()
    assert again.id == channel.id
    assert no_key is None
    assert (await store.authenticate(key)) is not None


async def test_ensure_demo_keeps_existing_channel(store: ChannelStore) -> None:
    await store.add("demo", "operator-chosen-key-at-least-32-chars")
    channel, key = await store.ensure_demo()
    assert key is None
    assert (await store.authenticate("operator-chosen-key-at-least-32-chars")) is not None
    assert channel.name == "demo"


async def test_visibility_is_stored_and_the_restricted_ones_are_listed(store: ChannelStore) -> None:
    await store.add("open")
    hidden, _ = await store.add("hidden", owner_id=None)
    await store.add("link")
    assert hidden.visibility == "public"
    assert await store.access() == {}
    await store.update("hidden", visibility="private")
    await store.update("link", visibility="unlisted")
    assert await store.access() == {"hidden": ("private", None), "link": ("unlisted", None)}
    with pytest.raises(ValueError, match="visibility"):
        await store.update("open", visibility="secret")
    channel = await store.get("open")
    assert channel is not None and channel.visibility == "public"
    await store.update("hidden", visibility="public")
    assert set(await store.access()) == {"link"}
