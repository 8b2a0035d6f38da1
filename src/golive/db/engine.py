"""Database engine, sessions and schema migrations."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

from golive.config import Settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# How long a writer waits for SQLite's lock before failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5000


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return Path(db)


def _is_sqlite(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "sqlite"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets the web server read while the ingest side writes. In-memory databases
        # answer "memory" and stay as they are.
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across application crashes in WAL mode; only a power loss can
        # drop the last transactions, which is acceptable for this data.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def make_engine(database_url: str, *, echo: bool = False) -> AsyncEngine:
    """Create an async engine; for SQLite, create the file's directory and enable WAL; for a
    database server, check pooled connections before use."""
    kwargs: dict[str, Any] = {"echo": echo}
    if _is_sqlite(database_url):
        path = sqlite_path(database_url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        else:
            # Every connection to an in-memory database would otherwise get its own, empty one.
            kwargs["poolclass"] = StaticPool
    else:
        # A server restart or failover kills every pooled connection; a cheap ping on
        # checkout replaces a dead one instead of failing the request that drew it.
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(database_url, **kwargs)
    if _is_sqlite(database_url):
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """A session factory whose objects stay readable after commit (no lazy refresh in async)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def engine_from_settings(settings: Settings) -> AsyncEngine:
    """Create the data directory and an engine for ``settings.database_url``."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.database_url)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at the packaged migrations, independent of the CWD."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        # env.py picks this up instead of opening its own connection.
        config.attributes["connection"] = connection
    return config


def _upgrade_head(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def migrate_engine(engine: AsyncEngine) -> None:
    """Upgrade the schema behind ``engine`` to the newest revision."""
    # run_sync hands Alembic a sync facade whose I/O is still awaited on this loop's driver,
    # so the event loop is not blocked on the database.
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade_head)


async def migrate(database_url: str) -> None:
    """Create the database if needed and upgrade it to the newest schema revision."""
    engine = make_engine(database_url)
    try:
        await migrate_engine(engine)
    finally:
        await engine.dispose()


@dataclass(frozen=True, slots=True)
class Database:
    """An engine and its session factory, opened and migrated together."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    @classmethod
    async def open(cls, settings: Settings, *, migrate: bool = True) -> Database:
        """Create the data directory and engine and, by default, migrate to the newest schema."""
        engine = engine_from_settings(settings)
        try:
            if migrate:
                await migrate_engine(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, make_sessionmaker(engine))

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
