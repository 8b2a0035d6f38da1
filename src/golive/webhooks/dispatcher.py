"""Delivers webhook events in the background: signed, retried with backoff, logged.

``emit`` only puts the event on a queue, so the caller (the live registry, on the ingest
path) never waits for the database or the network. One worker records each event in the
delivery log and starts its delivery as its own task; a receiver that is slow or down delays
nobody but its own retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from golive.db.models import utcnow
from golive.db.webhook_deliveries import DELIVERED, FAILED, PENDING, WebhookDeliveryLog
from golive.webhooks.events import WebhookEvent
from golive.webhooks.signing import DELIVERY_HEADER, EVENT_HEADER, signed_headers

log = logging.getLogger("golive.webhooks")

_MAX_DELAY = 600.0
_QUEUE_LIMIT = 10_000
USER_AGENT = "golive-webhooks/1"


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Where and how events are sent; replaced as a whole when the settings are reloaded."""

    url: str | None
    secret: str
    timeout: float = 5.0
    max_attempts: int = 6
    retry_delay: float = 2.0


def retry_delay(target: WebhookTarget, attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): doubling, capped."""
    return min(_MAX_DELAY, target.retry_delay * 2.0 ** (attempt - 1))


def _should_retry(status: int | None) -> bool:
    # A receiver that answers 4xx has refused the event; retrying would not change that,
    # except for the two statuses that mean "later".
    return status is None or status >= 500 or status in (408, 429)


class WebhookDispatcher:
    """Queues events and delivers them to ``target`` with retries; see the module docstring."""

    def __init__(
        self,
        deliveries: WebhookDeliveryLog,
        target: WebhookTarget,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.deliveries = deliveries
        self.target = target
        self._client = client or httpx.AsyncClient(
            headers={"user-agent": USER_AGENT}, follow_redirects=False
        )
        self._queue: asyncio.Queue[WebhookEvent] = asyncio.Queue(_QUEUE_LIMIT)
        self._worker: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self.dropped = 0

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run())

    def emit(self, type_: str, channel: str | None, data: dict[str, Any]) -> WebhookEvent | None:
        """Queue an event; never blocks. Returns None when no webhook URL is configured."""
        if self.target.url is None:
            return None
        event = WebhookEvent(type_, channel, data)
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("webhook queue full: event %s for %s dropped", type_, channel)
            return None
        return event

    async def resume_pending(self) -> int:
        """Restart the deliveries a previous run left pending; returns how many."""
        rows = await self.deliveries.unfinished()
        for row in rows:
            try:
                event = json.loads(row.payload)
            except ValueError:
                continue
            self._spawn(
                row.id,
                row.url,
                row.payload.encode(),
                event.get("type", row.event),
                row.event_id,
                row.attempts,
            )
        return len(rows)

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` for queued events to be recorded (used at shutdown)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._queue.join()

    async def close(self, grace: float = 0.0) -> None:
        """Stop delivering; unfinished deliveries stay pending in the log for the next run.

        Attempts under way get up to ``grace`` seconds to finish first.
        """
        if grace > 0 and self._deliveries:
            await asyncio.wait(set(self._deliveries), timeout=grace)
        tasks = [t for t in (self._worker, *self._deliveries) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._worker = None
        await self._client.aclose()

    # -- internals ------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                url = self.target.url
                if url is None:
                    continue
                body = event.body()
                row = await self.deliveries.record(
                    event_id=event.id,
                    event=event.type,
                    channel=event.channel,
                    url=url,
                    payload=body.decode(),
                )
                self._spawn(row.id, url, body, event.type, event.id, 0)
            except Exception:
                log.exception("webhook event %s could not be recorded", event.type)
            finally:
                self._queue.task_done()

    def _spawn(
        self, row_id: int, url: str, body: bytes, type_: str, event_id: str, attempts: int
    ) -> None:
        task = asyncio.get_running_loop().create_task(
            self._deliver(row_id, url, body, type_, event_id, attempts)
        )
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(
        self, row_id: int, url: str, body: bytes, type_: str, event_id: str, attempts: int
    ) -> None:
        while True:
            target = self.target  # re-read: a reload may change the secret or the limits
            attempts += 1
            status: int | None = None
            error: str | None = None
            headers = {
                "content-type": "application/json",
                EVENT_HEADER: type_,
                DELIVERY_HEADER: event_id,
                **signed_headers(target.secret, body),
            }
            try:
                response = await self._client.post(
                    url, content=body, headers=headers, timeout=target.timeout
                )
                status = response.status_code
                if 200 <= status < 300:
                    await self.deliveries.attempted(
                        row_id,
                        status=DELIVERED,
                        attempts=attempts,
                        response_status=status,
                        error=None,
                        next_attempt_at=None,
                    )
                    log.info("webhook %s delivered to %s (attempt %d)", type_, url, attempts)
                    return
                error = f"HTTP {status}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if attempts >= target.max_attempts or not _should_retry(status):
                await self.deliveries.attempted(
                    row_id,
                    status=FAILED,
                    attempts=attempts,
                    response_status=status,
                    error=error,
                    next_attempt_at=None,
                )
                log.warning(
                    "webhook %s to %s failed after %d attempt(s): %s", type_, url, attempts, error
                )
                return
            delay = retry_delay(target, attempts) * random.uniform(1.0, 1.1)
            await self.deliveries.attempted(
                row_id,
                status=PENDING,
                attempts=attempts,
                response_status=status,
                error=error,
                next_attempt_at=utcnow() + timedelta(seconds=delay),
            )
            log.info(
                "webhook %s to %s: attempt %d failed (%s); retrying in %.1f s",
                type_,
                url,
                attempts,
                error,
                delay,
            )
            await asyncio.sleep(delay)
