"""VOD view counts, written in batches.

The VOD page counts one view per page view (not per segment or playlist request). A view is
one increment of an in-memory count; a writer task adds the counts to ``recordings.views``
every ``FLUSH_EVERY`` seconds, all VODs in one transaction (one ``UPDATE ... SET views =
views + n`` per VOD viewed meanwhile). So the database sees at most one write transaction
per period whatever the traffic, and the memory held is bounded: at most ``MAX_PENDING``
VODs wait (views of further ones in the same period are not counted, and counted in
``dropped``). ``flush`` writes at once (shutdown, tests); views not yet written when the
process is killed are lost, at most one period's worth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from golive.db.models import Recording

__all__ = ["VodViews"]

log = logging.getLogger("golive.http")

FLUSH_EVERY = 2.0  # seconds
MAX_PENDING = 10_000  # VODs with views waiting to be written


class VodViews:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        flush_every: float = FLUSH_EVERY,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._flush_every = flush_every
        self._max_pending = max_pending
        self._pending: dict[str, int] = {}
        self._writer: asyncio.Task[None] | None = None
        self.dropped = 0  # views not counted: too many VODs waiting
        self.transactions = 0

    def add(self, recording_id: str) -> None:
        """Count one view (written within ``flush_every`` seconds)."""
        if recording_id not in self._pending and len(self._pending) >= self._max_pending:
            self.dropped += 1
            return
        self._pending[recording_id] = self._pending.get(recording_id, 0) + 1
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_soon())

    async def _write_soon(self) -> None:
        await asyncio.sleep(self._flush_every)
        await self.flush()

    async def flush(self) -> None:
        counts, self._pending = self._pending, {}
        if not counts:
            return
        table = cast(Table, Recording.__table__)
        statement = (
            update(table)
            .where(table.c.id == bindparam("rid"))
            .values(views=table.c.views + bindparam("n"))
        )
        try:
            async with self._sessionmaker() as session, session.begin():
                connection = await session.connection()
                await connection.execute(
                    statement, [{"rid": rid, "n": n} for rid, n in counts.items()]
                )
            self.transactions += 1
        except asyncio.CancelledError:
            for rid, n in counts.items():  # written by the flush that close() makes
                self._pending[rid] = self._pending.get(rid, 0) + n
            raise
        except Exception:
            log.exception("could not count the views of %d VODs", len(counts))

    async def close(self) -> None:
        """Stop the writer and write what is left."""
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        await self.flush()
