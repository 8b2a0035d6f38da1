"""The HLS packager writing into the live window: playlists, snapshots, eviction."""

from __future__ import annotations

import asyncio
import re

import pytest

from golive.packager.hls_stream import HlsStreamPackager
from golive.store.live_window import ChannelMedia, RenditionWindow
from tests.support.synthetic import AUDIO, VIDEO, av_frames


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def packaged(seconds: float, *, window_segments: int = 10, end: bool = False, **kw: object):
    media = ChannelMedia("demo", "0badc0de")
    clock = FakeClock()
    pkg = HlsStreamPackager(
        media, part_target=0.2, segment_target=1.0, window_segments=window_segments, clock=clock
    )
    pkg.on_tracks([VIDEO, AUDIO])
    for f in av_frames(seconds, **kw):  # type: ignore[arg-type]
        pkg.on_frame(f)
    if end:
        pkg.on_end()
    return media, pkg, media.renditions["source"]


def test_no_playlist_before_the_first_segment_is_complete() -> None:
    media, _, window = packaged(0.9)
    assert window.latest is None
    assert media.multivariant is None


def test_media_playlist_shape() -> None:
    _, _, window = packaged(5.3)
    text = window.latest.full.decode()
    assert text.startswith("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n")
    assert re.search(
        r"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,"
        r"PART-HOLD-BACK=0.41\d{3},HOLD-BACK=6.0\n",
        text,
    )
    assert re.search(r"#EXT-X-PART-INF:PART-TARGET=0.205\d\d\n", text)
    assert '#EXT-X-MAP:URI="0badc0de/init-0.mp4"' in text
    assert text.count("#EXTINF:") == 5
    assert "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z" in text
    # Parts only for the segments within 3 target durations (6 s) of the end: all of them here.
    assert re.search(r'#EXT-X-PART:DURATION=0.20\d+,URI="0badc0de/0.0.m4s",INDEPENDENT=YES', text)
    hint = re.findall(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="0badc0de/(\d+)\.(\d+)\.m4s"', text)
    assert len(hint) == 1
    assert text.endswith(hint and text.splitlines()[-1] + "\n")


def test_parts_are_listed_only_near_the_end() -> None:
    _, _, window = packaged(12.1)
    text = window.latest.full.decode()
    assert '"0badc0de/3.0.m4s"' not in text  # older than 3 target durations
    assert '"0badc0de/9.0.m4s"' in text


def test_window_slides_and_memory_stays_bounded() -> None:
    _, _, window = packaged(40.1, window_segments=6)
    text = window.latest.full.decode()
    assert text.count("#EXTINF:") == 6
    assert len(window.segments) <= 6 + 3 + 1
    first = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))
    assert min(window.segments) <= first


def test_delta_update_skips_old_segments() -> None:
    _, _, window = packaged(20.1, window_segments=20)
    skipped = window.latest.skipped.decode()
    full = window.latest.full.decode()
    n = int(re.search(r"#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)", skipped).group(1))
    assert n >= 1
    assert skipped.count("#EXTINF:") + n == full.count("#EXTINF:")
    # The EXT-X-MAP is repeated for the first segment that is not skipped.
    assert skipped.index("#EXT-X-SKIP") < skipped.index("#EXT-X-MAP")


def test_blocking_reload_snapshots_are_stable() -> None:
    _, pkg, window = packaged(3.1)
    msn, part = window.last_position
    before = window.snapshot_for(msn, part)
    for f in av_frames(2, start_ms=3100)[1:]:
        pkg.on_frame(f)
    assert window.last_position != (msn, part)
    assert window.snapshot_for(msn, part) is before
    assert window.has_reached(msn, part)
    assert not window.has_reached(msn + 5, 0)


def test_part_past_a_completed_segment_counts_as_the_next_segment() -> None:
    _, _, window = packaged(4.1)
    seg = window.segments[1]
    assert seg.complete
    n = len(seg.parts)
    assert window.snapshot_for(1, n) is window.snapshot_for(2, 0)
    assert window.has_reached(1, n)


def test_end_writes_endlist() -> None:
    _, _, window = packaged(3.1, end=True)
    text = window.latest.full.decode()
    assert text.endswith("#EXT-X-ENDLIST\n")
    assert "PRELOAD-HINT" not in text
    assert window.ended
    assert window.has_reached(999, 0)


def test_segment_bytes_are_the_concatenated_parts() -> None:
    _, _, window = packaged(3.1)
    seg = window.segments[0]
    assert seg.complete
    assert bytes(seg.data) == b"".join(bytes(p.data) for p in seg.parts)
    assert all(isinstance(p.data, memoryview) for p in seg.parts)


def test_multivariant_measures_bandwidth_and_frame_rate() -> None:
    media, _, _ = packaged(3.1)
    text = media.multivariant.decode()
    assert text.startswith("#EXTM3U\n")
    line = next(x for x in text.splitlines() if x.startswith("#EXT-X-STREAM-INF:"))
    assert 'CODECS="avc1.64001f,mp4a.40.2"' in line
    assert "RESOLUTION=320x240" in line
    assert "FRAME-RATE=30.000" in line
    assert int(re.search(r"BANDWIDTH=(\d+)", line).group(1)) > 0
    assert "source/index.m3u8" in text


async def test_waiters_wake_when_the_part_arrives() -> None:
    _media, pkg, window = packaged(2.1)
    msn, part = window.last_position
    target = (msn, part + 1)
    waiter = asyncio.create_task(_wait(window, *target))
    await asyncio.sleep(0)
    assert not waiter.done()
    for f in av_frames(1, start_ms=2100)[1:]:
        pkg.on_frame(f)
    assert await asyncio.wait_for(waiter, 1)


async def _wait(window: RenditionWindow, msn: int, part: int) -> bool:
    while not window.has_reached(msn, part):
        if not await window.wait_changed(5):
            return False
    return True


@pytest.mark.parametrize("seconds", [0.5, 1.5])
def test_audio_only_playlist(seconds: float) -> None:
    media = ChannelMedia("demo", "0badc0de")
    pkg = HlsStreamPackager(media, part_target=0.2, segment_target=1.0, window_segments=6)
    pkg.on_tracks([AUDIO])
    for f in av_frames(seconds + 2, video=False):
        pkg.on_frame(f)
    text = media.renditions["source"].latest.full.decode()
    assert "INDEPENDENT=YES" in text
    assert 'CODECS="mp4a.40.2"' in media.multivariant.decode()
    assert "RESOLUTION" not in media.multivariant.decode()
