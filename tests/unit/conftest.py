"""Fixtures of the unit tests: the database stores run on SQLite and on PostgreSQL; the Redis
implementations on fakeredis (one fake server per test, ``redis`` a client of it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import fakeredis
import pytest

from golive.config import Settings
from golive.db.engine import Database
from tests.support.postgres_server import DATABASE_BACKENDS, fresh_database_url


@pytest.fixture(params=DATABASE_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, once a SQLite file and once on the PostgreSQL server (the test runs
    on both)."""
    return fresh_database_url(request.param, request, tmp_path / "data")


@pytest.fixture
async def db(tmp_path: Path, database_url: str) -> AsyncIterator[Database]:
    """That database, opened and migrated."""
    database = await Database.open(Settings(data_dir=tmp_path / "data", database_url=database_url))
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def fake_redis_server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
async def redis(
    fake_redis_server: fakeredis.FakeServer,
) -> AsyncIterator[fakeredis.FakeAsyncRedis]:
    client = fakeredis.FakeAsyncRedis(server=fake_redis_server)
    yield client
    await client.aclose()
