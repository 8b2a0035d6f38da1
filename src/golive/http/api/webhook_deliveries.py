"""/webhooks/deliveries: the delivery log of webhook events."""

from __future__ import annotations

from typing import Annotated, Literal, cast

from fastapi import APIRouter, Query

from golive.db.models import WebhookDelivery
from golive.http.api.auth import Reader, Services
from golive.http.api.errors import responses
from golive.http.api.schemas import CHANNEL_NAME_PATTERN, WebhookDeliveryOut

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

DeliveryStatus = Literal["pending", "delivered", "failed"]


def delivery_out(row: WebhookDelivery) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        id=row.id,
        event_id=row.event_id,
        event=row.event,
        channel=row.channel,
        url=row.url,
        status=cast(DeliveryStatus, row.status),
        attempts=row.attempts,
        response_status=row.response_status,
        error=row.error,
        created_at=row.created_at,
        last_attempt_at=row.last_attempt_at,
        next_attempt_at=row.next_attempt_at,
        payload=row.payload,
    )


@router.get("/deliveries", response_model=list[WebhookDeliveryOut], responses=responses())
async def list_deliveries(
    svc: Services,
    caller: Reader,
    channel: Annotated[str | None, Query(pattern=CHANNEL_NAME_PATTERN)] = None,
    event: Annotated[str | None, Query(max_length=64)] = None,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Page: ids below this one.")
    ] = None,
) -> list[WebhookDeliveryOut]:
    """Newest first. Events of the caller's channels (administrators: every event)."""
    channels: set[str] | None = None
    if not caller.is_admin:
        channels = {c.name for c in await svc.channels.list(owner_id=caller.user.id)}
    if channel is not None:
        channels = {channel} if channels is None else channels & {channel}
    rows = await svc.deliveries.list(
        channels=channels, event=event, status=status, limit=limit, before_id=before_id
    )
    return [delivery_out(r) for r in rows]
