"""DVR: the recorded past of a live stream, per rendition, compact and bounded in time.

The live window (``live_window``) holds a few segments' bytes for players at the live edge.
While a stream is recorded, every completed segment of a recorded rendition is also noted
here (by the recording, which is what stores it): its timing (a lean ``StoredSegment`` with
no bytes and no parts, what playlists and MPDs are rendered from), its init segment (kept
here, a few hundred bytes per timeline), and where the recording put it (the storage key, once
it is stored). Until it is stored, the entry keeps a reference to the segment's bytes, the
very buffer the recording's queue holds (nothing is copied); a segment the recording dropped
(storage down past its buffer) is marked a gap.

The origin serves a DVR segment the live window no longer holds from here: from the pending
bytes, else from the object store under its key.

Two bounds: the DVR playlist lists the segments of the last ``window_seconds``; entries are
kept (and their URLs answered) for ``window_seconds`` more, since a segment must stay
available for as long as the longest playlist that listed it (RFC 8216 6.2.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from golive.store.live_window import StoredSegment
from golive.store.object_store import ObjectStore

__all__ = ["ChannelDvr", "DvrEntry", "DvrHistory"]


@dataclass(slots=True)
class DvrEntry:
    """One completed segment of a recorded rendition."""

    segment: StoredSegment  # timing only: no parts, no bytes
    pending: bytes | memoryview | None  # the bytes until stored (or dropped)
    key: str | None = None  # storage key, once stored
    gap: bool = False  # the recording dropped it: listed with EXT-X-GAP, answered 404
    text: str | None = None  # its playlist lines, once rendered (see ``text_gap``)
    text_gap: bool = False  # whether ``text`` was rendered as a gap
    new_init: bool = True  # its init segment is not the previous segment's


def _lean(seg: StoredSegment) -> StoredSegment:
    return StoredSegment(
        msn=seg.msn,
        init_id=seg.init_id,
        discontinuity=seg.discontinuity,
        program_date_time=seg.program_date_time,
        duration=seg.duration,
        complete=True,
        independent=seg.independent,
        frame_count=seg.frame_count,
        media_start=seg.media_start,
        media_duration=seg.media_duration,
        timescale=seg.timescale,
    )


class DvrHistory:
    """The recorded segments of one rendition, oldest first (consecutive msns)."""

    def __init__(self, name: str, window_seconds: float) -> None:
        self.name = name
        self.window_seconds = window_seconds
        self.init_segments: dict[int, bytes] = {}
        # Oldest first, with consecutive msns: entry i of the list is segment first + i. A list
        # (indexed in O(1), sliced without a walk), whose forgotten head is cut off now and then.
        self._entries: list[DvrEntry] = []
        self._head = 0  # entries before it are forgotten
        self._by_msn: dict[int, DvrEntry] = {}
        # The first listed entry: those before it are kept (answered) but no longer listed.
        self._listed_from = 0  # index into _entries
        self._listed_seconds = 0.0  # duration of the listed entries
        self._kept_seconds = 0.0  # duration of every entry
        # Discontinuities that left the listing: the DVR playlist's DISCONTINUITY-SEQUENCE.
        self.discontinuity_sequence = 0
        # Counts the changes to listed entries (a segment lost): rendered text is stale.
        self.version = 0

    # -- writer side (the recording) -----------------------------------------------------------

    def add(self, segment: StoredSegment, init: bytes | None) -> None:
        """A completed segment (called on the live path: O(1) amortised)."""
        last = self._entries[-1].segment.msn if self._entries else None
        if last is not None and segment.msn <= last:
            return  # already noted (a restored stream's segments)
        if last is not None and segment.msn != last + 1:
            # Numbering broke (never in order; a safety net): the past no longer lines up
            # with msns, so it starts again here.
            self._entries.clear()
            self._by_msn.clear()
            self._head = self._listed_from = 0
            self._listed_seconds = self._kept_seconds = 0.0
        if init is not None and segment.init_id not in self.init_segments:
            self.init_segments[segment.init_id] = init
        entry = DvrEntry(_lean(segment), segment.data)
        if self._entries:
            entry.new_init = self._entries[-1].segment.init_id != segment.init_id
        self._entries.append(entry)
        self._by_msn[segment.msn] = entry
        self._listed_seconds += segment.duration
        self._kept_seconds += segment.duration
        self._trim()

    def stored(self, msn: int, key: str) -> None:
        """The recording stored segment ``msn`` under ``key``: its bytes are let go."""
        entry = self._by_msn.get(msn)
        if entry is not None:
            entry.key = key
            entry.pending = None

    def lost(self, msn: int) -> None:
        """The recording dropped segment ``msn`` (storage was down too long)."""
        entry = self._by_msn.get(msn)
        if entry is not None and entry.key is None:
            entry.pending = None
            entry.gap = True
            self.version += 1

    def _trim(self) -> None:
        entries = self._entries
        window = self.window_seconds
        # Keep the listing within the window, but never empty it.
        while self._listed_seconds > window and self._listed_from < len(entries) - 1:
            left = entries[self._listed_from].segment
            self._listed_from += 1
            self._listed_seconds -= left.duration
            if left.discontinuity:
                self.discontinuity_sequence += 1
        # Answer what left the listing for one more window.
        while self._listed_from > self._head and self._kept_seconds - self._listed_seconds > window:
            gone = entries[self._head]
            self._head += 1
            self._kept_seconds -= gone.segment.duration
            del self._by_msn[gone.segment.msn]
        if self._head > 1024 and self._head * 2 > len(entries):
            del entries[: self._head]
            self._listed_from -= self._head
            self._head = 0
        if self._head < len(entries):
            first_init = entries[self._head].segment.init_id
            for init_id in [i for i in self.init_segments if i < first_init]:
                del self.init_segments[init_id]

    # -- reader side (playlists, MPD, origin) --------------------------------------------------

    def get(self, msn: int) -> DvrEntry | None:
        """The entry of segment ``msn`` while it is answered (listed, or recently listed)."""
        return self._by_msn.get(msn)

    def listed_before(self, msn: int) -> list[DvrEntry]:
        """The listed entries older than segment ``msn`` (the live playlist's first), oldest
        first (msns are consecutive: a slice, no walk)."""
        entries = self._entries
        if self._listed_from >= len(entries):
            return []
        first = entries[self._listed_from].segment.msn
        return entries[self._listed_from : max(self._listed_from, self._listed_from + msn - first)]

    @property
    def first_listed(self) -> int | None:
        """The msn of the oldest listed segment."""
        if self._listed_from >= len(self._entries):
            return None
        return self._entries[self._listed_from].segment.msn

    @property
    def first_listed_pdt(self) -> float | None:
        """The program date time (epoch seconds) of the oldest listed segment."""
        if self._listed_from >= len(self._entries):
            return None
        return self._entries[self._listed_from].segment.program_date_time

    @property
    def listed_seconds(self) -> float:
        return self._listed_seconds

    def __len__(self) -> int:
        return len(self._entries) - self._listed_from


class ChannelDvr:
    """The DVR of one live stream: the history of each recorded rendition, and where the
    recording stores its segments."""

    def __init__(self, window_seconds: float, objects: ObjectStore) -> None:
        self.window_seconds = window_seconds
        self.objects = objects
        self.histories: dict[str, DvrHistory] = {}

    def history(self, rendition: str) -> DvrHistory:
        """The rendition's history, made on its first recorded segment."""
        found = self.histories.get(rendition)
        if found is None:
            found = self.histories[rendition] = DvrHistory(rendition, self.window_seconds)
        return found

    def add(self, rendition: str, segment: StoredSegment, init: bytes | None) -> None:
        self.history(rendition).add(segment, init)

    @property
    def listed_from(self) -> float | None:
        """The program date time (epoch seconds) from which every recorded rendition's DVR
        playlist lists media: where the watch page's seek bar begins."""
        starts = [h.first_listed_pdt for h in self.histories.values()]
        known = [s for s in starts if s is not None]
        return max(known) if known else None

    def stored(self, rendition: str, msn: int, key: str) -> None:
        found = self.histories.get(rendition)
        if found is not None:
            found.stored(msn, key)

    def lost(self, rendition: str, msn: int) -> None:
        found = self.histories.get(rendition)
        if found is not None:
            found.lost(msn)
