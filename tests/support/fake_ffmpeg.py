"""A stand-in for the transcoder's ffmpeg child, for supervision tests.

Takes the same command line (FLV on stdin, ``pipe:N`` outputs) and copies every video tag to
every output unchanged, so "encoding" costs nothing and is exact. Environment variables make
it misbehave on purpose:

- ``FAKE_FFMPEG_DELAY``: seconds to sleep per video tag (an encoder slower than real time);
- ``FAKE_FFMPEG_STALL``: stop reading stdin after the header (an encoder that hangs);
- ``FAKE_FFMPEG_EXIT``: exit at once with this status (an encoder that cannot start).

``fake_ffmpeg_command(tmp_path)`` writes an executable wrapper to use as the ffmpeg binary.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

FLV_HEADER = b"FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00"


def fake_ffmpeg_command(directory: Path) -> str:
    """An executable that runs this module as ffmpeg, with this interpreter."""
    path = directory / "fake-ffmpeg"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n')
    path.chmod(0o755)
    return str(path)


def main(argv: list[str]) -> int:
    from golive.media.flv_reader import FlvTagReader

    if os.environ.get("FAKE_FFMPEG_EXIT"):
        return int(os.environ["FAKE_FFMPEG_EXIT"])
    delay = float(os.environ.get("FAKE_FFMPEG_DELAY", "0"))
    outputs = [int(a.split(":", 1)[1]) for a in argv if a.startswith("pipe:") and a != "pipe:0"]
    for fd in outputs:
        os.write(fd, FLV_HEADER)
    if os.environ.get("FAKE_FFMPEG_STALL"):
        time.sleep(3600)
    reader = FlvTagReader()
    stdin = sys.stdin.buffer.raw  # type: ignore[attr-defined]
    while True:
        data = stdin.read(65536)
        if not data:
            break
        for tag in reader.feed(data):
            if tag.type != 9:
                continue
            if delay and tag.body[1] == 1:
                time.sleep(delay)
            size = len(tag.body)
            raw = (
                bytes([9])
                + size.to_bytes(3, "big")
                + (tag.timestamp_ms & 0xFFFFFF).to_bytes(3, "big")
                + bytes([tag.timestamp_ms >> 24, 0, 0, 0])
                + tag.body
                + (11 + size).to_bytes(4, "big")
            )
            for fd in outputs:
                os.write(fd, raw)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
