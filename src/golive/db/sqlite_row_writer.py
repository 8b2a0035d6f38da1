"""Batches of rows inserted into one SQLite table through a connection of their own.

The recording index adds a row per stored segment, one or two a second per stream. Through
the async engine (SQLAlchemy over aiosqlite) each transaction cost about 1.1 ms of CPU, where
SQLite itself commits one in about 40 µs: the rest is a thread hop per statement (begin,
insert, commit, the pool's reset) and the session's work. This writer owns a plain
``sqlite3`` connection used from one thread of its own, and makes one hop per batch: about
0.2 ms, most of it the hop. It only inserts; everything else reads and writes through the
engine. WAL mode lets both connections work on the file, and ``busy_timeout`` makes either
wait for the other's write lock rather than fail.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import Table

from golive.db.engine import SQLITE_BUSY_TIMEOUT_MS

__all__ = ["SqliteRowWriter"]


class SqliteRowWriter:
    """Inserts rows (dicts keyed by column name) into ``table`` of the SQLite file ``path``."""

    def __init__(self, path: Path, table: Table, columns: Sequence[str]) -> None:
        unknown = set(columns) - set(table.columns.keys())
        if unknown:
            raise ValueError(f"no column(s) {sorted(unknown)} in {table.name}")
        self._path = path
        self._columns = tuple(columns)
        names = ", ".join(self._columns)
        values = ", ".join(f":{name}" for name in self._columns)
        self._sql = f"INSERT INTO {table.name} ({names}) VALUES ({values})"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="golive-index")
        self._connection: sqlite3.Connection | None = None

    async def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` in one transaction (all or none)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._insert, rows)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)

    # The writer's thread.

    def _connect(self) -> sqlite3.Connection:
        connection = self._connection
        if connection is None:
            # Autocommit mode: the transaction is opened and closed explicitly below.
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            self._connection = connection
        return connection

    def _insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany(self._sql, rows)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
