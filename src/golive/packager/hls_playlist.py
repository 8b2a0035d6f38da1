"""Renders LL-HLS media playlists (RFC 8216bis, protocol version 9) from a rendition window.

Completed segments render to text once and are cached; a playlist is the header, the cached
segment texts, the parts of the last few segments, the preload hint and rendition reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal

from golive.store.dvr_history import DvrEntry
from golive.store.live_window import StoredSegment

HLS_VERSION = 9
# The DVR's recorded segments are rendered in blocks of this many msns, each joined once.
_BLOCK = 256


@dataclass(frozen=True, slots=True)
class RenditionReport:
    """Where another rendition of the same stream stands (EXT-X-RENDITION-REPORT)."""

    uri: str
    last_msn: int
    last_part: int


def format_pdt(epoch_seconds: float) -> str:
    """ISO 8601 with milliseconds and a time zone, as EXT-X-PROGRAM-DATE-TIME wants."""
    stamp = datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class MediaPlaylistWriter:
    """Writes the media playlist of one rendition; keeps per-segment text between calls."""

    def __init__(self, *, uri_prefix: str, part_hold_back_factor: float = 2.0) -> None:
        self._prefix = uri_prefix  # e.g. "a1b2c3d4/": the stream token keeps URIs unique
        self._part_hold_back_factor = part_hold_back_factor
        # A completed segment's text never changes: cached with and without its parts.
        self._cache: dict[tuple[int, bool], str] = {}
        # DVR: the text of whole blocks of recorded segments, by block number, with the
        # history version it was made at (see DvrHistory.version).
        self._blocks: dict[int, tuple[int, str]] = {}

    def forget_before(self, msn: int) -> None:
        for key in [k for k in self._cache if k[0] < msn]:
            del self._cache[key]

    def render(
        self,
        segments: Sequence[StoredSegment],
        *,
        target_duration: int,
        part_target: float,
        discontinuity_sequence: int,
        preload_hint: tuple[int, int] | None,
        reports: Sequence[RenditionReport] = (),
        ended: bool = False,
        skip: bool = False,
        older: Sequence[DvrEntry] = (),
        older_version: int = 0,
    ) -> str | None:
        """The playlist text; with ``skip`` the delta update, or None if nothing can be skipped.

        ``older`` makes it the DVR playlist: these recorded segments (consecutive, ending just
        before ``segments``) come first, without parts, and ``discontinuity_sequence`` is the
        first one's; the rest, from ``segments`` on, is the live playlist's text.
        """
        if not segments:
            return None
        can_skip_until = 6.0 * target_duration
        part_target_text = f"{part_target:.5f}"
        out: list[str] = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{HLS_VERSION}",
            f"#EXT-X-TARGETDURATION:{target_duration}",
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES"
            f",CAN-SKIP-UNTIL={can_skip_until:.1f}"
            f",PART-HOLD-BACK={self._part_hold_back(part_target_text)}"
            f",HOLD-BACK={3.0 * target_duration:.1f}",
            f"#EXT-X-PART-INF:PART-TARGET={part_target_text}",
            f"#EXT-X-MEDIA-SEQUENCE:{older[0].segment.msn if older else segments[0].msn}",
            f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}",
        ]
        # Parts are listed only for the segments within three target durations of the end.
        total = 0.0
        parts_from = len(segments)
        for i in range(len(segments) - 1, -1, -1):
            seg = segments[i]
            if seg.complete and total >= 3.0 * target_duration:
                break
            total += seg.duration if seg.complete else sum(p.duration for p in seg.parts)
            parts_from = i
        first = 0
        current_init = -1
        if older:
            first = self._render_older(out, older, segments, skip, can_skip_until, older_version)
            if first < 0:
                return None
            # The live part needs no EXT-X-MAP of its own if the recorded part has its init.
            current_init = older[-1].segment.init_id if first < len(older) else -1
            first = max(0, first - len(older))
        elif skip:
            # Skip the segments that end more than CAN-SKIP-UNTIL before the playlist's end.
            remaining = sum(s.duration for s in segments if s.complete) + sum(
                p.duration for s in segments if not s.complete for p in s.parts
            )
            for seg in segments:
                if not seg.complete or remaining - seg.duration < can_skip_until:
                    break
                remaining -= seg.duration
                first += 1
            if first == 0:
                return None
            out.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={first}")
        cache = self._cache
        for i in range(first, len(segments)):
            seg = segments[i]
            with_parts = i >= parts_from
            if not seg.complete:
                if not with_parts:
                    continue
                out.append(self._segment_text(seg, with_parts=True))
            else:
                key = (seg.msn, with_parts)
                cached = cache.get(key)
                if cached is None:
                    cached = cache[key] = self._segment_text(seg, with_parts=with_parts)
                out.append(cached)
            if seg.init_id != current_init:
                # EXT-X-MAP must precede the segment it applies to: insert it just before.
                out.insert(len(out) - 1, f'#EXT-X-MAP:URI="{self._prefix}init-{seg.init_id}.mp4"')
                current_init = seg.init_id
        if ended:
            out.append("#EXT-X-ENDLIST")
        elif preload_hint is not None:
            msn, part = preload_hint
            out.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{self._prefix}{msn}.{part}.m4s"')
        for report in reports:
            out.append(
                f'#EXT-X-RENDITION-REPORT:URI="{report.uri}",'
                f"LAST-MSN={report.last_msn},LAST-PART={report.last_part}"
            )
        out.append("")
        return "\n".join(out)

    def _render_older(
        self,
        out: list[str],
        older: Sequence[DvrEntry],
        segments: Sequence[StoredSegment],
        skip: bool,
        can_skip_until: float,
        version: int,
    ) -> int:
        """Append the DVR's recorded segments (those not skipped) to ``out``; return how many
        segments of ``older`` + ``segments`` were skipped (-1: skip asked, nothing to skip).

        The skip is counted from the end (a DVR playlist holds thousands of segments and a
        delta update is asked for every part): a segment is skipped when the segments after
        it last at least CAN-SKIP-UNTIL (RFC 8216bis: none closer to the end than the Skip
        Boundary is skipped)."""
        first = 0
        if skip:
            total = len(older) + len(segments)
            after = 0.0
            first = -1
            for i in range(total - 1, -1, -1):
                if i < len(older):
                    seg = older[i].segment
                    duration = seg.duration
                else:
                    seg = segments[i - len(older)]
                    duration = seg.duration if seg.complete else sum(p.duration for p in seg.parts)
                if after >= can_skip_until and seg.complete:
                    first = i + 1
                    break
                after += duration
            if first <= 0:
                return -1
            out.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={first}")
        # A 2-hour DVR playlist lists thousands of segments: whole blocks of them are joined
        # once and reused until one of their segments changes (lost) or the block leaves.
        blocks = self._blocks
        count = len(older)
        if count:
            for number in [n for n in blocks if n < older[0].segment.msn // _BLOCK]:
                del blocks[number]
        i = first
        while i < count:
            msn = older[i].segment.msn
            if i > first and msn % _BLOCK == 0 and i + _BLOCK <= count:
                cached = blocks.get(msn // _BLOCK)
                if cached is None or cached[0] != version:
                    lines = [self._older_text(e, e.new_init) for e in older[i : i + _BLOCK]]
                    cached = blocks[msn // _BLOCK] = (version, "\n".join(lines))
                out.append(cached[1])
                i += _BLOCK
                continue
            # The first one listed names its init segment whatever came before.
            out.append(self._older_text(older[i], i == first or older[i].new_init))
            i += 1
        return first

    def _older_text(self, entry: DvrEntry, with_map: bool) -> str:
        """A recorded segment's lines (EXT-X-MAP first if ``with_map``), made once."""
        text = entry.text
        if text is None or entry.text_gap != entry.gap:
            text = self._segment_text(entry.segment, with_parts=False)
            if entry.gap:
                # The recording lost it: the timeline (and the numbering) keeps its place.
                head, _, tail = text.rpartition("\n#EXTINF")
                text = f"{head}\n#EXT-X-GAP\n#EXTINF{tail}"
            entry.text, entry.text_gap = text, entry.gap
        if with_map:
            return f'#EXT-X-MAP:URI="{self._prefix}init-{entry.segment.init_id}.mp4"\n{text}'
        return text

    def _part_hold_back(self, part_target_text: str) -> str:
        """PART-HOLD-BACK for the PART-TARGET as written, rounded up: RFC 8216bis wants at
        least three times PART-TARGET, and rounding both to the nearest broke that (0.815 for
        0.27167)."""
        exact = Decimal(str(self._part_hold_back_factor)) * Decimal(part_target_text)
        return str(exact.quantize(Decimal("0.00001"), rounding=ROUND_CEILING))

    def _segment_text(self, seg: StoredSegment, *, with_parts: bool) -> str:
        lines: list[str] = []
        if seg.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{format_pdt(seg.program_date_time)}")
        if with_parts:
            for part in seg.parts:
                independent = ",INDEPENDENT=YES" if part.independent else ""
                lines.append(
                    f"#EXT-X-PART:DURATION={part.duration:.5f},"
                    f'URI="{self._prefix}{seg.msn}.{part.index}.m4s"{independent}'
                )
        if seg.complete:
            lines.append(f"#EXTINF:{seg.duration:.5f},")
            lines.append(f"{self._prefix}{seg.msn}.m4s")
        return "\n".join(lines)
