"""CPU cost of the costliest messages an unauthenticated RTMP client can send.

Each case is one maximal command (at most ``max_command_size`` = 64 KiB, at most 256 AMF0
values, chunks of at least 128 bytes) fed to a fresh session right after the handshake;
the figure is the best of ``--runs`` runs (the minimum is the cost; the rest is other
processes on a shared machine). This is the per-message budget docs/protocols.md states.

Usage: .venv/bin/python bench/rtmp_command_cost.py [--runs 50]
"""

from __future__ import annotations

import argparse
import struct
import time
from collections.abc import Callable

from golive.ingest.rtmp.chunk_stream import ChunkStreamWriter
from golive.ingest.rtmp.handshake import HANDSHAKE_SIZE
from golive.ingest.rtmp.session import RtmpProtocolError, RtmpServerSession
from golive.media import amf0

LIMIT = 64 * 1024
HEAD = amf0.encode("connect", 1.0)


def _session() -> RtmpServerSession:
    session = RtmpServerSession(allowed_apps=("live",))
    c1 = bytes(8) + bytes(range(256)) * 6
    session.receive_data(b"\x03" + c1[:HANDSHAKE_SIZE])
    out = session.data_to_send()
    session.receive_data(out[1 : 1 + HANDSHAKE_SIZE])
    return session


def _command(body: bytes) -> bytes:
    return ChunkStreamWriter().write(3, 20, 0, 0, body[:LIMIT])


def _filled(filler: bytes) -> bytes:
    return _command(HEAD + filler * ((LIMIT - len(HEAD)) // len(filler)))


CASES: dict[str, Callable[[], bytes]] = {
    "64 KiB of AMF0 null markers": lambda: _filled(b"\x05"),
    "64 KiB long string, invalid UTF-8": lambda: _command(
        HEAD
        + b"\x0c"
        + struct.pack(">I", LIMIT - len(HEAD) - 5)
        + b"\xff" * (LIMIT - len(HEAD) - 5)
    ),
    "strings of invalid UTF-8": lambda: _filled(b"\x02\x00\x0c" + b"\xff" * 12),
    "dates": lambda: _filled(b"\x0b" + struct.pack(">dh", 1e12, 0)),
    "objects of one key": lambda: _filled(b"\x03\x00\x04abcd\x05\x00\x00\x09"),
    "zero-length messages (256 KiB read)": lambda: (
        ChunkStreamWriter().write(3, 3, 0, 0, b"") + b"\xc3" * (256 * 1024)
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    for name, make in CASES.items():
        data = make()
        best = float("inf")
        outcome = "accepted"
        for _ in range(args.runs):
            session = _session()
            start = time.perf_counter()
            try:
                session.receive_data(data)
            except RtmpProtocolError as exc:
                outcome = f"refused: {str(exc)[:50]}"
            best = min(best, time.perf_counter() - start)
        print(f"{name:40s} {len(data):7d} B  {best * 1000:5.2f} ms  {outcome}")


if __name__ == "__main__":
    main()
