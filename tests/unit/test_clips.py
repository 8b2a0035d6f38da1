"""Clips, the pure parts: which segments a range covers, the clip's rows and keys, the
playlist read back for the MP4, the media path pattern, and who may clip."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

import pytest

from golive.accounts.attempt_store import AttemptCounter, LocalAttemptStore
from golive.clip_requests import Clipper, ClipRefused, ClipRequests, clean_title
from golive.db.models import CLIP_EVERYONE, CLIP_MODERATORS
from golive.http.clip_media import PREFIX as CLIP_PREFIX
from golive.http.vod_media import media_path_pattern
from golive.record.clip_copy import clip_rows
from golive.record.clip_index import parse_clip_playlist
from golive.record.clip_range import ClipRangeError, cut_at_offset, cut_at_time
from golive.record.vod_playlists import media_playlist

T0 = 1_700_000_000.0
CLIP = "Abcdefghijklmnop"


@dataclass(frozen=True)
class Row:
    rendition: str
    sequence: int
    duration: float
    program_date_time: float
    media_start: int = 0
    timescale: int = 90_000
    byte_size: int = 1000
    storage_key: str = ""
    init_key: str = ""
    discontinuity: bool = False
    gap_before: bool = False


def recording(durations: list[float], rendition: str = "source") -> list[Row]:
    rows, t = [], T0
    for seq, d in enumerate(durations):
        rows.append(
            Row(
                rendition,
                seq,
                d,
                t,
                media_start=round((t - T0) * 90_000),
                storage_key=f"REC0000000000000/{rendition}/{seq}.m4s",
                init_key=f"REC0000000000000/{rendition}/init-0.mp4",
            )
        )
        t += d
    return rows


def both(durations: list[float]) -> dict[str, list[Any]]:
    return {"source": recording(durations), "audio": recording(durations, "audio")}


def test_a_vod_range_starts_on_the_segment_holding_the_start() -> None:
    cut = cut_at_offset(both([2.0] * 30), start=10.7, duration=10)
    assert cut.start == 10.0  # rounded down to the segment's start
    assert [s.sequence for s in cut.renditions["source"]] == [5, 6, 7, 8, 9]
    assert cut.duration == 10.0
    assert [s.sequence for s in cut.renditions["audio"]] == [5, 6, 7, 8, 9]


def test_the_end_is_rounded_to_the_nearest_boundary() -> None:
    cut = cut_at_offset(both([2.0] * 30), start=0, duration=7)  # 3.5 segments
    assert cut.duration == 8.0  # 4 segments: 1 s over beats 1 s under... ties go long
    cut = cut_at_offset(both([2.0] * 30), start=0, duration=6.9)
    assert cut.duration == 6.0
    assert abs(cut.duration - 6.9) <= 1.0  # within half a segment


@pytest.mark.parametrize(
    ("start", "duration"),
    [(-1, 10), (60, 10), (55, 10), (math.nan, 10), (0, 0), (0, 4.9), (0, 61), (0, math.inf)],
)
def test_a_vod_range_outside_the_recording_or_of_a_bad_length_is_refused(
    start: float, duration: float
) -> None:
    with pytest.raises(ClipRangeError):
        cut_at_offset(both([2.0] * 30), start=start, duration=duration)


def test_the_last_seconds_of_a_live_recording() -> None:
    cut = cut_at_time(both([1.0] * 100), None, 30)
    assert [s.sequence for s in cut.renditions["source"]] == list(range(70, 100))
    assert cut.start == 70.0 and cut.duration == 30.0


def test_a_live_range_by_date_time() -> None:
    cut = cut_at_time(both([1.0] * 100), T0 + 20.4, 10)
    assert cut.renditions["source"][0].sequence == 20 and cut.duration == 10.0
    # Ending a little after what is stored (the live edge's segments not stored yet): taken.
    cut = cut_at_time(both([1.0] * 100), T0 + 92, 10)
    assert cut.duration == 8.0
    for start in (T0 - 5, T0 + 100, T0 + 95.5):
        with pytest.raises(ClipRangeError):
            cut_at_time(both([1.0] * 100), start, 10)
    with pytest.raises(ClipRangeError, match="recorded so far"):
        cut_at_time(both([1.0] * 10), None, 30)  # only 10 s recorded


def test_a_live_range_across_a_reconnect_keeps_the_discontinuity() -> None:
    rows = recording([1.0] * 20)
    rows[10:] = [replace(r, program_date_time=r.program_date_time + 3) for r in rows[10:]]
    rows[10] = replace(rows[10], discontinuity=True)
    cut = cut_at_time({"source": rows}, T0 + 5, 10)
    copied = clip_rows(CLIP, cut.renditions)["source"]
    assert [r.discontinuity for r in copied].count(True) == 1
    assert copied[0].discontinuity is False  # a clip starts a timeline of its own


def test_clip_rows_are_renumbered_with_their_own_keys() -> None:
    cut = cut_at_offset(both([2.0] * 30), start=20, duration=6)
    rows = clip_rows(CLIP, cut.renditions)
    source = rows["source"]
    assert [r.sequence for r in source] == [0, 1, 2]
    assert [r.storage_key for r in source] == [f"clips/{CLIP}/source/{n}.m4s" for n in range(3)]
    assert {r.init_key for r in source} == {f"clips/{CLIP}/source/init-0.mp4"}
    assert source[0].source_key == "REC0000000000000/source/10.m4s"
    # What the MP4 export reads back from the stored playlist is the same list.
    back = parse_clip_playlist(media_playlist(source), CLIP, "source")
    assert [(r.storage_key, r.init_key, r.duration) for r in back] == [
        (r.storage_key, r.init_key, r.duration) for r in source
    ]


def test_a_playlist_cannot_point_the_export_outside_the_clip() -> None:
    text = (
        '#EXTM3U\n#EXT-X-MAP:URI="../../x/init-0.mp4"\n#EXTINF:1.000,\n../0.m4s\n'
        '#EXT-X-MAP:URI="init-0.mp4"\n#EXTINF:1.000,\n/etc/passwd\n#EXTINF:1.000,\n3.m4s\n'
    )
    rows = parse_clip_playlist(text, CLIP, "source")
    assert [r.storage_key for r in rows] == [f"clips/{CLIP}/source/3.m4s"]


def test_the_clip_media_paths_are_strict() -> None:
    pattern = media_path_pattern(CLIP_PREFIX, thumbnail=True)
    good = [
        f"/clip/{CLIP}/index.m3u8",
        f"/clip/{CLIP}/thumbnail.jpg",
        f"/clip/{CLIP}/download.mp4",
        f"/clip/{CLIP}/source/index.m3u8",
        f"/clip/{CLIP}/source/0.m4s",
        f"/clip/{CLIP}/audio/init-0.mp4",
    ]
    bad = [
        f"/clip/{CLIP}/../{CLIP}/index.m3u8",
        f"/clip/{CLIP}/source/..%2Findex.m3u8",
        f"/clip/{CLIP}/source/thumbnail.jpg",
        f"/clip/{CLIP}/Source/0.m4s",
        "/clip/short/index.m3u8",
        f"/clip/{CLIP}/.hidden",
        f"/vod/{CLIP}/index.m3u8",
    ]
    assert all(pattern.fullmatch(p) for p in good)
    assert not any(pattern.fullmatch(p) for p in bad)
    # VOD paths keep their own pattern: no thumbnail there (the pages helper's).
    assert media_path_pattern("/vod/").fullmatch(f"/vod/{CLIP}/thumbnail.jpg") is None
    # A fenced writer's token folder (record/storage_keys.py), and nothing else, may sit
    # between a rendition and its media.
    vod = media_path_pattern("/vod/")
    assert vod.fullmatch(f"/vod/{CLIP}/source/t1765000000000/12.m4s")
    assert vod.fullmatch(f"/vod/{CLIP}/source/t9/init-3.mp4")
    for odd in ("t/1.m4s", "tx9/1.m4s", "t9/t9/1.m4s", "t9/index.m3u8", "9/1.m4s"):
        assert vod.fullmatch(f"/vod/{CLIP}/source/{odd}") is None, odd


def test_titles_are_one_clean_line() -> None:
    assert clean_title("  a\tgood\n\u202etitle\x00 ") == "a good title"
    assert clean_title(None) == ""
    assert len(clean_title("x" * 500)) == 200
    with pytest.raises(ClipRefused):
        clean_title(5)


class FakeClips:
    def __init__(self, moderators: set[int]) -> None:
        self.moderators = moderators

    async def is_moderator(self, channel_id: int, user_id: int) -> bool:
        return user_id in self.moderators


def requests(moderators: set[int], rate: AttemptCounter | None = None) -> ClipRequests:
    return ClipRequests(
        recordings=None,  # type: ignore[arg-type]
        clips=FakeClips(moderators),  # type: ignore[arg-type]
        channels=None,  # type: ignore[arg-type]
        store=None,  # type: ignore[arg-type]
        is_live=lambda channel: True,
        rate=rate,
    )


async def test_who_may_clip() -> None:
    owner, moderator, viewer, admin = (
        Clipper(1, "o", False),
        Clipper(2, "m", False),
        Clipper(3, "v", False),
        Clipper(4, "a", True),
    )
    service = requests({2})
    for permission, allowed in ((CLIP_EVERYONE, {1, 2, 3, 4}), (CLIP_MODERATORS, {1, 2, 4})):
        channel: Any = SimpleNamespace(id=7, owner_id=1, clip_permission=permission)
        got = {
            u.id for u in (owner, moderator, viewer, admin) if await service.may_clip(u, channel)
        }
        assert got == allowed, permission


async def test_the_rate_limit_counts_atomically() -> None:
    service = requests(set(), LocalAttemptStore().counter("clip", limit=2, window=60.0))
    user = Clipper(9, "v", False)
    # Three attempts at once: the check and the count are one step, so one is refused.
    results = await asyncio.gather(*(service._take(user) for _ in range(3)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, ClipRefused)]
    assert len(refused) == 1
    assert refused[0].status == 429 and refused[0].code == "clip_rate_limited"


async def test_a_refused_request_gives_its_attempt_back() -> None:
    service = requests(set(), LocalAttemptStore().counter("clip", limit=1, window=60.0))
    user = Clipper(9, "v", False)
    for _ in range(3):  # a bad length is refused before any lookup, and not counted
        with pytest.raises(ClipRefused) as refused:
            await service.from_vod(user, "x" * 16, start=0, duration=0, title="")
        assert refused.value.status == 422
    for bad in ("30", True, [30]):
        with pytest.raises(ClipRefused) as refused:
            await service.from_live(user, "demo", start_pdt=None, duration=bad, title="")
        assert refused.value.code == "invalid_clip"
    await service._take(user)  # the one attempt is still free
