"""SIGTERM, SIGHUP and restarts of a real `golive serve` process with a live ffmpeg publisher."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.hls_conformance import parse_media_playlist
from tests.support.media_check import decode
from tests.support.publisher import finish, start_publisher

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

BANNER = re.compile(r"RTMP on port (\d+).*HTTP on port (\d+)")
KEY = re.compile(r"^\s+(live_\S+)$", re.MULTILINE)
SHUTDOWN_TIMEOUT = 6.0


class ServeProcess:
    """`golive serve --config FILE` as a child process; ports and key read from its banner."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.proc: asyncio.subprocess.Process | None = None
        self.banner = ""
        self.rtmp_port = self.http_port = 0

    async def start(self) -> ServeProcess:
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("GOLIVE_")}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "golive",
            "serve",
            "--config",
            str(self.config),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert self.proc.stdout is not None
        lines = []
        async with asyncio.timeout(30):
            while True:
                line = (await self.proc.stdout.readline()).decode()
                assert line, "golive serve exited before its banner"
                lines.append(line)
                if line.startswith("  Watch:"):
                    break
        self.banner = "".join(lines)
        match = BANNER.search(self.banner)
        assert match is not None, self.banner
        self.rtmp_port, self.http_port = int(match[1]), int(match[2])
        return self

    @property
    def key(self) -> str | None:
        match = KEY.search(self.banner)
        return match[1] if match else None

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.http_port}", timeout=20)

    def rtmp_url(self, key: str) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/{key}"

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def stop(self) -> tuple[int, float, str]:
        """SIGTERM; return the exit status, seconds to exit and stderr."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(self.proc.communicate(), 30)
        return self.proc.returncode or 0, time.monotonic() - started, err.decode()

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()


def write_config(path: Path, data_dir: Path, **extra: object) -> Path:
    settings: dict[str, object] = {
        "host": "127.0.0.1",
        "rtmp_port": 0,
        "http_port": 0,
        "data_dir": str(data_dir),
        "shutdown_timeout": SHUTDOWN_TIMEOUT,
        "log_format": "json",
        **extra,
    }
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))
    return path


async def playlist_when(client: httpx.AsyncClient, predicate, timeout: float = 30) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        r = await client.get("/live/demo/source/index.m3u8")
        if r.status_code == 200:
            text = r.text
            if predicate(text):
                return text
        await asyncio.sleep(0.1)
    raise AssertionError(f"playlist never matched; last:\n{text}")


def saved_segments_decode(directory: Path, text: str, kind: str = "video") -> int:
    """Every segment of a saved playlist decodes on its own; returns how many there are."""
    playlist = parse_media_playlist(text)
    assert playlist.segments
    for seg in playlist.segments:
        assert seg.map_uri is not None
        media = decode((directory / seg.map_uri).read_bytes() + (directory / seg.uri).read_bytes())
        assert media.video_pts if kind == "video" else media.audio_pts, seg.uri
        assert seg.duration > 0
    return len(playlist.segments)


def saved_stream_decodes(directory: Path, *, ended: bool) -> int:
    """The saved video (source) and audio renditions: closed playlists, decodable segments."""
    count = 0
    for rendition, kind in (("source", "video"), ("audio", "audio")):
        text = (directory / rendition / "index.m3u8").read_text()
        assert text.rstrip().endswith("#EXT-X-ENDLIST") is ended
        assert "#EXT-X-PRELOAD-HINT" not in text
        segments = saved_segments_decode(directory / rendition, text, kind)
        if rendition == "source":
            count = segments
    return count


async def test_sigterm_during_a_live_publish_closes_everything(tmp_path: Path) -> None:
    data = tmp_path / "data"
    serve = await ServeProcess(write_config(tmp_path / "g.toml", data, reconnect_grace=0)).start()
    try:
        assert serve.key is not None
        publisher = await start_publisher(serve.rtmp_url(serve.key), seconds=30)
        async with serve.client() as client:
            live = await playlist_when(client, lambda t: t.count("#EXTINF") >= 3)
        code, took, err = await serve.stop()
        assert code == 0, err
        assert took < SHUTDOWN_TIMEOUT
        # The publisher was disconnected (told why) rather than left hanging.
        pub_code, _ = await finish(publisher, 10)
        assert pub_code != 0
    finally:
        serve.kill()

    saved = data / "streams" / "demo"
    state = json.loads((saved / "state.json").read_text())
    assert state["resumable"] is False
    count = saved_stream_decodes(saved, ended=True)
    # Everything the live playlist had, and the segment that was in flight, completed.
    assert count >= live.count("#EXTINF") + 1
    # Logs are JSON lines; the stream's lines carry its id.
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    saved_line = next(line for line in lines if "stream saved" in line["message"])
    assert saved_line["channel"] == "demo" and saved_line["stream_id"] == state["stream_id"]


async def test_restart_resumes_the_stream_after_a_discontinuity(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = write_config(tmp_path / "g.toml", data, reconnect_grace=20)
    first = await ServeProcess(config).start()
    key = first.key
    assert key is not None
    try:
        publisher = await start_publisher(first.rtmp_url(key), seconds=30)
        async with first.client() as client:
            await playlist_when(client, lambda t: t.count("#EXTINF") >= 3)
        code, _, err = await first.stop()
        assert code == 0, err
        await finish(publisher, 10)
    finally:
        first.kill()
    saved = json.loads((data / "streams" / "demo" / "state.json").read_text())
    assert saved["resumable"] is True
    saved_stream_decodes(data / "streams" / "demo", ended=False)
    saved_text = (data / "streams" / "demo" / "source" / "index.m3u8").read_text()
    before = parse_media_playlist(saved_text)

    second = await ServeProcess(config).start()
    try:
        assert "Waiting for publishers to resume: demo" in second.banner
        assert not (data / "streams" / "demo").exists()
        async with second.client() as client:
            # Viewers get the saved segments at once, still live (no ENDLIST).
            text = await playlist_when(client, lambda t: "#EXTINF" in t, timeout=5)
            assert "#EXT-X-ENDLIST" not in text
            token = saved["stream_id"]
            assert f"{token}/" in text
            multivariant = await client.get("/live/demo/index.m3u8")
            assert multivariant.status_code == 200 and "source/index.m3u8" in multivariant.text
            publisher = await start_publisher(second.rtmp_url(key), seconds=3, realtime=False)
            # The next reconnect grace is short: SIGHUP applies the edited file.
            write_config(config, data, reconnect_grace=0.5)
            second.signal(signal.SIGHUP)
            assert (await finish(publisher, 30))[0] == 0
            final = await playlist_when(client, lambda t: "#EXT-X-ENDLIST" in t)
        after = parse_media_playlist(final)
        msns = [s.msn for s in after.segments]
        assert msns == list(range(msns[0], msns[0] + len(msns)))  # one stream, numbering goes on
        assert msns[-1] > before.segments[-1].msn
        resumed = [s for s in after.segments if s.msn == before.segments[-1].msn + 1]
        assert resumed and resumed[0].discontinuity
        assert all(s.uri.startswith(f"{token}/") for s in after.segments)
        async with second.client() as client:
            for seg in after.segments:
                assert seg.map_uri is not None
                init = (await client.get(f"/live/demo/source/{seg.map_uri}")).content
                body = (await client.get(f"/live/demo/source/{seg.uri}")).content
                decode(init + body)
            # The audio rendition went on the same way, aligned with the video.
            audio = parse_media_playlist((await client.get("/live/demo/audio/index.m3u8")).text)
            audio_msns = [s.msn for s in audio.segments]
            assert audio_msns == list(range(audio_msns[0], audio_msns[0] + len(audio_msns)))
            assert [s.msn for s in audio.segments if s.discontinuity] == [
                s.msn for s in after.segments if s.discontinuity
            ]
        code, _, err = await second.stop()
        assert code == 0, err
        assert "settings reloaded; changed: reconnect_grace" in err
    finally:
        second.kill()
