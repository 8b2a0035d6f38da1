"""DVR benchmark: seeking back in a live stream, and what the long DVR playlists cost.

1. **Seek to first frame.** golive (its defaults: recording on, local disk, ``dvr_window``
   2 h) takes one passthrough publisher of the bench input (``ffmpeg -re -stream_loop -1 -c
   copy``, as bench/ingest.py). After ``--warmup`` s, ``--seeks`` times: a player that holds
   the DVR playlist seeks ``--back`` s behind the live edge, into segments the live window no
   longer holds (served from the recording): the time from asking for the init segment and
   that segment to the first decoded video frame (PyAV) is its seek-to-first-frame, on
   loopback. Each seek asks for a different segment (no HTTP cache in between; the segment
   file is likely in the OS page cache, having been written seconds before). The DVR
   playlist's full and delta (``_HLS_skip=YES``) answer times are measured at the same time.
2. **Clip to playable.** On the same live stream, ``--clips`` times: a clip of the last 30 s
   is asked of the API (``POST /api/v1/channels/<ch>/clips``, an administrator's write
   token made with the CLI); the time from the request to its answer (the segments copied,
   on local disk hard links, and the clip's playlists stored), and to the clip's playlist
   and first segment fetched (playable).
3. **Rendering a 2-hour playlist.** In process, with no server: a DVR history of 7,200
   one-second segments (2 h) plus a 15-segment live window, rendered full and as a delta
   update the way the origin does for a new part (``--renders`` times each; median, max).

Items 1 and 2 run ``--repeat`` times, each on a fresh server: the table gives the median and
max of every sample, and each run's median.

Usage: .venv/bin/python bench/dvr.py [--warmup 45] [--seeks 10] [--back 30] [--clips 5]
       [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import statistics
import sys
import time
from pathlib import Path

import av
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from common import (
    GoliveServer,
    bench_parser,
    command_line,
    ensure_input,
    log,
    machine_info,
    md_table,
    run_bench,
)
from ingest import start_publishers, stop_publishers


def first_frame(init: bytes, segment: bytes) -> bool:
    with av.open(io.BytesIO(init + segment), format="mp4") as container:
        video = container.streams.video[0]
        for packet in container.demux(video):
            for _ in packet.decode():
                return True
    return False


def summary(values: list[float], scale: float = 1000.0) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values) * scale:.1f} / {max(values) * scale:.1f}"


def api_token(server: GoliveServer) -> str:
    """An administrator's write token for the bench's server (through golive's CLI)."""
    import os
    import subprocess

    env = {**os.environ, **common.TREE.env()}  # the tree use_tree() chose
    cli = [sys.executable, "-m", "golive"]
    data = ["--data-dir", str(server.data_dir)]
    subprocess.run(
        [*cli, "user", "add", "bench", "--admin", *data],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    out = subprocess.run(
        [*cli, "token", "create", "bench", "--scope", "write", *data],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    found = re.search(r"Token:\s+(\S+)", out)
    assert found is not None, out
    return found.group(1)


async def clip_times(
    client: httpx.AsyncClient, server: GoliveServer, token: str, count: int
) -> tuple[list[float], list[float]]:
    """``count`` clips of the last 30 s: seconds to the API's answer, and to playable."""
    channel = server.channels[0][0]
    answered: list[float] = []
    playable: list[float] = []
    auth = {"authorization": f"Bearer {token}"}
    for _ in range(count):
        started = time.perf_counter()
        made = await client.post(
            f"{server.http}/api/v1/channels/{channel}/clips", json={"duration": 30}, headers=auth
        )
        answered.append(time.perf_counter() - started)
        assert made.status_code == 201, made.text
        base = f"{server.http}/clip/{made.json()['id']}/source"
        playlist = await client.get(f"{base}/index.m3u8")
        assert playlist.status_code == 200, playlist.text
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', playlist.text)
        first = next(u for u in playlist.text.splitlines() if u and not u.startswith("#"))
        assert init is not None
        parts = await asyncio.gather(
            client.get(f"{base}/{init.group(1)}"), client.get(f"{base}/{first}")
        )
        assert all(p.status_code == 200 for p in parts)
        playable.append(time.perf_counter() - started)
        log(f"  clip: answered {1000 * answered[-1]:.0f} ms, playable {1000 * playable[-1]:.0f} ms")
        await asyncio.sleep(6.5)  # under the per-user limit of 10 clips a minute
    return answered, playable


SEEK_ROWS = [
    ("seek", "seek to first frame (init + segment from the recording, decoded)"),
    ("full", "dvr.m3u8, full"),
    ("delta", "dvr.m3u8, `_HLS_skip=YES`"),
    ("clip_answered", "clip of the last 30 s: request to the API's 201"),
    ("clip_playable", "clip of the last 30 s: request to playable (playlist, init, 1st segment)"),
]


def runs_summary(runs: list[dict[str, list[float]]], key: str) -> str:
    """Median / max of every sample of every run, and each run's median."""
    every = [v for run in runs for v in run[key]]
    if not every:
        return "n/a"
    medians = ", ".join(f"{statistics.median(run[key]) * 1000:.1f}" for run in runs if run[key])
    return f"{summary(every)} (run medians {medians})"


async def seek_runs(args: argparse.Namespace) -> list[list[str]]:
    runs: list[dict[str, list[float]]] = []
    sizes: dict[str, int] = {}
    for i in range(args.repeat):
        log(f"run {i + 1} of {args.repeat}")
        samples, sizes = await seek_run(args)
        runs.append(samples)
    rows = []
    for key, label in SEEK_ROWS:
        size = f"{sizes[key]} bytes" if key in sizes else ""
        rows.append([label, runs_summary(runs, key), size])
    return rows


async def seek_run(args: argparse.Namespace) -> tuple[dict[str, list[float]], dict[str, int]]:
    source = ensure_input()
    server = GoliveServer(1)
    server.start()
    publishers = start_publishers([server.rtmp_url(0)], source, 1)
    seeks: list[float] = []
    full_times: list[float] = []
    delta_times: list[float] = []
    full_size = delta_size = 0
    try:
        channel = server.channels[0][0]
        base = f"{server.http}/live/{channel}/source"
        token = await asyncio.to_thread(api_token, server)
        log(f"publishing; waiting {args.warmup:.0f} s")
        await asyncio.sleep(args.warmup)
        async with httpx.AsyncClient(timeout=30) as client:
            clips_answered, clips_playable = await clip_times(client, server, token, args.clips)
            # A blocking reload for a part that exists already is answered at once with the
            # newest playlist (a plain request waits for the next part: that is not its cost).
            now = {"_HLS_msn": "0", "_HLS_part": "0"}
            for i in range(args.seeks):
                started = time.perf_counter()
                full = await client.get(f"{base}/dvr.m3u8", params=now)
                full_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                delta = await client.get(f"{base}/dvr.m3u8", params={**now, "_HLS_skip": "YES"})
                delta_times.append(time.perf_counter() - started)
                full_size, delta_size = len(full.content), len(delta.content)
                text = full.text
                init_uri = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text)
                uris = [u for u in text.splitlines() if u and not u.startswith("#")]
                durations = [float(d) for d in re.findall(r"^#EXTINF:([\d.]+),", text, re.M)]
                assert init_uri is not None and len(uris) == len(durations)
                # The segment ``back`` s (plus 2 s more per seek) before the playlist end.
                wanted, at = args.back + 3 * i, len(uris)
                while at > 0 and wanted > 0:
                    at -= 1
                    wanted -= durations[at]
                started = time.perf_counter()
                init, segment = await asyncio.gather(
                    client.get(f"{base}/{init_uri.group(1)}"), client.get(f"{base}/{uris[at]}")
                )
                assert init.status_code == 200 and segment.status_code == 200, uris[at]
                assert first_frame(init.content, segment.content)
                seeks.append(time.perf_counter() - started)
                log(f"  seek to {uris[at]}: {1000 * seeks[-1]:.1f} ms")
                await asyncio.sleep(1.0)
    finally:
        stop_publishers(publishers)
        server.stop()
    samples = {
        "seek": seeks,
        "full": full_times,
        "delta": delta_times,
        "clip_answered": clips_answered,
        "clip_playable": clips_playable,
    }
    return samples, {"full": full_size, "delta": delta_size}


def render_run(args: argparse.Namespace) -> list[list[str]]:
    from golive.packager.hls_playlist import MediaPlaylistWriter
    from golive.store.dvr_history import DvrHistory
    from golive.store.live_window import StoredPart, StoredSegment

    def seg(msn: int, complete: bool = True) -> StoredSegment:
        return StoredSegment(
            msn=msn,
            init_id=0,
            discontinuity=False,
            program_date_time=1.7e9 + msn,
            duration=1.0 if complete else 0.0,
            complete=complete,
            parts=[StoredPart(i, 0.2, i == 0, b"") for i in range(5 if complete else 2)],
        )

    count = 7200
    history = DvrHistory("source", 7200.0)
    for msn in range(count + 15):
        history.add(seg(msn), b"init" if msn == 0 else None)
        history.stored(msn, f"AbCdEfGhIjKlMnOp/source/{msn}.m4s")
    live = [seg(m) for m in range(count, count + 15)] + [seg(count + 15, False)]
    writer = MediaPlaylistWriter(uri_prefix="0badc0de/")
    rows = []
    for skip in (False, True):
        times = []
        size = 0
        for _ in range(args.renders):
            started = time.perf_counter()
            text = writer.render(
                live,
                target_duration=2,
                part_target=0.2,
                discontinuity_sequence=0,
                preload_hint=(count + 15, 2),
                skip=skip,
                older=history.listed_before(count),
                older_version=history.version,
            )
            times.append(time.perf_counter() - started)
            size = len(text or "")
        label = "delta update" if skip else "full"
        rows.append(
            [
                f"render a 2-hour DVR playlist (7,215 segments), {label}",
                summary(times),
                f"{size} bytes",
            ]
        )
    return rows


async def main_async(args: argparse.Namespace) -> int:
    rows = render_run(args) + await seek_runs(args)
    body = md_table(["what", "ms, median / max", "size"], rows)
    print(body)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "dvr.md").write_text(
        "\n".join([f"Command: `{command_line()}`", "", machine_info(), "", body, ""])
    )
    return 0


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--warmup", type=float, default=45.0, help="seconds before seeking")
    parser.add_argument("--seeks", type=int, default=10, help="seeks (different segments)")
    parser.add_argument("--back", type=float, default=30.0, help="seconds behind the edge")
    parser.add_argument("--clips", type=int, default=5, help="clips of the last 30 s")
    parser.add_argument("--renders", type=int, default=50, help="in-process renders each")
    parser.add_argument("--repeat", type=int, default=3, help="runs, each on a fresh server")
    return run_bench(main_async, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
