"""Making and removing clips: what the API and the site's JSON both call.

A request names a source, a start and a length:

- a finished VOD (``from_vod``): ``start`` seconds from the VOD's start;
- the live stream of a channel being recorded (``from_live``): ``start_pdt``, an epoch time
  inside what is stored of the recording so far (its DVR window), or none for the last
  ``duration`` seconds stored.

Both become the recording's index rows (``db/recordings.py``), cut on segment boundaries
(``record/clip_range.py``), copied under ``clips/<id>/`` with the clip's own playlists
(``record/clip_copy.py``), then the clip's row is written and ``on_created`` is told (the
``clip.created`` webhook, the metric, the thumbnail and the MP4 in the background).

**Refusals** (``ClipRefused``: an HTTP status, a stable code, a message for the user): not a
number or a length outside 5-60 s (422 ``invalid_clip``), a range outside what is recorded
(422 ``clip_out_of_range``), an unknown channel or VOD, or a private VOD of someone else's
(404, as the VOD API answers), not allowed by the channel's ``clip_permission`` (403
``clip_not_allowed``), a channel not live or not recorded (409), too many clips (429
``clip_rate_limited``), storage failing (503, nothing left behind).

**Rate limit.** At most ``rate`` clips per user in its window: the attempt is counted first,
checked and counted in one atomic step of the attempt store (``AttemptCounter.take``, in
memory or, in a cluster, in Redis for every node), so concurrent requests cannot all pass
the check; a refused request gives its attempt back. ``copies`` bounds the copies running at once
over every user.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace

from golive.accounts.attempt_store import AttemptCounter, AttemptStore, LocalAttemptStore
from golive.db.channels import ChannelStore
from golive.db.clips import ClipStore, ClipSummary
from golive.db.models import CLIP_EVERYONE, CLIP_READY, RECORDING_READY, Channel
from golive.db.recordings import RecordingStore, RecordingSummary
from golive.record.clip_copy import copy_clip
from golive.record.clip_range import (
    ClipCut,
    ClipRangeError,
    check_duration,
    cut_at_offset,
    cut_at_time,
    reference_rendition,
)
from golive.record.storage_keys import clip_prefix, new_clip_id
from golive.record.vod_playlists import split_renditions
from golive.store.object_store import ObjectStore, ObjectStoreError
from golive.store.prefix_removal import delete_prefix

__all__ = ["DEFAULT_DURATION", "ClipRefused", "ClipRequests", "Clipper"]

log = logging.getLogger("golive.clips")

DEFAULT_DURATION = 30.0
TITLE_LENGTH = 200
CLIPS_PER_MINUTE = 10
CONCURRENT_COPIES = 4
# Seconds of rows read before a live clip's start: its first segment starts at most this long
# before it (segments are a few seconds long).
WINDOW_MARGIN = 30.0


@dataclass(frozen=True, slots=True)
class Clipper:
    """Who asks: a signed-in user (web session or API token)."""

    id: int
    username: str
    is_admin: bool


class ClipRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _seconds(value: object, name: str, *, default: float | None = None) -> float | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ClipRefused(422, "invalid_clip", f"{name} must be a number of seconds")
    number = float(value)
    if not math.isfinite(number):
        raise ClipRefused(422, "invalid_clip", f"{name} must be a finite number")
    return number


def _check_length(seconds: float) -> None:
    try:
        check_duration(seconds)
    except ClipRangeError as exc:
        raise ClipRefused(422, "invalid_clip", str(exc)) from None


def clean_title(value: object) -> str:
    """One line of text: no control or format characters, spaces collapsed, 200 at most."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ClipRefused(422, "invalid_clip", "title must be a string")
    text = unicodedata.normalize("NFC", value)
    kept = [
        " " if unicodedata.category(ch).startswith("Z") or ch in "\t\n\r" else ch
        for ch in text
        if not unicodedata.category(ch).startswith("C") or ch in "\t\n\r\u200d"
    ]
    return " ".join("".join(kept).split())[:TITLE_LENGTH].strip()


class ClipRequests:
    def __init__(
        self,
        *,
        recordings: RecordingStore,
        clips: ClipStore,
        channels: ChannelStore,
        store: ObjectStore,
        is_live: Callable[[str], bool],
        rate: AttemptCounter | None = None,
        attempt_store: AttemptStore | None = None,
        on_created: Callable[[ClipSummary], None] = lambda clip: None,
        copies: int = CONCURRENT_COPIES,
    ) -> None:
        self.recordings = recordings
        self.clips = clips
        self.channels = channels
        self.store = store
        self._is_live = is_live
        # The limit counts in ``attempt_store`` (this process's memory unless given).
        attempts = LocalAttemptStore() if attempt_store is None else attempt_store
        self.rate = (
            attempts.counter("clip", limit=CLIPS_PER_MINUTE, window=60.0) if rate is None else rate
        )
        self._on_created = on_created
        self._copies = asyncio.Semaphore(copies)
        self.last_copy_seconds = 0.0  # how long the latest clip's copy took (logs, tests)

    # -- making ----------------------------------------------------------------------------

    async def from_vod(
        self, user: Clipper, vod_id: str, *, start: object, duration: object, title: object
    ) -> ClipSummary:
        key = await self._take(user)
        try:
            asked_start = _seconds(start, "start", default=0.0)
            asked = _seconds(duration, "duration", default=DEFAULT_DURATION)
            assert asked_start is not None and asked is not None
            _check_length(asked)
            name = clean_title(title)
            vod = await self.recordings.get(vod_id)
            if vod is None:
                raise ClipRefused(404, "vod_not_found", f"no VOD {vod_id!r}")
            channel = await self._channel_of(vod)
            manages = user.is_admin or (channel is not None and channel.owner_id == user.id)
            if vod.visibility == "private" and not manages:
                raise ClipRefused(404, "vod_not_found", f"no VOD {vod_id!r}")
            if vod.status != RECORDING_READY:
                raise ClipRefused(
                    409,
                    "recording_in_progress",
                    "this recording is not a finished VOD: clip the live stream instead",
                )
            await self._check_permission(user, channel)
            rows = split_renditions(await self.recordings.segments(vod.id))
            try:
                cut = cut_at_offset(rows, asked_start, asked)
            except ClipRangeError as exc:
                raise self._range_refusal(exc) from None
            return await self._make(user, vod, channel, cut, name, vod.visibility)
        except ClipRefused:
            await self.rate.give_back(key)
            raise

    async def from_live(
        self,
        user: Clipper,
        channel_name: str,
        *,
        start_pdt: object,
        duration: object,
        title: object,
    ) -> ClipSummary:
        key = await self._take(user)
        try:
            asked_start = _seconds(start_pdt, "start_pdt")
            asked = _seconds(duration, "duration", default=DEFAULT_DURATION)
            assert asked is not None
            _check_length(asked)
            name = clean_title(title)
            channel = await self.channels.get(channel_name)
            if channel is None:
                raise ClipRefused(404, "channel_not_found", f"no channel {channel_name!r}")
            await self._check_permission(user, channel)
            if not self._is_live(channel.name):
                raise ClipRefused(409, "channel_not_live", f"{channel.name} is not live")
            recording = await self.recordings.active_for_channel(channel.name)
            if recording is None or recording.channel_id not in (None, channel.id):
                raise ClipRefused(
                    409, "channel_not_recording", f"{channel.name}'s stream is not recorded"
                )
            end = await self.recordings.stored_end(recording.id)
            if end is None:
                raise ClipRefused(422, "clip_out_of_range", "nothing is recorded yet")
            # Only the rows around the range are read: a long stream has thousands.
            since = (asked_start if asked_start is not None else end - asked) - WINDOW_MARGIN
            rows = split_renditions(await self.recordings.segments_since(recording.id, since))
            try:
                cut = cut_at_time(rows, asked_start, asked)
            except ClipRangeError as exc:
                raise self._range_refusal(exc) from None
            first = cut.renditions[reference_rendition(cut.renditions)][0]
            start = await self.recordings.duration_before(
                recording.id, first.rendition, first.sequence
            )
            cut = replace(cut, start=start)
            return await self._make(user, recording, channel, cut, name, "public")
        except ClipRefused:
            await self.rate.give_back(key)
            raise

    async def _take(self, user: Clipper) -> str:
        """Count the attempt first, atomically (see the module's docstring)."""
        key = str(user.id)
        wait = await self.rate.take(key)
        if wait > 0:
            raise ClipRefused(
                429,
                "clip_rate_limited",
                f"at most {self.rate.limit} clips in {self.rate.window:g} s: retry in "
                f"{math.ceil(wait)} s",
            )
        return key

    @staticmethod
    def _range_refusal(exc: ClipRangeError) -> ClipRefused:
        message = str(exc)
        code = "invalid_clip" if "seconds long" in message else "clip_out_of_range"
        return ClipRefused(422, code, message)

    async def _channel_of(self, vod: RecordingSummary) -> Channel | None:
        """The VOD's channel, if it still exists (not a later channel of the same name)."""
        channel = await self.channels.get(vod.channel)
        if channel is None or (vod.channel_id is not None and channel.id != vod.channel_id):
            return None
        return channel

    async def may_clip(self, user: Clipper, channel: Channel | None) -> bool:
        if user.is_admin or channel is None:
            return True
        if channel.owner_id == user.id or channel.clip_permission == CLIP_EVERYONE:
            return True
        return await self.clips.is_moderator(channel.id, user.id)

    async def _check_permission(self, user: Clipper, channel: Channel | None) -> None:
        if not await self.may_clip(user, channel):
            raise ClipRefused(
                403,
                "clip_not_allowed",
                "only the channel's owner and moderators may make clips of this channel",
            )

    async def _make(
        self,
        user: Clipper,
        recording: RecordingSummary,
        channel: Channel | None,
        cut: ClipCut,
        title: str,
        visibility: str,
    ) -> ClipSummary:
        clip_id = new_clip_id()
        began = time.monotonic()
        try:
            async with self._copies:
                rows = await copy_clip(self.store, clip_id, cut.renditions)
        except ObjectStoreError as exc:
            log.error("clip %s of %s: storage failed: %s", clip_id, recording.id, exc)
            await self._remove_objects(clip_id)
            raise ClipRefused(
                503, "storage_unavailable", "the recording storage failed: try again"
            ) from None
        self.last_copy_seconds = time.monotonic() - began
        size = sum(row.byte_size for segs in rows.values() for row in segs)
        clip = await self.clips.create(
            clip_id,
            recording_id=recording.id,
            channel=recording.channel,
            channel_id=channel.id if channel is not None else recording.channel_id,
            creator_id=user.id,
            title=title or recording.title or f"Clip of {recording.channel}",
            visibility=visibility,
            start=cut.start,
            duration=cut.duration,
            status=CLIP_READY,
            size=size,
        )
        log.info(
            "%s made clip %s of %s (recording %s, %.1f s from %.1f s, %d bytes) in %.3f s",
            user.username,
            clip.id,
            clip.channel,
            recording.id,
            clip.duration,
            clip.start,
            size,
            self.last_copy_seconds,
        )
        self._on_created(clip)
        return clip

    # -- managing --------------------------------------------------------------------------

    async def may_manage(self, user: Clipper, clip: ClipSummary) -> bool:
        """The clip's creator, its channel's owner, administrators."""
        if user.is_admin or clip.creator_id == user.id:
            return True
        if clip.channel_id is None:
            return False
        channel = await self.channels.get(clip.channel)
        return channel is not None and channel.id == clip.channel_id and channel.owner_id == user.id

    async def delete(self, clip: ClipSummary) -> int:
        """Its objects, then its row (if storage fails the row stays: ObjectStoreError)."""
        objects = await delete_prefix(self.store, clip_prefix(clip.id))
        await self.clips.delete(clip.id)
        return objects

    async def _remove_objects(self, clip_id: str) -> None:
        try:
            await delete_prefix(self.store, clip_prefix(clip_id))
        except ObjectStoreError as exc:
            log.warning("clip %s: its partial copy could not be removed: %s", clip_id, exc)
