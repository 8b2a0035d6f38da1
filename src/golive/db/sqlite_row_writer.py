"""Batches of rows inserted into one SQLite table through a connection of their own.

The recording index adds a row per stored segment, one or two a second per stream. Through
the async engine (SQLAlchemy over aiosqlite) each transaction cost about 1.1 ms of CPU, where
SQLite itself commits one in about 40 µs: the rest is a thread hop per statement (begin,
insert, commit, the pool's reset) and the session's work. This writer owns a plain
``sqlite3`` connection used from one thread of its own, and makes one hop per batch: about
0.2 ms, most of it the hop. It only inserts (and, fenced, raises the owners' tokens);
everything else reads and writes through the engine. WAL mode lets both connections work on
the file, and ``busy_timeout`` makes either wait for the other's write lock rather than fail.

**Fencing.** With a ``RowFence``, each row carries its writer's fencing token and is written
only while the token stored on its owner row (another table) is not larger; a larger row
token raises the stored one. The check runs inside the insert's ``BEGIN IMMEDIATE``
transaction, which holds SQLite's write lock: nothing can raise the token between the check
and the insert. It costs one indexed SELECT per batch.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table

from golive.db.engine import SQLITE_BUSY_TIMEOUT_MS

__all__ = ["RowFence", "SqliteRowWriter", "fence_rows"]

# Owner keys per SELECT ... IN (...): under SQLite's oldest limit of bound parameters (999).
_KEYS_PER_QUERY = 500


@dataclass(frozen=True, slots=True)
class RowFence:
    """Rows are written only where ``owner_table.token`` of their owner (the row whose
    ``owner_key`` is the row's ``row_key``) is not larger than the row's ``row_token``."""

    owner_table: str
    owner_key: str
    token: str
    row_key: str
    row_token: str


def fence_rows(
    rows: Sequence[Mapping[str, Any]], stored: Mapping[Any, int], fence: RowFence
) -> tuple[set[int], dict[Any, int]]:
    """Which of ``rows`` (by position) a stored token refuses, and the owners whose stored
    token is raised to a row's larger one (owner key -> new token).

    The largest token a batch carries for an owner wins, as if its row came first. Rows of
    an owner with no stored token (no such owner) are left to the insert to refuse.
    """
    newest: dict[Any, int] = {}
    for row in rows:
        key = row[fence.row_key]
        if key in stored:
            newest[key] = max(newest.get(key, stored[key]), int(row[fence.row_token]))
    refused = {
        i
        for i, row in enumerate(rows)
        if row[fence.row_key] in newest and int(row[fence.row_token]) < newest[row[fence.row_key]]
    }
    raised = {key: token for key, token in newest.items() if token > stored[key]}
    return refused, raised


class SqliteRowWriter:
    """Inserts rows (dicts keyed by column name) into ``table`` of the SQLite file ``path``."""

    def __init__(
        self,
        path: Path,
        table: Table,
        columns: Sequence[str],
        *,
        fence: RowFence | None = None,
    ) -> None:
        unknown = set(columns) - set(table.columns.keys())
        if unknown:
            raise ValueError(f"no column(s) {sorted(unknown)} in {table.name}")
        self._path = path
        self._columns = tuple(columns)
        names = ", ".join(self._columns)
        values = ", ".join(f":{name}" for name in self._columns)
        # Named parameters: a row's other keys (its fencing token) are not inserted.
        self._sql = f"INSERT INTO {table.name} ({names}) VALUES ({values})"
        self._fence = fence
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="golive-index")
        self._connection: sqlite3.Connection | None = None

    async def insert(self, rows: Sequence[Mapping[str, Any]]) -> set[int]:
        """Insert ``rows`` in one transaction (all or none, but for the rows the fence
        refuses); the positions of those refused (always none without a fence)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._insert, rows)

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

    def _insert(self, rows: Sequence[Mapping[str, Any]]) -> set[int]:
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            refused: set[int] = set()
            if self._fence is not None:
                refused = self._check_fence(connection, rows, self._fence)
            connection.executemany(
                self._sql, [row for i, row in enumerate(rows) if i not in refused]
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return refused

    @staticmethod
    def _check_fence(
        connection: sqlite3.Connection, rows: Sequence[Mapping[str, Any]], fence: RowFence
    ) -> set[int]:
        """Within the write transaction: read the owners' tokens, raise those a row
        outranks, and tell which rows are refused."""
        keys = sorted({row[fence.row_key] for row in rows})
        stored: dict[Any, int] = {}
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            query = (
                f"SELECT {fence.owner_key}, {fence.token} FROM {fence.owner_table} "
                f"WHERE {fence.owner_key} IN ({marks})"
            )
            stored.update((key, int(token)) for key, token in connection.execute(query, chunk))
        refused, raised = fence_rows(rows, stored, fence)
        if raised:
            connection.executemany(
                f"UPDATE {fence.owner_table} SET {fence.token} = ? WHERE {fence.owner_key} = ?",
                [(token, key) for key, token in raised.items()],
            )
        return refused

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
