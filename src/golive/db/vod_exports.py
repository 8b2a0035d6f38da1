"""The state of VODs' MP4 downloads (``record/mp4_export.py`` implements the job; this class
its ``ExportLedger`` structurally): one row per VOD, its latest attempt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from golive.db.models import EXPORT_FAILED, EXPORT_PENDING, EXPORT_RUNNING, VodExport


@dataclass(frozen=True, slots=True)
class ExportRow:
    recording_id: str
    status: str
    progress: float
    size: int
    error: str

    @classmethod
    def of(cls, row: VodExport) -> ExportRow:
        return cls(row.recording_id, row.status, row.progress, row.size, row.error)


class VodExportStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def get(self, recording_id: str) -> ExportRow | None:
        async with self._sessionmaker() as session:
            row = await session.get(VodExport, recording_id)
            return ExportRow.of(row) if row is not None else None

    async def put(
        self,
        recording_id: str,
        *,
        status: str,
        progress: float = 0.0,
        size: int = 0,
        error: str = "",
    ) -> ExportRow:
        """Create or replace the VOD's export state."""
        async with self._sessionmaker() as session, session.begin():
            row = await session.get(VodExport, recording_id)
            if row is None:
                row = VodExport(recording_id=recording_id)
                session.add(row)
            row.status = status
            row.progress = progress
            row.size = size
            row.error = error[:500]
            row.updated_at = datetime.now(UTC)
            return ExportRow.of(row)

    async def interrupt_unfinished(self, reason: str) -> int:
        """Mark exports a previous process left pending or running as failed (at start-up:
        their ffmpeg is gone with it); how many there were."""
        async with self._sessionmaker() as session, session.begin():
            result = await session.execute(
                update(VodExport)
                .where(VodExport.status.in_([EXPORT_PENDING, EXPORT_RUNNING]))
                .values(status=EXPORT_FAILED, error=reason[:500], updated_at=datetime.now(UTC))
            )
            return int(getattr(result, "rowcount", 0) or 0)
