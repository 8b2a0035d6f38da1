"""The webhook delivery log: every event sent, its attempts and its outcome."""

from __future__ import annotations

import builtins
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from golive.db.models import Channel, WebhookDelivery, utcnow

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


class WebhookDeliveryLog:
    """Writes and reads ``webhook_deliveries``; returned objects are detached."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def record(
        self, *, event_id: str, event: str, channel: str | None, url: str, payload: str
    ) -> WebhookDelivery:
        """Log an event, tied to the channel now holding the name ``channel`` (if any)."""
        delivery = WebhookDelivery(
            event_id=event_id,
            event=event,
            channel=channel,
            url=url,
            payload=payload,
            status=PENDING,
            attempts=0,
            created_at=utcnow(),
        )
        async with self._sessionmaker() as session, session.begin():
            if channel is not None:
                delivery.channel_id = await session.scalar(
                    select(Channel.id).where(Channel.name == channel)
                )
            session.add(delivery)
            await session.flush()
            session.expunge(delivery)
        return delivery

    async def attempted(
        self,
        delivery_id: int,
        *,
        status: str,
        attempts: int,
        response_status: int | None,
        error: str | None,
        next_attempt_at: datetime | None,
    ) -> None:
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(
                    status=status,
                    attempts=attempts,
                    response_status=response_status,
                    error=error[:500] if error else None,
                    last_attempt_at=utcnow(),
                    next_attempt_at=next_attempt_at,
                )
            )

    async def list(
        self,
        *,
        channels: Collection[str] | None = None,
        channel_ids: Collection[int] | None = None,
        event: str | None = None,
        status: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> builtins.list[WebhookDelivery]:
        """Newest first; ``channels`` (names) and ``channel_ids`` limit the log to those
        channels' events. Owners are given ids: a name may have belonged to a deleted channel."""
        stmt = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
        if channels is not None:
            stmt = stmt.where(WebhookDelivery.channel.in_(builtins.list(channels)))
        if channel_ids is not None:
            stmt = stmt.where(WebhookDelivery.channel_id.in_(builtins.list(channel_ids)))
        if event is not None:
            stmt = stmt.where(WebhookDelivery.event == event)
        if status is not None:
            stmt = stmt.where(WebhookDelivery.status == status)
        if before_id is not None:
            stmt = stmt.where(WebhookDelivery.id < before_id)
        async with self._sessionmaker() as session:
            rows = builtins.list(await session.scalars(stmt))
            session.expunge_all()
        return rows

    async def unfinished(self) -> builtins.list[WebhookDelivery]:
        """Deliveries still pending (to resume after a restart), oldest first."""
        stmt = (
            select(WebhookDelivery)
            .where(WebhookDelivery.status == PENDING)
            .order_by(WebhookDelivery.id)
        )
        async with self._sessionmaker() as session:
            rows = builtins.list(await session.scalars(stmt))
            session.expunge_all()
        return rows
