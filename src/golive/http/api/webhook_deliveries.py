"""/webhooks/deliveries: the delivery log of webhook events.

Administrators see every event as logged. A channel's owner sees the events of their own
channels, matched by channel id (a name may have belonged to a deleted channel), without
what belongs to the operator or to publishers: no receiver URL, and no address fields in
the payload (``remote_addr`` of ``publish.requested``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, cast

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


def _is_address_key(key: str) -> bool:
    key = key.lower()
    return "addr" in key or key == "ip" or key.endswith("_ip") or key.startswith("ip_")


def _without_addresses(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_addresses(v)
            for k, v in value.items()
            if not (isinstance(k, str) and _is_address_key(k))
        }
    if isinstance(value, list):
        return [_without_addresses(v) for v in value]
    return value


def owner_view(row: WebhookDelivery) -> WebhookDeliveryOut:
    """What a channel's owner may see of a delivery."""
    out = delivery_out(row)
    try:
        payload = json.dumps(
            _without_addresses(json.loads(row.payload)), separators=(",", ":"), sort_keys=True
        )
    except ValueError:
        payload = "{}"  # not JSON: nothing of it is known to be safe to show
    error = row.error
    if error and not error.startswith("HTTP "):
        # A transport error's text may carry the receiver's URL (and a token in it) in any
        # form, so owners see only its kind ("ConnectError"); "HTTP 503" stays as it is.
        error = error.split(":", 1)[0]
    return out.model_copy(update={"url": None, "payload": payload, "error": error})


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
    """Newest first. Administrators: every event. Owners: their channels' events, without
    the receiver URL (null) or addresses in the payload."""
    if caller.is_admin:
        rows = await svc.deliveries.list(
            channels=None if channel is None else {channel},
            event=event,
            status=status,
            limit=limit,
            before_id=before_id,
        )
        return [delivery_out(r) for r in rows]
    owned = await svc.channels.list(owner_id=caller.user.id)
    ids = {c.id for c in owned if channel is None or c.name == channel}
    rows = await svc.deliveries.list(
        channel_ids=ids, event=event, status=status, limit=limit, before_id=before_id
    )
    return [owner_view(r) for r in rows]
