"""Stream lifecycle to webhook events, and the on_publish approval with its delivery log entry."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from golive.db.webhook_deliveries import DELIVERED, FAILED, WebhookDeliveryLog
from golive.live.hub import StreamHub
from golive.webhooks.dispatcher import WebhookDispatcher
from golive.webhooks.events import PUBLISH_REQUESTED, STREAM_ENDED, STREAM_STARTED, WebhookEvent
from golive.webhooks.publish_approval import PublishApprover, PublishDecision

log = logging.getLogger("golive.webhooks")


def iso_time(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


class StreamEventNotifier:
    """Registry listeners that queue stream.started / stream.ended; never block the caller."""

    def __init__(self, dispatcher: WebhookDispatcher, *, playlist_url: Any) -> None:
        self._dispatcher = dispatcher
        self._playlist_url = playlist_url  # Callable[[str], str]: channel -> multivariant URL

    def started(self, hub: StreamHub) -> None:
        self._dispatcher.emit(
            STREAM_STARTED,
            hub.channel,
            {
                "stream_id": hub.stream_id,
                "started_at": iso_time(hub.started_at),
                "playlist_url": self._playlist_url(hub.channel),
            },
        )

    def ended(self, hub: StreamHub, *, peak_viewers: int | None = None) -> None:
        now = time.time()
        self._dispatcher.emit(
            STREAM_ENDED,
            hub.channel,
            {
                "stream_id": hub.stream_id,
                "started_at": iso_time(hub.started_at),
                "ended_at": iso_time(now),
                "duration": round(now - hub.started_at, 3),
                "publishes": hub.publishes,
                "peak_viewers": peak_viewers,
            },
        )


class LoggedPublishApproval:
    """Asks the on_publish webhook and records the call in the delivery log (in the background)."""

    def __init__(self, approver: PublishApprover, deliveries: WebhookDeliveryLog) -> None:
        self.approver = approver
        self._deliveries = deliveries
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return self.approver.target.url is not None

    async def decide(self, channel: str, data: dict[str, Any]) -> PublishDecision:
        started = time.monotonic()
        event = WebhookEvent(PUBLISH_REQUESTED, channel, data)
        decision = await self.approver.decide(event)
        log.info(
            "on_publish for %s: %s (%s, %.0f ms)",
            channel,
            "allowed" if decision.allowed else "refused",
            decision.reason,
            (time.monotonic() - started) * 1000,
        )
        task = asyncio.get_running_loop().create_task(self._record(event, decision))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return decision

    async def _record(self, event: WebhookEvent, decision: PublishDecision) -> None:
        url = self.approver.target.url or ""
        channel = event.channel
        answered = decision.status is not None and decision.status < 500
        try:
            row = await self._deliveries.record(
                event_id=event.id,
                event=event.type,
                channel=channel,
                url=url,
                payload=event.body().decode(),
            )
            await self._deliveries.attempted(
                row.id,
                status=DELIVERED if answered else FAILED,
                attempts=1,
                response_status=decision.status,
                error=None if answered else decision.reason,
                next_attempt_at=None,
            )
        except Exception:
            log.exception("could not record the on_publish call for %s", channel)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.approver.close()
