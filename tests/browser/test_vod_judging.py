"""The VOD as issue 12 judges it: 60 s published by a real ffmpeg publisher (a test pattern
at exactly 30 frames a second, so the frames sent are known) with one reconnect in the middle,
on local disk and on the S3 backend.

One recording per backend, made once (a module-scoped fixture) and checked three ways, each
by a server started afresh on its data folder and storage:

- the VOD over HTTP: every segment of every rendition decodes with PyAV; the source's
  timeline is continuous (defined in ``check_timeline``) across the discontinuity; its
  duration is within one segment of what was sent, and it holds every frame sent;
- the MP4 download (``POST /api/v1/vods/{id}/mp4``, polled, then ``/vod/<id>/download.mp4``)
  has exactly the frames sent;
- hls.js in chromium plays it from start to end at 4x, with no fatal error.

The module is marked ``browser`` (the Makefile runs those one at a time, after the rest), so
that the one 60 s publish per backend serves the browser check too; the two HTTP checks need
no browser and run even where chromium is missing.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import math
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest

from golive.app import GoliveServer
from tests.browser.test_vod_playback import HLS_JS, PAGE
from tests.e2e.test_recording import wait_until_finished, with_prefix
from tests.e2e.test_vod_mp4 import poll_until_done
from tests.hls_conformance import MediaPlaylist, parse_media_playlist
from tests.support.api_tokens import bearer, user_token
from tests.support.media_check import decode
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(300)]

FPS = 30
HALF = 30  # seconds published before the reconnect, and again after it
SENT = 2 * HALF  # seconds sent
SENT_FRAMES = SENT * FPS  # testsrc2 at 30 fps for 30 s is 900 frames, twice
FRAME = 1 / FPS
# The server starts a publisher's new timeline 0.1 s after the old one's last decode time
# (live/publisher.py's _TIMELINE_GAP); in presentation times the hole is that plus the
# distance between a frame's decode and presentation times at either end (B-frames: up to
# three frames here; 0.16-0.2 s measured). The only hole the VOD's timeline may have.
MAX_RECONNECT_HOLE = 0.1 + 4 / 30
RATE = 4.0  # hls.js plays the 60 s in about 15 s
SETTINGS: dict[str, object] = {"reconnect_grace": 5.0, "channel_ladders": {"demo": "passthrough"}}


@dataclass(frozen=True)
class Recorded:
    data: Path
    storage: str
    recording_id: str


async def record(data: Path, storage: str) -> str:
    async with running_server(data, recording_storage=storage, **SETTINGS) as server:
        url = rtmp_url(server, server.demo_key or "")
        for _ in range(2):  # the second publisher is the reconnect, within the grace
            code, err = await finish(await start_publisher(url, seconds=HALF, fps=FPS), HALF + 30)
            assert code == 0, err
        assert server.registry.stop("demo", "test over", end=True)
        assert server.recordings is not None
        recording = await wait_until_finished(server.recordings, timeout=60)
        assert recording.status == "ready"
        return recording.id


@pytest.fixture(scope="module", params=["local", "s3"])
def recorded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """The 60 s recording of one backend, made once for the module's three checks."""
    storage = ""
    if request.param == "s3":
        storage = with_prefix(request.getfixturevalue("s3_server"), f"j-{uuid.uuid4().hex}")
    data = tmp_path_factory.mktemp(f"judged-{request.param}") / "data"
    return Recorded(data, storage, asyncio.run(record(data, storage)))


def serving(recorded: Recorded) -> Any:
    return running_server(recorded.data, recording_storage=recorded.storage, **SETTINGS)


@dataclass
class Segment:
    uri: str
    duration: float  # EXTINF
    discontinuity: bool
    video_pts: list[float]  # presentation times decoded, sorted
    audio_pts: list[float]


async def fetch_rendition(
    server: GoliveServer, recording_id: str, rendition: str
) -> tuple[MediaPlaylist, list[Segment]]:
    """A rendition's VOD playlist, and each of its segments decoded with its init segment."""
    base = f"/vod/{recording_id}/{rendition}"
    out: list[Segment] = []
    async with http_client(server) as client:
        r = await client.get(f"{base}/index.m3u8")
        assert r.status_code == 200, r.text
        playlist = parse_media_playlist(r.text)
        assert playlist.endlist and playlist.playlist_type == "VOD"
        inits: dict[str, bytes] = {}
        for seg in playlist.segments:
            assert seg.map_uri is not None
            if seg.map_uri not in inits:
                inits[seg.map_uri] = (await client.get(f"{base}/{seg.map_uri}")).content
            body = await client.get(f"{base}/{seg.uri}")
            assert body.status_code == 200, seg.uri
            media = decode(inits[seg.map_uri] + body.content)
            assert media.audio_pts, f"{rendition} {seg.uri}: no audio decoded"
            assert bool(media.video_pts) == (rendition == "source"), f"{rendition} {seg.uri}"
            out.append(
                Segment(
                    seg.uri,
                    seg.duration,
                    seg.discontinuity,
                    sorted(media.video_pts),
                    sorted(media.audio_pts),
                )
            )
    return playlist, out


def check_timeline(segments: list[Segment]) -> None:
    """What "continuous" means for the VOD's timeline, asserted:

    1. Within a timeline (between discontinuities), frames follow each other exactly one
       frame apart (1/30 s, to 1 ms), across segment boundaries too: no frame missing, none
       repeated, no jump.
    2. Across the discontinuity (the reconnect), presentation times go on increasing: the new
       timeline starts after the old one's last frame, and at most ``MAX_RECONNECT_HOLE``
       (0.23 s) later. (A player lines the two up at the discontinuity anyway; this says
       that nothing of the old timeline is overlapped or pushed away, and the hole is the
       server's small timeline gap, not lost media.)
    3. Each segment's EXTINF is the media it holds (its frames times 1/30 s, to a frame), so
       the playlist's time, which a player seeks by, is the media's time.
    """
    assert [s.discontinuity for s in segments].count(True) == 1, "one reconnect"
    for before, after in itertools.pairwise(segments):
        step = after.video_pts[0] - before.video_pts[-1]
        if after.discontinuity:
            assert FRAME * 0.5 < step <= MAX_RECONNECT_HOLE, (
                f"{after.uri}: the new timeline starts {step:.4f} s after the old one's end"
            )
        else:
            assert step == pytest.approx(FRAME, abs=0.001), f"{after.uri}: a jump of {step:.4f} s"
    for seg in segments:
        steps = [b - a for a, b in itertools.pairwise(seg.video_pts)]
        assert all(s == pytest.approx(FRAME, abs=0.001) for s in steps), seg.uri
        assert seg.duration == pytest.approx(len(seg.video_pts) * FRAME, abs=FRAME + 0.001), (
            f"{seg.uri}: EXTINF {seg.duration} for {len(seg.video_pts)} frames"
        )


async def test_the_vod_holds_every_frame_sent_on_a_continuous_timeline(
    recorded: Recorded,
) -> None:
    async with serving(recorded) as server:
        source_pl, source = await fetch_rendition(server, recorded.recording_id, "source")
        _, audio = await fetch_rendition(server, recorded.recording_id, "audio")
        assert server.recordings is not None
        recording = await server.recordings.get(recorded.recording_id)
        assert recording is not None
    check_timeline(source)
    assert sum(len(s.video_pts) for s in source) == SENT_FRAMES
    longest = max(s.duration for s in source)
    listed = math.fsum(s.duration for s in source)
    assert listed == pytest.approx(SENT, abs=longest)
    assert recording.duration == pytest.approx(listed, abs=0.01)
    assert [s.discontinuity for s in audio].count(True) == 1
    # Audio: AAC frames of 1024 samples at 48 kHz, none missing within a timeline.
    aac = 1024 / 48_000
    for before, after in itertools.pairwise(audio):
        if not after.discontinuity:
            step = after.audio_pts[0] - before.audio_pts[-1]
            assert step == pytest.approx(aac, abs=0.002), f"audio {after.uri}: {step:.4f} s"
    assert math.fsum(s.duration for s in audio) == pytest.approx(SENT, abs=longest)
    assert len(source_pl.segments) == len(source)


async def test_the_mp4_download_has_every_frame_sent(recorded: Recorded) -> None:
    async with serving(recorded) as server:
        assert server.channels is not None and server.users is not None
        token = bearer(await user_token(server, "owner", ["write"]))
        owner = await server.users.by_name("owner")
        assert owner is not None
        await server.channels.update("demo", owner_id=owner.id)
        api = f"/api/v1/vods/{recorded.recording_id}/mp4"
        async with http_client(server) as client:
            r = await client.post(api, headers=token)
            assert r.status_code in (200, 202), r.text
            state, _ = await poll_until_done(client, api, token, timeout=120)
            assert state["status"] == "ready", state
            r = await client.get(f"/vod/{recorded.recording_id}/download.mp4")
            assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
            mp4 = r.content
    # Frames counted twice: as the file's index lists them, and decoded (ffprobe's
    # -count_frames does the latter; the imageio-ffmpeg wheel has no ffprobe, PyAV decodes).
    media = decode(mp4)
    assert len(media.video_pts) == SENT_FRAMES
    with av.open(io.BytesIO(mp4), format="mp4") as container:
        assert container.streams.video[0].frames == SENT_FRAMES
        duration = (container.duration or 0) / 1_000_000
    assert duration == pytest.approx(SENT, abs=1.0)


PLAY = """(src) => new Promise((resolve) => {
  const video = document.getElementById('video');
  const out = {errors: [], fatal: null, ended: false};
  const hls = new Hls({enableWorker: false});
  hls.on(Hls.Events.ERROR, (_, data) => {
    out.errors.push([data.details, +video.currentTime.toFixed(3)]);
    if (data.fatal) { out.fatal = data.details; resolve(out); }
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => { video.playbackRate = RATE; video.play(); });
  video.addEventListener('ended', () => {
    const p = video.played;
    out.played = Array.from({length: p.length}, (_, i) => [p.start(i), p.end(i)]);
    out.ended = true;
    out.currentTime = video.currentTime;
    out.duration = video.duration;
    out.rate = video.playbackRate;
    resolve(out);
  });
  hls.loadSource(src);
  hls.attachMedia(video);
})""".replace("RATE", str(RATE))


async def test_hlsjs_plays_the_vod_from_start_to_end(
    recorded: Recorded, browser: Any, artifacts: Path
) -> None:
    assert HLS_JS.exists(), f"{HLS_JS} is missing (make web installs it)"
    async with serving(recorded) as server:
        origin = f"http://127.0.0.1:{server.http_port}"
        page = await browser.new_page(bypass_csp=True)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{origin}/healthz")  # the origin's own page: same-origin requests
        await page.set_content(PAGE)
        await page.add_script_tag(path=str(HLS_JS))
        started = time.monotonic()
        result = await page.evaluate(
            f"(src) => ({PLAY})(src)", f"{origin}/vod/{recorded.recording_id}/index.m3u8"
        )
        took = time.monotonic() - started
        await page.screenshot(path=str(artifacts / "vod-judged-ended.png"))
        await page.close()
    print("hls.js", result, f"{took:.1f} s")
    assert not errors, errors
    assert result["fatal"] is None, result
    # Non-fatal errors: only hls.js stepping over the small holes at the start (the first
    # frame's presentation offset) and at the reconnect (see check_timeline), as it does live.
    holes = {"bufferSeekOverHole", "bufferStalledError", "bufferNudgeOnStall"}
    for details, at in result["errors"]:
        assert details in holes and (at < 0.5 or abs(at - HALF) < 1.0), result["errors"]
    assert result["ended"] and result["rate"] == RATE, result
    assert result["duration"] == pytest.approx(SENT, abs=2.5)
    assert result["currentTime"] == pytest.approx(result["duration"], abs=0.5)
    # Played through, not skipped: what was played covers the whole VOD but for the holes
    # hls.js jumps (the first frame's offset and the reconnect's gap: fractions of a second).
    played = sum(end - start for start, end in result["played"])
    assert played >= result["duration"] - 1.0, result["played"]
    assert took >= SENT / RATE - 1, f"{SENT} s played in {took:.1f} s"
