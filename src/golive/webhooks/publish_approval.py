"""The on_publish webhook: asks an outside service whether a publish may start.

This is the one webhook on the ingest path, so it is bounded by ``timeout``; a receiver that
does not answer in time, cannot be reached or fails (5xx) gets the configured default.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

from golive.webhooks.events import WebhookEvent
from golive.webhooks.signing import DELIVERY_HEADER, EVENT_HEADER, signed_headers

log = logging.getLogger("golive.webhooks")


@dataclass(frozen=True, slots=True)
class PublishApprovalTarget:
    """Where approval is asked and what silence means."""

    url: str | None
    secret: str
    timeout: float = 3.0
    default_allow: bool = True


@dataclass(frozen=True, slots=True)
class PublishDecision:
    """The answer: allowed or not, why, and the receiver's HTTP status if it answered."""

    allowed: bool
    reason: str
    status: int | None = None


class PublishApprover:
    """Calls ``target.url`` with a signed ``publish.requested`` event and reads the answer.

    2xx approves; 4xx refuses, with the body's ``reason`` (JSON) or text as the message given
    to the publisher; anything else falls back to ``target.default_allow``.
    """

    def __init__(
        self, target: PublishApprovalTarget, *, client: httpx.AsyncClient | None = None
    ) -> None:
        self.target = target
        self._client = client or httpx.AsyncClient(follow_redirects=False)

    async def decide(self, event: WebhookEvent) -> PublishDecision:
        """Ask about ``event`` (a publish.requested event)."""
        target = self.target
        channel = event.channel or ""
        if target.url is None:
            return PublishDecision(True, "no on_publish webhook")
        body = event.body()
        headers = {
            "content-type": "application/json",
            EVENT_HEADER: event.type,
            DELIVERY_HEADER: event.id,
            **signed_headers(target.secret, body),
        }
        try:
            response = await self._client.post(
                target.url, content=body, headers=headers, timeout=target.timeout
            )
        except httpx.TimeoutException:
            return self._fallback(channel, f"no answer within {target.timeout:g} s")
        except httpx.HTTPError as exc:
            return self._fallback(channel, f"{type(exc).__name__}: {exc}")
        status = response.status_code
        if 200 <= status < 300:
            return PublishDecision(True, "approved by on_publish webhook", status)
        if 400 <= status < 500:
            return PublishDecision(False, _reason(response), status)
        return self._fallback(channel, f"HTTP {status}", status)

    def _fallback(self, channel: str, why: str, status: int | None = None) -> PublishDecision:
        allowed = self.target.default_allow
        log.warning(
            "on_publish webhook for %s: %s; %s by default",
            channel,
            why,
            "allowing" if allowed else "refusing",
        )
        return PublishDecision(allowed, f"on_publish webhook unavailable ({why})", status)

    async def close(self) -> None:
        await self._client.aclose()


def _reason(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("reason"), str):
        text: str = data["reason"]
    else:
        text = response.text.strip()
    return (text or "refused by on_publish webhook")[:200]
