"""The VOD thumbnail: which segment the still comes from, a real ffmpeg making it from a
fragmented MP4 in the object store, and every failure only logged (the VOD stays ready)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from golive.record.vod_thumbnail import VodThumbnails, pick_segment
from tests.support.fake_recordings import MemoryStore
from tests.support.publisher import ffmpeg_exe

RID = "thumb-aaaaaaaaaaaa"


@dataclass(frozen=True)
class Seg:
    rendition: str
    sequence: int
    storage_key: str = ""
    init_key: str = ""
    media_start: int = 0
    timescale: int = 90_000
    duration: float = 2.0
    byte_size: int = 0
    program_date_time: float = 0.0
    discontinuity: bool = False
    gap_before: bool = False


def test_the_still_comes_from_source_a_tenth_of_the_way_in() -> None:
    segments = [Seg("audio", i) for i in range(30)] + [Seg("source", i) for i in range(30)]
    chosen = pick_segment(list(reversed(segments)))
    assert chosen is not None and (chosen.rendition, chosen.sequence) == ("source", 3)
    assert pick_segment([Seg("source", 0)]) == Seg("source", 0)
    # No source (a ladder's rendition recorded instead): the first video one, never audio.
    chosen = pick_segment([Seg("audio", 0), Seg("720p", 0), Seg("360p", 0)])
    assert chosen is not None and chosen.rendition == "360p"
    assert pick_segment([Seg("audio", 0)]) is None
    assert pick_segment([]) is None


def fragmented_mp4(tmp_path: Path) -> bytes:
    out = tmp_path / "clip.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            *("-hide_banner", "-loglevel", "error", "-f", "lavfi"),
            *("-i", "testsrc2=size=320x180:rate=30:duration=1"),
            *("-c:v", "libx264", "-g", "30", "-pix_fmt", "yuv420p"),
            *("-movflags", "frag_keyframe+empty_moov+default_base_moof", str(out)),
        ],
        check=True,
        timeout=60,
    )
    return out.read_bytes()


async def test_a_real_ffmpeg_makes_and_stores_the_thumbnail(tmp_path: Path) -> None:
    store = MemoryStore()
    data = fragmented_mp4(tmp_path)
    # The whole fragmented file is init segment + one segment back to back.
    store.objects[f"{RID}/source/init-0.mp4"] = data
    store.objects[f"{RID}/source/0.m4s"] = b""
    seg = Seg("source", 0, f"{RID}/source/0.m4s", f"{RID}/source/init-0.mp4")
    thumbnails = VodThumbnails(store, ffmpeg_exe(), width=160)
    assert await thumbnails.make(RID, [seg])
    jpeg = store.objects[f"{RID}/thumbnail.jpg"]
    assert jpeg.startswith(b"\xff\xd8") and jpeg.endswith(b"\xff\xd9")


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "ffmpeg"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(
    "case", ["ffmpeg fails", "not a jpeg", "no ffmpeg", "objects missing", "too slow"]
)
async def test_failures_are_logged_and_store_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    store = MemoryStore()
    store.objects[f"{RID}/source/init-0.mp4"] = b"init"
    store.objects[f"{RID}/source/0.m4s"] = b"segment"
    seg = Seg("source", 0, f"{RID}/source/0.m4s", f"{RID}/source/init-0.mp4")
    ffmpeg = {
        "ffmpeg fails": script(tmp_path, "cat >/dev/null; echo broken >&2; exit 1"),
        "not a jpeg": script(tmp_path, "cat >/dev/null; echo hello"),
        "no ffmpeg": str(tmp_path / "missing"),
        "objects missing": script(tmp_path, "exit 0"),
        "too slow": script(tmp_path, "exec sleep 30"),
    }[case]
    if case == "objects missing":
        store.objects.clear()
    thumbnails = VodThumbnails(store, ffmpeg, timeout=0.5)
    with caplog.at_level(logging.WARNING, "golive.record"):
        made = await asyncio.wait_for(thumbnails.make(RID, [seg]), 10)
    assert made is False
    assert f"{RID}/thumbnail.jpg" not in store.objects
    assert any(RID in r.getMessage() and "thumbnail" in r.getMessage() for r in caplog.records)
