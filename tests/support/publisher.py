"""A real publisher for tests: the ffmpeg binary from the imageio-ffmpeg wheel."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import cache

import imageio_ffmpeg


@cache
def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def publish_args(
    url: str,
    *,
    seconds: float,
    size: str = "640x360",
    fps: int = 30,
    gop: int = 30,
    bframes: int = 2,
    video: bool = True,
    audio: bool = True,
    extra: Sequence[str] = (),
    realtime: bool = True,
) -> list[str]:
    """ffmpeg arguments for a synthetic test pattern + tone published to ``url``."""
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin"]
    if realtime:
        args += ["-re"]
    if video:
        args += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    args += ["-t", str(seconds)]
    if video:
        args += [
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            str(gop),
            "-keyint_min",
            str(gop),
            "-sc_threshold",
            "0",
            "-bf",
            str(bframes),
        ]
    if audio:
        args += ["-c:a", "aac", "-b:a", "96k"]
    args += [*extra, "-f", "flv", url]
    return args


async def start_publisher(url: str, **kw: object) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *publish_args(url, **kw),  # type: ignore[arg-type]
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process, timeout: float = 60) -> tuple[int, str]:
    """Wait for the publisher; return its exit code and stderr text."""
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        _, err = await proc.communicate()
    return proc.returncode or 0, err.decode(errors="replace")
