"""Live streams: list, health, stop (kick) the publisher."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from golive.http.api.auth import Reader, Services, Writer
from golive.http.api.channels import visible_channel
from golive.http.api.errors import ApiError, responses
from golive.http.api.schemas import CHANNEL_NAME_PATTERN, LiveStreamOut, StreamHealthOut
from golive.http.api.services import LiveStreamInfo

router = APIRouter(tags=["streams"])

ChannelName = Annotated[str, Path(pattern=CHANNEL_NAME_PATTERN, description="Channel name.")]


def stream_out(info: LiveStreamInfo) -> LiveStreamOut:
    health: dict[str, Any] = dict(info.health)
    return LiveStreamOut(
        channel=info.channel,
        stream_id=info.stream_id,
        state=info.state,  # type: ignore[arg-type]
        started_at=datetime.fromtimestamp(info.started_at, UTC),
        publishes=info.publishes,
        viewers=info.viewers,
        peak_viewers=info.peak_viewers,
        health=StreamHealthOut(**health),
    )


@router.get("/streams", response_model=list[LiveStreamOut], responses=responses())
async def list_streams(svc: Services, caller: Reader) -> list[LiveStreamOut]:
    """Live streams on the caller's channels (every live stream for administrators)."""
    streams = svc.live.list()
    if not caller.is_admin:
        own = {c.name for c in await svc.channels.list(owner_id=caller.user.id)}
        streams = [s for s in streams if s.channel in own]
    return [stream_out(s) for s in sorted(streams, key=lambda s: s.channel)]


@router.get("/channels/{name}/stream", response_model=LiveStreamOut, responses=responses(404))
async def get_stream(svc: Services, caller: Reader, name: ChannelName) -> LiveStreamOut:
    """The channel's live stream with its ingest health."""
    await visible_channel(svc, caller, name)
    info = svc.live.get(name)
    if info is None:
        raise ApiError("stream_not_live", f"channel {name!r} is not live")
    return stream_out(info)


@router.post(
    "/channels/{name}/stream/stop",
    status_code=204,
    response_class=Response,
    responses=responses(404),
)
async def stop_stream(
    svc: Services,
    caller: Writer,
    name: ChannelName,
    end: Annotated[
        bool,
        Query(description="End the stream now instead of waiting for the reconnect grace."),
    ] = False,
) -> Response:
    """Disconnect the publisher (a kick). Its key still works: rotate it to keep it out."""
    await visible_channel(svc, caller, name)
    if not svc.live.stop(name, "stopped through the API", end=end):
        raise ApiError("stream_not_live", f"channel {name!r} is not live")
    return Response(status_code=204)
