"""The live window of one rendition, held in memory: what the HTTP origin serves.

The packager writes parts, segments, init segments and rendered playlists here; the HTTP
layer reads them and waits on them. Waiting is event driven: every publish wakes the waiters
of this rendition, which re-check their condition; nothing polls.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from golive.store.wakeup import Wakeup

if TYPE_CHECKING:
    from golive.store.dvr_history import ChannelDvr

Bytes = bytes | memoryview


@dataclass(slots=True)
class StoredPart:
    """One LL-HLS partial segment (a CMAF chunk: moof + mdat)."""

    index: int
    duration: float
    independent: bool
    data: Bytes


@dataclass(slots=True)
class StoredSegment:
    """One media segment, growing part by part until it is complete."""

    msn: int
    init_id: int
    discontinuity: bool
    program_date_time: float  # seconds since the epoch, from ingest wall clock
    parts: list[StoredPart] = field(default_factory=list)
    duration: float = 0.0
    complete: bool = False
    independent: bool = True  # starts with a keyframe
    data: Bytes = b""
    frame_count: int = 0
    # Media time in the rendition's track timescale: presentation time of the first frame,
    # and the duration (for DASH's SegmentTimeline).
    media_start: int = 0
    media_duration: int = 0
    timescale: int = 1


@dataclass(frozen=True, slots=True)
class PlaylistSnapshot:
    """A media playlist as it stood right after one part was published.

    ``full`` is the whole playlist; ``skipped`` is the delta update (EXT-X-SKIP) or None when
    the playlist is too short for one. Once made, a snapshot never changes, which is what
    makes blocking-reload responses cacheable.
    """

    msn: int
    part: int
    full: bytes
    skipped: bytes | None
    # The DVR playlist of the same moment (``dvr.m3u8``: the live playlist with the recorded
    # past before it), rendered when first asked for: ``dvr_render(skip)``.
    dvr_render: Callable[[bool], bytes | None] | None = None
    _dvr: dict[bool, bytes | None] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def dvr(self, skip: bool) -> bytes | None:
        """The DVR playlist (with ``skip`` its delta update, or None if nothing can be
        skipped), or None without DVR. Rendered once; the same bytes from then on."""
        render = self.dvr_render
        if render is None:
            return None
        memo = self._dvr
        if skip not in memo:
            memo[skip] = render(skip)
        return memo[skip]


class RenditionWindow:
    """Parts, segments and playlists of one rendition of one live stream."""

    def __init__(self, name: str, *, stream_token: str, snapshot_limit: int = 64) -> None:
        self.name = name
        self.stream_token = stream_token
        self.init_segments: dict[int, bytes] = {}
        self.segments: OrderedDict[int, StoredSegment] = OrderedDict()
        self.target_duration: int = 0
        self.part_target: float = 0.0
        self.ended = False
        self._snapshots: OrderedDict[tuple[int, int], PlaylistSnapshot] = OrderedDict()
        self._snapshot_limit = snapshot_limit
        # Playlists are rendered when a request asks for one, not per part: a rendition
        # nobody watches costs no rendering. ``_position`` is the newest published part;
        # ``_latest`` its rendered playlist, or None until someone asks.
        self._position: tuple[int, int] | None = None
        self._latest: PlaylistSnapshot | None = None
        self._render: Callable[[], PlaylistSnapshot | None] | None = None
        self._changed = Wakeup()
        self._grown = Wakeup()  # a part was added or a segment completed

    # -- writer side (packager) ------------------------------------------------------------

    def set_renderer(self, render: Callable[[], PlaylistSnapshot | None]) -> None:
        """How to render the playlist as it stands now (called on demand, memoised)."""
        self._render = render

    def advance(self, msn: int, part: int) -> None:
        """A new part is published (part ``part`` of segment ``msn``); its playlist is
        rendered when first asked for."""
        self._position = (msn, part)
        self._latest = None
        self._wake()

    def publish(self, snapshot: PlaylistSnapshot) -> None:
        """Record an already rendered playlist (a restored stream)."""
        self._position = (snapshot.msn, snapshot.part)
        self._latest = snapshot
        self._remember((snapshot.msn, snapshot.part), snapshot)
        self._wake()

    def end(self, snapshot: PlaylistSnapshot | None) -> None:
        """The stream is over: the final playlist carries EXT-X-ENDLIST."""
        if snapshot is not None:
            self._position = (snapshot.msn, snapshot.part)
            self._latest = snapshot
        self.ended = True
        self._render = None
        self._wake()

    @property
    def latest(self) -> PlaylistSnapshot | None:
        """The playlist as it stands (rendered now if no one asked since the last part)."""
        latest = self._latest
        if latest is None and self._position is not None and self._render is not None:
            latest = self._render()
            if latest is not None:
                self._latest = latest
                self._remember((latest.msn, latest.part), latest)
        return latest

    def _remember(self, key: tuple[int, int], snapshot: PlaylistSnapshot) -> None:
        self._snapshots[key] = snapshot
        while len(self._snapshots) > self._snapshot_limit:
            self._snapshots.popitem(last=False)

    def evict_before(self, msn: int) -> None:
        """Forget segments older than ``msn`` (they have left the playlist long enough)."""
        while self.segments:
            first = next(iter(self.segments))
            if first >= msn:
                break
            seg = self.segments.pop(first)
            if not any(s.init_id == seg.init_id for s in self.segments.values()):
                self.init_segments.pop(seg.init_id, None)

    def segment_completed(self) -> None:
        """A segment has its last byte (a playlist lists it from the next part on): wake
        the requests that are sending it as it grows, so they end now, not a part later."""
        self._grown.fire()

    def _wake(self) -> None:
        self._changed.fire()
        self._grown.fire()

    # -- reader side (HTTP) ----------------------------------------------------------------

    @property
    def last_position(self) -> tuple[int, int] | None:
        """(msn, part index) of the newest published part."""
        return self._position

    def has_reached(self, msn: int, part: int | None) -> bool:
        """Whether the playlist already holds segment ``msn`` (complete) or part ``part`` of it.

        A part index past the end of a completed segment counts as the first part of the next
        segment, as RFC 8216bis asks of servers answering blocking reloads.
        """
        if self.ended:
            return True
        pos = self.last_position
        if pos is None:
            return False
        if part is None:
            seg = self.segments.get(msn)
            return (seg is not None and seg.complete) or pos[0] > msn
        return self._normalize(msn, part) <= pos

    def snapshot_for(self, msn: int, part: int | None) -> PlaylistSnapshot | None:
        """The playlist that first satisfied a blocking request, or the newest one."""
        latest = self.latest
        if self.ended or latest is None:
            return latest
        if part is None:
            seg = self.segments.get(msn)
            key = (msn, len(seg.parts) - 1) if seg is not None and seg.complete else None
        else:
            key = self._normalize(msn, part)
        if key is None:
            return latest
        found = self._snapshots.get(key)
        if found is None:
            # Rendered after the part (nobody asked in between): it holds the part and maybe
            # newer ones. Every later request for the same URL gets these same bytes.
            found = latest
            self._remember(key, latest)
        return found

    def _normalize(self, msn: int, part: int) -> tuple[int, int]:
        seg = self.segments.get(msn)
        if seg is not None and seg.complete and part >= len(seg.parts):
            return (msn + 1, 0)
        return (msn, part)

    def find_part(self, msn: int, part: int) -> StoredPart | None:
        seg = self.segments.get(msn)
        if seg is None or part >= len(seg.parts):
            return None
        return seg.parts[part]

    def part_is_pending(self, msn: int, part: int) -> bool:
        """Whether ``part`` of ``msn`` may still appear (the next part or the preload hint)."""
        if self.ended:
            return False
        pos = self.last_position
        if pos is None:
            return False
        seg = self.segments.get(msn)
        if seg is not None and seg.complete:
            return False
        nxt_msn, nxt_part = pos[0], pos[1] + 1
        last = self.segments.get(pos[0])
        if last is not None and last.complete:
            nxt_msn, nxt_part = pos[0] + 1, 0
        # Only the hinted part and the one after it may be waited for.
        return (msn, part) in ((nxt_msn, nxt_part), (nxt_msn, nxt_part + 1), (nxt_msn + 1, 0))

    def segment_is_pending(self, msn: int) -> bool:
        """Whether segment ``msn`` is one of the next two to start (DASH asks a bit early)."""
        if self.ended or msn in self.segments:
            return False
        pos = self.last_position
        newest = pos[0] if pos is not None else max(self.segments, default=None)
        return newest is not None and newest < msn <= newest + 2

    async def wait_grown(self, timeout: float) -> bool:
        """Wait for the next part or segment completion (or end); False on timeout."""
        return await self._grown.wait(timeout)

    async def wait_changed(self, timeout: float) -> bool:
        """Wait for the next publish; False on timeout."""
        return await self._changed.wait(timeout)


class ChannelMedia:
    """Everything served under ``/live/<channel>/`` for the stream now on the channel."""

    def __init__(self, channel: str, stream_token: str) -> None:
        self.channel = channel
        self.stream_token = stream_token
        self.renditions: dict[str, RenditionWindow] = {}
        self._multivariant: bytes | None = None
        self._multivariant_render: Callable[[], bytes | None] | None = None
        self._dash: bytes | None = None
        self._dash_render: Callable[[], bytes | None] | None = None
        self._changed = asyncio.Event()
        # DVR (while the stream is recorded): the recorded past, and the DVR multivariant
        # playlist and MPD, rendered when asked for as the live ones are.
        self.dvr: ChannelDvr | None = None
        self._dvr_multivariant: bytes | None = None
        self._dvr_multivariant_render: Callable[[], bytes | None] | None = None
        self._dvr_mpd: bytes | None = None
        self._dvr_mpd_render: Callable[[], bytes | None] | None = None

    def set_multivariant(self, text: bytes | Callable[[], bytes | None]) -> None:
        """The multivariant playlist, or how to render it when next asked (it changes with
        every segment: its bandwidths are measured)."""
        if isinstance(text, bytes):
            self._multivariant, self._multivariant_render = text, None
        else:
            self._multivariant, self._multivariant_render = None, text
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    @property
    def multivariant(self) -> bytes | None:
        if self._multivariant is None and self._multivariant_render is not None:
            self._multivariant = self._multivariant_render()
        return self._multivariant

    def set_dash_manifest(self, render: Callable[[], bytes | None]) -> None:
        """The MPD changed (a segment started or completed): ``render`` makes it, when asked."""
        self._dash = None
        self._dash_render = render

    @property
    def dash_manifest(self) -> bytes | None:
        """The current MPD, rendered on the first request since it changed."""
        if self._dash is None and self._dash_render is not None:
            self._dash = self._dash_render()
        return self._dash

    def set_dvr_playlists(
        self, multivariant: Callable[[], bytes | None], mpd: Callable[[], bytes | None] | None
    ) -> None:
        """The DVR multivariant playlist and MPD changed: how to render them, when asked."""
        self._dvr_multivariant, self._dvr_multivariant_render = None, multivariant
        if mpd is not None:
            self._dvr_mpd, self._dvr_mpd_render = None, mpd

    @property
    def dvr_multivariant(self) -> bytes | None:
        if self._dvr_multivariant is None and self._dvr_multivariant_render is not None:
            self._dvr_multivariant = self._dvr_multivariant_render()
        return self._dvr_multivariant

    @property
    def dvr_mpd(self) -> bytes | None:
        if self._dvr_mpd is None and self._dvr_mpd_render is not None:
            self._dvr_mpd = self._dvr_mpd_render()
        return self._dvr_mpd

    @property
    def has_dvr(self) -> bool:
        """Whether the stream offers a DVR playlist (recorded, and a rendition has history)."""
        dvr = self.dvr
        return dvr is not None and any(len(h) for h in dvr.histories.values())

    async def wait_multivariant(self, timeout: float) -> bytes | None:
        """The multivariant playlist, waiting up to ``timeout`` while the stream starts."""
        if self.multivariant is None and timeout > 0:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait()
            except TimeoutError:
                pass
        return self.multivariant


class LiveStore:
    """The in-memory live window of every channel, keyed by channel name."""

    def __init__(self) -> None:
        self._channels: dict[str, ChannelMedia] = {}

    def open(self, channel: str, stream_token: str) -> ChannelMedia:
        """Start serving a new stream on ``channel``, replacing the previous one."""
        media = ChannelMedia(channel, stream_token)
        self._channels[channel] = media
        return media

    def get(self, channel: str) -> ChannelMedia | None:
        return self._channels.get(channel)

    def close(self, channel: str, media: ChannelMedia) -> None:
        """Stop serving ``media`` (only if it is still the channel's current stream)."""
        if self._channels.get(channel) is media:
            del self._channels[channel]

    def channels(self) -> list[str]:
        return list(self._channels)
