"""/channels/{name}/restreams: where a channel's live stream is also sent (restream).

A destination is an RTMP or RTMPS server URL and a stream key; while the channel is live its
stream is copied (no re-encode) to every enabled destination. The key is write-only: it is
stored encrypted and answered only as ``key_hint`` (its last characters). ``status`` comes
from the live stream: ``idle`` (not live, disabled, or waiting for a keyframe),
``connecting``, ``live`` (with ``bitrate_bps``) or ``failed`` (with ``reason``; retried after
``retry_in`` seconds, the delay doubling from 1 s to 60 s).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from golive.db.models import Channel
from golive.db.restream_destinations import (
    KEY_LENGTH,
    NAME_LENGTH,
    URL_LENGTH,
    InvalidDestination,
    RestreamDestinationInfo,
    RestreamDestinationStore,
    TooManyDestinations,
)
from golive.http.api.auth import Reader, Services, Writer
from golive.http.api.channels import ChannelName, visible_channel
from golive.http.api.errors import ApiError, responses
from golive.http.api.restream_status import RestreamStatusInfo
from golive.http.api.services import ApiServices

router = APIRouter(prefix="/channels", tags=["restream"])

DestinationId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Destination id.")]
RestreamState = Literal["idle", "connecting", "live", "failed"]


class RestreamCreate(BaseModel):
    url: str = Field(
        max_length=URL_LENGTH,
        description="rtmp:// or rtmps:// server URL with its application path, no key.",
        examples=["rtmps://live.example.com:443/app"],
    )
    key: str = Field(min_length=1, max_length=KEY_LENGTH, description="The stream key.")
    name: str = Field(default="", max_length=NAME_LENGTH)
    enabled: bool = True


class RestreamUpdate(BaseModel):
    url: str | None = Field(default=None, max_length=URL_LENGTH)
    key: str | None = Field(default=None, min_length=1, max_length=KEY_LENGTH)
    name: str | None = Field(default=None, max_length=NAME_LENGTH)
    enabled: bool | None = None


class RestreamOut(BaseModel):
    id: int
    name: str
    url: str
    key_hint: str = Field(description="The end of the key (the key itself is never answered).")
    enabled: bool
    created_at: datetime
    status: RestreamState
    reason: str = Field(description="Why it failed (status failed).")
    retry_in: float | None = Field(description="Seconds until the next attempt (failed).")
    bitrate_bps: float = Field(description="Bits per second sent to it (status live).")


def _store(svc: ApiServices) -> RestreamDestinationStore:
    if svc.restreams is None:
        raise ApiError("not_found", "restreaming is not available")
    return svc.restreams


def _out(info: RestreamDestinationInfo, status: RestreamStatusInfo | None) -> RestreamOut:
    if status is None or not info.enabled:
        status = RestreamStatusInfo("idle")
    return RestreamOut(
        id=info.id,
        name=info.name,
        url=info.url,
        key_hint=info.key_hint,
        enabled=info.enabled,
        created_at=info.created_at,
        status=status.state,  # type: ignore[arg-type]  # one of the forwarder's states
        reason=status.reason,
        retry_in=None if status.retry_in is None else round(status.retry_in, 1),
        bitrate_bps=round(status.bitrate_bps),
    )


def _statuses(svc: ApiServices, channel: Channel) -> dict[int, RestreamStatusInfo]:
    live = svc.restream_live
    return {} if live is None else dict(live.status(channel.name))


async def _changed(svc: ApiServices, channel: Channel) -> None:
    if svc.restream_live is not None:
        await svc.restream_live.changed(channel.name)


@router.get("/{name}/restreams", response_model=list[RestreamOut], responses=responses(404))
async def list_restreams(svc: Services, caller: Reader, name: ChannelName) -> list[RestreamOut]:
    """The channel's restream destinations with their live status."""
    channel = await visible_channel(svc, caller, name)
    statuses = _statuses(svc, channel)
    return [_out(d, statuses.get(d.id)) for d in await _store(svc).of_channel(channel.id)]


@router.post(
    "/{name}/restreams",
    status_code=201,
    response_model=RestreamOut,
    responses=responses(404, 409),
)
async def add_restream(
    svc: Services, caller: Writer, name: ChannelName, body: RestreamCreate
) -> RestreamOut:
    """Add a destination; if the channel is live and it is enabled, it starts at once."""
    channel = await visible_channel(svc, caller, name)
    try:
        info = await _store(svc).add(
            channel.id,
            url=body.url,
            key=body.key,
            name=body.name,
            enabled=body.enabled,
            limit=svc.settings().restream_max_destinations,
        )
    except InvalidDestination as exc:
        raise ApiError("invalid_restream", str(exc)) from None
    except TooManyDestinations as exc:
        raise ApiError("restream_limit", str(exc)) from None
    await _changed(svc, channel)
    return _out(info, _statuses(svc, channel).get(info.id))


@router.patch("/{name}/restreams/{dest_id}", response_model=RestreamOut, responses=responses(404))
async def update_restream(
    svc: Services, caller: Writer, name: ChannelName, dest_id: DestinationId, body: RestreamUpdate
) -> RestreamOut:
    """Change a destination; disabling stops it (the others go on), enabling starts it."""
    channel = await visible_channel(svc, caller, name)
    try:
        info = await _store(svc).update(
            channel.id,
            dest_id,
            url=body.url,
            key=body.key,
            name=body.name,
            enabled=body.enabled,
        )
    except InvalidDestination as exc:
        raise ApiError("invalid_restream", str(exc)) from None
    if info is None:
        raise ApiError("restream_not_found", f"no restream destination {dest_id}")
    await _changed(svc, channel)
    return _out(info, _statuses(svc, channel).get(info.id))


@router.delete(
    "/{name}/restreams/{dest_id}",
    status_code=204,
    response_class=Response,
    responses=responses(404),
)
async def delete_restream(
    svc: Services, caller: Writer, name: ChannelName, dest_id: DestinationId
) -> Response:
    """Delete a destination; if it is being streamed to, that stops (the others go on)."""
    channel = await visible_channel(svc, caller, name)
    if not await _store(svc).delete(channel.id, dest_id):
        raise ApiError("restream_not_found", f"no restream destination {dest_id}")
    await _changed(svc, channel)
    return Response(status_code=204)
