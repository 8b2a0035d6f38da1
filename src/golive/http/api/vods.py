"""VODs: the recordings of a channel's past live sessions; list, read, retitle, hide, delete.

Visibility: a ``public`` VOD is listed and readable by every token holder; an ``unlisted`` one
is readable by id but listed only to the channel's owner; a ``private`` one answers 404 to
everyone but the owner and administrators, exactly like a missing one. Only the owner and
administrators change or delete a VOD (403 for others who can see it).

Chat replay: ``GET /vods/{id}/chat?from=&to=`` (read scope, the VOD's visibility rules) the
chat messages of a range of the VOD's timeline (``db/chat_replay.py``).

MP4 downloads: ``POST /vods/{id}/mp4`` (owner and administrators) starts one, ``GET`` reads
its state; the file itself is served by the origin at ``/vod/<id>/download.mp4``.

Deleting removes every object under ``<id>/`` in the recording storage first, then the rows:
if storage fails the rows stay (503, ``storage_unavailable``), so the same call finishes the
job later.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, cast

from fastapi import APIRouter, Path, Query, Response

from golive.db.api_tokens import Principal
from golive.db.chat_replay import ReplayRangeError
from golive.db.recordings import RecordingStore, RecordingSummary
from golive.http.api.auth import Reader, Services, Writer
from golive.http.api.channels import ChannelName
from golive.http.api.errors import ApiError, responses
from golive.http.api.schemas import (
    VOD_ID_PATTERN,
    ChatReplayOut,
    ExportStatus,
    Mp4ExportOut,
    RecordingStatus,
    ReplayMessageOut,
    Visibility,
    VodOut,
    VodUpdate,
)
from golive.http.api.services import ApiServices, ExportView, Mp4Exports
from golive.store.object_store import ObjectStoreError
from golive.store.prefix_removal import delete_prefix

router = APIRouter(tags=["vods"])
log = logging.getLogger("golive.api")

VodId = Annotated[str, Path(pattern=VOD_ID_PATTERN, description="The VOD's id.")]
PUBLIC_LISTING = frozenset({"public"})
RECORDING_ACTIVE = "recording"
EXPORT_READY = "ready"  # a recording's and an export's: the same word


def _recordings(svc: ApiServices) -> RecordingStore:
    if svc.recordings is None:
        raise ApiError("vod_not_found", "this server keeps no recordings")
    return svc.recordings


def vod_out(svc: ApiServices, vod: RecordingSummary) -> VodOut:
    base = svc.settings().http_base_url
    return VodOut(
        id=vod.id,
        channel=vod.channel,
        title=vod.title,
        visibility=cast(Visibility, vod.visibility),
        status=cast(RecordingStatus, vod.status),
        started_at=datetime.fromtimestamp(vod.started_at, UTC),
        ended_at=None if vod.ended_at is None else datetime.fromtimestamp(vod.ended_at, UTC),
        duration=vod.duration,
        bytes=vod.bytes,
        views=vod.views,
        playlist_url=f"{base}/vod/{vod.id}/index.m3u8",
        dash_url=f"{base}/vod/{vod.id}/manifest.mpd",
    )


async def _manages(svc: ApiServices, caller: Principal, vod: RecordingSummary) -> bool:
    """Whether the caller owns the VOD's channel (the same channel, not a later one of the
    same name) or is an administrator."""
    if caller.is_admin:
        return True
    if vod.channel_id is None:
        return False
    channel = await svc.channels.get(vod.channel)
    return (
        channel is not None
        and channel.id == vod.channel_id
        and (channel.owner_id == caller.user.id)
    )


async def _visible_vod(
    svc: ApiServices, caller: Principal, vod_id: str
) -> tuple[RecordingSummary, bool]:
    """The VOD and whether the caller manages it; vod_not_found if it is private to others."""
    vod = await _recordings(svc).get(vod_id)
    if vod is None:
        raise ApiError("vod_not_found", f"no VOD {vod_id!r}")
    manages = await _manages(svc, caller, vod)
    if vod.visibility == "private" and not manages:
        raise ApiError("vod_not_found", f"no VOD {vod_id!r}")
    return vod, manages


async def _managed_vod(svc: ApiServices, caller: Principal, vod_id: str) -> RecordingSummary:
    vod, manages = await _visible_vod(svc, caller, vod_id)
    if not manages:
        raise ApiError(
            "not_vod_owner", "only the channel's owner or an administrator may change this VOD"
        )
    return vod


def _utc(moment: datetime) -> datetime:
    """A query's timestamp as aware UTC (a naive one is taken as UTC)."""
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ApiError("invalid_request", "before: out of range") from None


@router.get("/channels/{name}/vods", response_model=list[VodOut], responses=responses(404))
async def list_vods(
    svc: Services,
    caller: Reader,
    name: ChannelName,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        datetime | None,
        Query(description="Page: VODs that started before this time (the last one's started_at)."),
    ] = None,
) -> list[VodOut]:
    """A channel's finished recordings, newest first: the public ones; every one (unlisted
    and private too) for the channel's owner and administrators."""
    channel = await svc.channels.get(name)
    if channel is None:
        raise ApiError("channel_not_found", f"no channel {name!r}")
    owns = caller.is_admin or channel.owner_id == caller.user.id
    vods = await _recordings(svc).vods(
        channel.id,
        visibilities=None if owns else PUBLIC_LISTING,
        limit=limit,
        before=None if before is None else _utc(before),
    )
    return [vod_out(svc, v) for v in vods]


@router.get("/vods/{vod_id}", response_model=VodOut, responses=responses(404))
async def get_vod(svc: Services, caller: Reader, vod_id: VodId) -> VodOut:
    """One VOD (or a recording still being written): public and unlisted ones for every
    caller, private ones for the channel's owner and administrators."""
    vod, _ = await _visible_vod(svc, caller, vod_id)
    return vod_out(svc, vod)


@router.patch("/vods/{vod_id}", response_model=VodOut, responses=responses(400, 404))
async def update_vod(svc: Services, caller: Writer, vod_id: VodId, body: VodUpdate) -> VodOut:
    """Change the title (trimmed) and/or the visibility."""
    await _managed_vod(svc, caller, vod_id)
    updated = await _recordings(svc).update(vod_id, title=body.title, visibility=body.visibility)
    if updated is None:
        raise ApiError("vod_not_found", f"no VOD {vod_id!r}")
    return vod_out(svc, updated)


@router.delete(
    "/vods/{vod_id}",
    status_code=204,
    response_class=Response,
    responses=responses(404, 409, 503),
)
async def delete_vod(svc: Services, caller: Writer, vod_id: VodId) -> Response:
    """Delete a VOD: its stored segments, then its index. A recording still being written
    cannot be deleted (409). If the storage fails, nothing of the index is deleted (503) and
    the same call can be made again."""
    vod = await _managed_vod(svc, caller, vod_id)
    if vod.status == RECORDING_ACTIVE:
        raise ApiError("recording_in_progress", f"VOD {vod_id!r} is still being recorded")
    objects = 0
    if svc.recording_objects is not None:
        try:
            objects = await delete_prefix(svc.recording_objects, f"{vod.id}/")
        except ObjectStoreError as exc:
            log.warning(
                "api: could not delete VOD %s of %s from storage (its index is kept): %s",
                vod.id,
                vod.channel,
                exc,
            )
            raise ApiError(
                "storage_unavailable",
                "the recording storage failed while deleting; the VOD is kept (some of its "
                "segments may be gone): retry the delete",
            ) from None
    await _recordings(svc).delete(vod.id)
    log.info(
        "api: %s deleted VOD %s of %s (%d objects, %d bytes)",
        caller.user.username,
        vod.id,
        vod.channel,
        objects,
        vod.bytes,
    )
    return Response(status_code=204)


def _mp4_exports(svc: ApiServices) -> Mp4Exports:
    if svc.mp4_exports is None or svc.recordings is None:
        raise ApiError("vod_not_found", "this server keeps no recordings")
    return svc.mp4_exports


def export_out(svc: ApiServices, vod: RecordingSummary, state: ExportView) -> Mp4ExportOut:
    ready = state.status == EXPORT_READY
    return Mp4ExportOut(
        status=cast(ExportStatus, state.status),
        progress=min(1.0, max(0.0, state.progress)),
        size=state.size if ready else None,
        url=f"{svc.settings().http_base_url}/vod/{vod.id}/download.mp4" if ready else None,
        error=(state.error or None) if state.status == "failed" else None,
    )


@router.post(
    "/vods/{vod_id}/mp4",
    status_code=202,
    response_model=Mp4ExportOut,
    responses=responses(404, 409, 503),
)
async def start_mp4_export(
    svc: Services, caller: Writer, vod_id: VodId, response: Response
) -> Mp4ExportOut:
    """Make the VOD's MP4 download in the background (``ffmpeg -c copy``: no re-encode):
    starts an export unless one is waiting, running or ready, and returns its state (202
    while it is being made, 200 once ready). A failed one is started again."""
    exports = _mp4_exports(svc)
    vod = await _managed_vod(svc, caller, vod_id)
    if vod.status != EXPORT_READY:
        raise ApiError("recording_in_progress", f"VOD {vod_id!r} is not a finished recording")
    state = await exports.start(vod.id, vod.duration)
    if state is None:
        raise ApiError("export_busy", "too many MP4 exports are waiting; retry later")
    response.status_code = 200 if state.status == EXPORT_READY else 202
    return export_out(svc, vod, state)


@router.get("/vods/{vod_id}/mp4", response_model=Mp4ExportOut, responses=responses(404))
async def get_mp4_export(svc: Services, caller: Reader, vod_id: VodId) -> Mp4ExportOut:
    """The state of the VOD's MP4 download (any caller who may see the VOD); 404
    ``vod_not_exported`` if none was asked for."""
    exports = _mp4_exports(svc)
    vod, _ = await _visible_vod(svc, caller, vod_id)
    state = await exports.state(vod.id)
    if state is None:
        raise ApiError("vod_not_exported", f"VOD {vod_id!r} has no MP4 export yet")
    return export_out(svc, vod, state)


@router.get("/vods/{vod_id}/chat", response_model=ChatReplayOut, responses=responses(404, 422))
async def vod_chat(
    svc: Services,
    caller: Reader,
    vod_id: VodId,
    start: Annotated[
        float, Query(alias="from", ge=0, description="Seconds from the VOD's start.")
    ] = 0.0,
    end: Annotated[
        float | None,
        Query(alias="to", description="Seconds from the VOD's start (default from + 600)."),
    ] = None,
) -> ChatReplayOut:
    """The chat of a range of the VOD (at most 600 s, at most 500 messages), oldest first,
    with each message's time on the VOD's timeline; the VOD's visibility rules apply."""
    if svc.chat_replay is None:
        raise ApiError("vod_not_found", "this server keeps no recordings")
    vod, _ = await _visible_vod(svc, caller, vod_id)
    try:
        found = await svc.chat_replay.messages(vod, start, start + 600.0 if end is None else end)
    except ReplayRangeError as exc:
        raise ApiError("invalid_request", str(exc)) from None
    return ChatReplayOut(
        messages=[
            ReplayMessageOut(id=m.id, user=m.user, display_name=m.display_name, text=m.text, t=m.t)
            for m in found
        ]
    )
