"""In-process cost of one passthrough stream, stage by stage, without sockets or other processes.

The bench input is turned once into the bytes an RTMP publisher sends (handshake, connect,
publish, then every FLV tag as an RTMP message in 4096-byte chunks, as ffmpeg and OBS send
them), and fed to golive's own pipeline in 16 KiB reads (``--read``): the RTMP session
(sans-I/O, which demuxes the FLV tags itself), the publisher session, the stream hub and the packager with
golive's default outputs for a passthrough stream (source + audio-only rendition). CPU time (process time, one thread)
is reported per second of media, for each stage cumulatively, so the cost of every layer shows:

    rtmp        session.receive_data only: chunks, messages and the FLV demux (Tracks, Frames)
    +source     + PublisherSession -> StreamHub -> HlsStreamPackager, the source rendition only
    +package    the same with the audio-only rendition too (what the server does by default)

The audio-only rendition's cost is +package minus +source, the source rendition's is +source
minus rtmp; the first should follow its bytes (under a tenth of the second). (Before the
session demuxed FLV itself, rtmp and the demux were two stages: "+demux" in older results.)

The figure is stable to a few percent from run to run (no scheduler, no network), which makes
it the regression check for the ingest path; bench/ingest.py measures the real server beside
nginx-rtmp. ``--profile`` prints the top functions of the whole pipeline (cProfile).

Usage: .venv/bin/python bench/pipeline_cost.py [--seconds 60] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO, ensure_input, read_flv
from golive.ingest.rtmp.chunk_stream import ChunkStreamWriter
from golive.ingest.rtmp.handshake import HANDSHAKE_SIZE
from golive.ingest.rtmp.session import RtmpServerSession
from golive.live.hub import StreamHub
from golive.live.publisher import PublisherSession
from golive.media import amf0
from golive.media.frame import VIDEO_TRACK_ID, Frame, Track
from golive.packager.hls_stream import HlsStreamPackager
from golive.store.live_window import ChannelMedia

CHUNK = 4096
KEY = "pipelinecostkey-abcdefghijklmnopqrstuvwxyz"


def publisher_bytes(seconds: float) -> tuple[bytes, bytes, int]:
    """(handshake + commands, media messages, media milliseconds) of the input, looped."""
    tags = read_flv(ensure_input())
    w = ChunkStreamWriter()
    c1 = bytes(8) + bytes(range(256)) * 6
    head = b"\x03" + c1[:HANDSHAKE_SIZE]
    cmds = [
        w.write(
            3, 20, 0, 0, amf0.encode("connect", 1.0, {"app": "live", "tcUrl": "rtmp://x/live"})
        ),
        w.write(3, 20, 0, 0, amf0.encode("createStream", 2.0, None)),
        w.write(8, 20, 1, 0, amf0.encode("publish", 3.0, None, KEY, "live")),
    ]
    set_size = w.write(2, 1, 0, 0, CHUNK.to_bytes(4, "big"))
    w.chunk_size = CHUNK
    media = bytearray(set_size)
    frames = [t for t in tags if t.kind in (TAG_AUDIO, TAG_VIDEO)]
    headers = [t for t in frames if t.is_header]
    body = [t for t in frames if not t.is_header]
    loop_ms = body[-1].ts - body[0].ts + 33
    for t in [t for t in tags if t.kind == TAG_SCRIPT][:1]:
        media += w.write(4, 18, 1, 0, t.body)
    for t in headers:
        media += w.write(4 if t.kind == TAG_VIDEO else 5, t.kind, 1, 0, t.body)
    end_ms = int(seconds * 1000)
    offset = 0
    while True:
        for t in body:
            ts = t.ts + offset
            if ts >= end_ms:
                return head + b"".join(cmds), bytes(media), end_ms
            media += w.write(4 if t.kind == TAG_VIDEO else 5, t.kind, 1, ts, t.body)
        offset += loop_ms


def run_once(
    stage: str, seconds: float, profile: cProfile.Profile | None = None, read: int = 16384
) -> float:
    """CPU seconds per media second of one stage of the pipeline."""
    head, media, media_ms = publisher_bytes(seconds)
    session = RtmpServerSession(allowed_apps=("live",))
    session.receive_data(head[: 1 + HANDSHAKE_SIZE])
    s0s1s2 = session.data_to_send()
    session.receive_data(s0s1s2[1 : 1 + HANDSHAKE_SIZE] + head[1 + HANDSHAKE_SIZE :])
    session.accept_publish()
    session.data_to_send()
    wall = [1_700_000_000.0]
    media_store = ChannelMedia("ch", "tok")
    hub = StreamHub("ch", "s1", wall[0])
    packager = HlsStreamPackager(
        media_store,
        part_target=0.2,
        segment_target=1.0,
        window_segments=15,
        clock=lambda: wall[0],
        audio_only_variant=stage == "+package",
    )
    hub.add_consumer(packager)
    hub.essential = packager
    sink = PublisherSession(
        hub,
        disconnect=lambda reason: None,
        on_close=lambda s, r: None,
        keyframe_timeout=10.0,
        resumed=False,
    )
    on_frame: Callable[[Frame], None] = sink.on_frame
    on_track: Callable[[Track], None] = sink.on_track
    package = stage in ("+source", "+package")
    if profile is not None:
        profile.enable()
    start = time.process_time()
    for pos in range(0, len(media), read):
        events = session.receive_data(media[pos : pos + read])
        session.data_to_send()
        if not package:
            continue
        for ev in events:
            if type(ev) is Frame:
                if ev.track_id == VIDEO_TRACK_ID:
                    wall[0] = 1_700_000_000.0 + ev.dts / 90_000
                on_frame(ev)
            elif isinstance(ev, Track):
                on_track(ev)
    used = time.process_time() - start
    if profile is not None:
        profile.disable()
    if package:
        source = media_store.renditions["source"]
        assert source.latest is not None and len(source.segments) > 3, "nothing was packaged"
    return used / (media_ms / 1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="media seconds per run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the whole pipeline")
    parser.add_argument(
        "--read", type=int, default=16384, help="bytes per read (a socket's: 1400 to 64 KiB)"
    )
    args = parser.parse_args()
    if args.profile:
        prof = cProfile.Profile()
        run_once("+package", args.seconds, prof)
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(30)
        print(out.getvalue())
        return 0
    print("| stage | CPU ms per media second, median (min-max) of", args.repeat, "runs |")
    print("|---|---|")
    medians = {}
    for stage in ("rtmp", "+source", "+package"):
        runs = [run_once(stage, args.seconds, read=args.read) * 1000 for _ in range(args.repeat)]
        medians[stage] = med = statistics.median(runs)
        print(f"| {stage} | {med:.2f} ({min(runs):.2f}-{max(runs):.2f}) |")
    source = medians["+source"] - medians["rtmp"]
    audio = medians["+package"] - medians["+source"]
    print(
        f"\nsource rendition {source:.2f} ms per media s, audio-only rendition {audio:.2f} "
        f"({audio / source:.0%} of the source's; its bytes: 128 of 3128 kb/s, 4%)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
