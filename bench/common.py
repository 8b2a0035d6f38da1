"""Shared pieces of the golive benchmarks.

- the pre-encoded input (generated once into ``bench/.cache/``) and an FLV tag reader/writer;
- a Python pacer that replays the input tag by tag in real time into ``ffmpeg -c copy`` (so the
  send time of every video frame is known to the millisecond);
- golive and nginx-rtmp as subprocesses on free loopback ports with temporary data dirs;
- CPU seconds and RSS of a process tree (psutil);
- a minimal fMP4 box reader (decode time of the last video sample of a part);
- percentiles, Markdown tables, the machine description and the doc section writer.

Everything binds to 127.0.0.1 and every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
import psutil

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
CACHE = BENCH / ".cache"
RESULTS = BENCH / "results"
DOC = REPO / "docs" / "benchmarks.md"
VENV_BIN = Path(sys.executable).parent
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
HLS_JS = REPO / "web" / "node_modules" / "hls.js" / "dist" / "hls.min.js"
PLAYER_JS = REPO / "src" / "golive" / "web" / "static" / "dist" / "player.js"

TAG_AUDIO = 8
TAG_VIDEO = 9
TAG_SCRIPT = 18


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


def ffmpeg_exe() -> str:
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open within {timeout} s")


# -- input media ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InputSpec:
    """A pre-encoded test input: H.264 + AAC in FLV, constant GOP, no B-frames."""

    seconds: int = 60
    size: str = "1280x720"
    fps: int = 30
    video_kbps: int = 3000
    gop: int = 30
    audio_kbps: int = 128
    # The frame number drawn as a 12-bit bar code in the top-left corner (frame_barcode_filter),
    # so a player can tell which frame it shows whatever the protocol (bench/webrtc.py).
    barcode: bool = False

    @property
    def name(self) -> str:
        w_h = self.size.replace("x", "_")
        code = "_bc" if self.barcode else ""
        return f"in_{w_h}p{self.fps}_{self.video_kbps}k_g{self.gop}_{self.seconds}s{code}.flv"


BARCODE_BITS = 12
BARCODE_CELL = 32  # pixels per bit: large enough to survive the encoder at any bitrate


def frame_barcode_filter() -> str:
    """ffmpeg filters drawing the frame number ``n`` as bits: a black bar, then a white cell
    per set bit (bit i at x = i * BARCODE_CELL), read back by BARCODE_JS."""
    cell = BARCODE_CELL
    boxes = [f"drawbox=x=0:y=0:w={cell * BARCODE_BITS}:h={cell}:color=black:t=fill"]
    boxes += [
        f"drawbox=x={cell * i}:y=0:w={cell}:h={cell}:color=white:t=fill"
        f":enable='mod(floor(n/{2**i}),2)'"
        for i in range(BARCODE_BITS)
    ]
    return ",".join(boxes)


def ensure_input(spec: InputSpec = InputSpec()) -> Path:
    """Encode the input once (test pattern with noise, so the bitrate is real) into the cache.

    No B-frames: each FLV tag timestamp is then both the decode and the presentation time, which
    keeps the mapping from a played or packaged frame back to its send time exact.
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / spec.name
    if path.exists() and path.stat().st_size > 0:
        return path
    log(f"encoding {path.name} (once; cached in {CACHE})")
    kbps = spec.video_kbps
    tmp = path.with_suffix(".tmp.flv")
    cmd = [
        ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={spec.size}:rate={spec.fps},noise=alls=12:allf=t"
        + (f",{frame_barcode_filter()}" if spec.barcode else ""),
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        str(spec.seconds),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-bf",
        "0",
        "-g",
        str(spec.gop),
        "-keyint_min",
        str(spec.gop),
        "-sc_threshold",
        "0",
        "-b:v",
        f"{kbps}k",
        "-maxrate",
        f"{kbps}k",
        "-bufsize",
        f"{kbps}k",
        "-c:a",
        "aac",
        "-b:a",
        f"{spec.audio_kbps}k",
        "-ac",
        "2",
        "-f",
        "flv",
        str(tmp),
    ]
    subprocess.run(cmd, check=True, timeout=900)
    tmp.rename(path)
    return path


@dataclass(frozen=True, slots=True)
class FlvTag:
    kind: int  # 8 audio, 9 video, 18 script
    ts: int  # milliseconds
    body: bytes

    @property
    def is_header(self) -> bool:
        """An AVC or AAC sequence header (configuration, not a frame)."""
        if self.kind == TAG_VIDEO:
            return len(self.body) > 1 and (self.body[0] & 0x0F) == 7 and self.body[1] == 0
        if self.kind == TAG_AUDIO:
            return len(self.body) > 1 and (self.body[0] >> 4) == 10 and self.body[1] == 0
        return False

    @property
    def keyframe(self) -> bool:
        return self.kind == TAG_VIDEO and (self.body[0] >> 4) == 1


def read_flv(path: Path) -> list[FlvTag]:
    data = path.read_bytes()
    if data[:3] != b"FLV":
        raise ValueError(f"{path} is not an FLV file")
    pos = int.from_bytes(data[5:9], "big") + 4
    tags: list[FlvTag] = []
    while pos + 11 <= len(data):
        kind = data[pos] & 0x1F
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        ts = int.from_bytes(data[pos + 4 : pos + 7], "big") | (data[pos + 7] << 24)
        end = pos + 11 + size
        if end > len(data):
            break
        tags.append(FlvTag(kind, ts, data[pos + 11 : end]))
        pos = end + 4
    return tags


FLV_HEADER = b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00\x00\x00\x00"


def flv_tag_bytes(kind: int, ts: int, body: bytes) -> bytes:
    size = len(body)
    head = bytes([kind]) + size.to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
    head += bytes([(ts >> 24) & 0xFF]) + b"\x00\x00\x00"
    return head + body + (11 + size).to_bytes(4, "big")


class FlvParser:
    """Incremental FLV stream parser (for ffmpeg's stdout in the relay calibration)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._header_done = False

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        """Returns (tag type, timestamp) of every complete tag."""
        self._buf += data
        out: list[tuple[int, int]] = []
        if not self._header_done:
            if len(self._buf) < 13:
                return out
            skip = int.from_bytes(self._buf[5:9], "big") + 4
            if len(self._buf) < skip:
                return out
            del self._buf[:skip]
            self._header_done = True
        while len(self._buf) >= 11:
            size = int.from_bytes(self._buf[1:4], "big")
            total = 11 + size + 4
            if len(self._buf) < total:
                break
            ts = int.from_bytes(self._buf[4:7], "big") | (self._buf[7] << 24)
            out.append((self._buf[0] & 0x1F, ts))
            del self._buf[:total]
        return out


# -- the pacer -----------------------------------------------------------------------------------


def relay_command(output: str, *, fmt: str = "flv") -> list[str]:
    """ffmpeg reading FLV on stdin and copying it to ``output`` (an RTMP URL or pipe:1)."""
    return [
        ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-fflags",
        "+nobuffer",
        "-probesize",
        "65536",
        "-analyzeduration",
        "500000",
        "-f",
        "flv",
        "-i",
        "pipe:0",
        "-c",
        "copy",
        "-flush_packets",
        "1",
        "-f",
        fmt,
        output,
    ]


@dataclass
class PacerLog:
    """What a pacer sent: wall clock of media time 0 and the send time of every video frame."""

    t0: float = 0.0  # wall clock (time.time()) at which media time 0 was due
    video_sent: dict[int, float] = field(default_factory=dict)  # media ms -> wall clock
    late_ms: list[float] = field(default_factory=list)  # how late each write was vs schedule
    bytes_sent: int = 0


class Pacer:
    """Replays FLV tags in real time into an ffmpeg relay's stdin, looping the file.

    Each tag is written when its timestamp is due (wall = t0 + ts); on every loop the
    timestamps continue (offset by the file's duration) and the sequence headers are not
    repeated. Media time 0 is the first frame tag's timestamp.
    """

    def __init__(
        self,
        tags: Sequence[FlvTag],
        output: str,
        *,
        audio_lead_ms: int = 0,
        relay_stdout: int | None = None,
    ) -> None:
        self.tags = [t for t in tags if t.kind in (TAG_AUDIO, TAG_VIDEO, TAG_SCRIPT)]
        frames = [t for t in self.tags if t.kind != TAG_SCRIPT and not t.is_header]
        self.base = min(t.ts for t in frames)
        last_video = [t.ts for t in frames if t.kind == TAG_VIDEO]
        step = last_video[-1] - last_video[-2] if len(last_video) > 1 else 33
        self.loop_ms = max(t.ts for t in frames) - self.base + step
        self.output = output
        self.audio_lead_ms = audio_lead_ms
        # With output "pipe:1": the descriptor the relay writes to (another process's stdin).
        self.relay_stdout = relay_stdout
        self.log = PacerLog()
        self.proc: asyncio.subprocess.Process | None = None

    async def run(self, seconds: float, *, extra_stdout: asyncio.Task[None] | None = None) -> None:
        cmd = relay_command(self.output, fmt="flv")
        stdout: int = asyncio.subprocess.DEVNULL
        if self.output == "pipe:1":
            stdout = asyncio.subprocess.PIPE if self.relay_stdout is None else self.relay_stdout
        self.proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE, stdout=stdout, stderr=asyncio.subprocess.DEVNULL
        )
        stdin = self.proc.stdin
        assert stdin is not None
        sent = self.log.video_sent
        try:
            stdin.write(FLV_HEADER)
            self.log.t0 = time.time() + 0.2
            t0_mono = time.monotonic() + 0.2
            end = t0_mono + seconds
            loop = 0
            while time.monotonic() < end:
                offset = loop * self.loop_ms
                for tag in self.tags:
                    if loop and (tag.kind == TAG_SCRIPT or tag.is_header):
                        continue
                    media = tag.ts - self.base + offset
                    lead = self.audio_lead_ms if tag.kind == TAG_AUDIO else 0
                    due = t0_mono + (media - lead) / 1000
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    now = time.monotonic()
                    if now >= end:
                        break
                    if tag.kind == TAG_VIDEO and not tag.is_header:
                        sent[media] = time.time()
                        self.log.late_ms.append((now - due) * 1000)
                    stdin.write(flv_tag_bytes(tag.kind, max(0, media + self.base), tag.body))
                    self.log.bytes_sent += len(tag.body) + 15
                    await stdin.drain()
                loop += 1
        finally:
            with contextlib.suppress(Exception):
                stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


# -- servers -------------------------------------------------------------------------------------


def golive_exe() -> str:
    exe = VENV_BIN / "golive"
    return str(exe) if exe.exists() else "golive"


_ADD_CHANNELS = """
import asyncio, json, sys
from pathlib import Path
from golive.config import Settings
from golive.db.channels import ChannelStore
from golive.db.engine import Database

async def main():
    data_dir, channels = json.load(sys.stdin)
    db = await Database.open(Settings(data_dir=Path(data_dir)))
    try:
        store = ChannelStore(db.sessionmaker)
        for name, key in channels:
            await store.add(name, key)
    finally:
        await db.close()

asyncio.run(main())
"""


def add_channels(data_dir: Path, channels: Sequence[tuple[str, str]]) -> None:
    """Create channels in one process (the CLI takes about a second per call)."""
    subprocess.run(
        [sys.executable, "-c", _ADD_CHANNELS],
        input=json.dumps([str(data_dir), list(channels)]).encode(),
        env={**os.environ, **TREE.env()},
        check=True,
        timeout=120,
    )


def stream_key(i: int) -> str:
    return f"benchkey{i:04d}-abcdefghijklmnopqrstuvwxyz"  # hand-set keys need 32 characters


def channel_name(i: int) -> str:
    return f"ch{i:03d}"


class GoliveTree:
    """Which golive to run: the working tree (default) or a commit exported with ``git archive``.

    Other people change the working tree while benchmarks run; ``--ref HEAD`` pins the figures
    to a commit. The exported tree is put first on PYTHONPATH (ahead of the editable install);
    the built watch page (git-ignored) is copied from the working tree.
    """

    def __init__(self, ref: str | None) -> None:
        self.ref = ref
        self.src: Path | None = None
        self.commit = ""
        if ref is not None:
            self.commit = subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "--short", ref],
                check=True,
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout.strip()
            root = Path(tempfile.mkdtemp(prefix=f"golive-{self.commit}-"))
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", ref, "src"],
                check=True,
                capture_output=True,
                timeout=60,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True, timeout=60)
            self.src = root / "src"
            dist = PLAYER_JS.parent
            if dist.is_dir():
                shutil.copytree(dist, self.src / "golive" / "web" / "static" / "dist")

    def env(self) -> dict[str, str]:
        if self.src is None:
            return {}
        return {"PYTHONPATH": os.pathsep.join([str(self.src), os.environ.get("PYTHONPATH", "")])}

    def config_source(self) -> str:
        """The settings' source: config/settings.py, or config.py before the package."""
        base = (self.src if self.src is not None else REPO / "src") / "golive"
        found = base / "config" / "settings.py"
        return (found if found.exists() else base / "config.py").read_text()

    def describe(self) -> str:
        if self.ref is None:
            rev = _version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], r"(\w{7,})")
            dirty = subprocess.run(
                ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout.strip()
            extra = " plus the uncommitted changes then in src/" if dirty else ""
            return f"the working tree (commit {rev}{extra})"
        return f"commit {self.commit} (`--ref {self.ref}`, exported with git archive)"

    def cleanup(self) -> None:
        if self.src is not None:
            shutil.rmtree(self.src.parent, ignore_errors=True)


TREE = GoliveTree(None)


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's argument parser, with the options every benchmark has."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n", 1)[0])
    parser.add_argument("--no-doc", dest="doc", action="store_false", help="do not touch docs/")
    parser.add_argument(
        "--ref", help="run golive from this commit (git archive) instead of the working tree"
    )
    return parser


def run_bench(
    main_async: Callable[[argparse.Namespace], Awaitable[int]], args: argparse.Namespace
) -> int:
    """Run a benchmark against the golive that ``--ref`` names (the work tree by default)."""
    tree = use_tree(args.ref)
    try:
        return asyncio.run(main_async(args))
    finally:
        tree.cleanup()


def use_tree(ref: str | None) -> GoliveTree:
    """Select the golive that GoliveServer runs (call once, before starting servers)."""
    global TREE
    TREE = GoliveTree(ref)
    return TREE


# Passthrough only: the benchmarks measure remuxing and packaging, not encoding. Set only when
# the installed golive has the setting (its ABR ladder would otherwise transcode every stream).
PASSTHROUGH_LADDER_JSON = (
    '[{"name": "source", "kind": "source"}, {"name": "audio", "kind": "audio"}]'
)


def passthrough_env() -> dict[str, str]:
    if "transcode_ladder" in TREE.config_source():
        return {"GOLIVE_TRANSCODE_LADDER": PASSTHROUGH_LADDER_JSON}
    return {}


def loopback_env() -> dict[str, str]:
    """The one default a benchmark must lift: every publisher connects from 127.0.0.1, and the
    per-address RTMP connection cap (10, against one abusive address) would refuse the 11th."""
    if "rtmp_max_connections_per_address" in TREE.config_source():
        return {"GOLIVE_RTMP_MAX_CONNECTIONS_PER_ADDRESS": "100000"}
    return {}


class GoliveServer:
    """``golive serve`` on free loopback ports with a temporary data dir.

    With ``passthrough`` (the default of the ingest and latency benchmarks) the ladder is the
    source and its audio; without it golive runs its default ladder.
    """

    def __init__(
        self, n_channels: int, *, env: dict[str, str] | None = None, passthrough: bool = True
    ) -> None:
        self.passthrough = passthrough
        self.tmp = Path(tempfile.mkdtemp(prefix="golive-bench-"))
        self.data_dir = self.tmp / "data"
        self.rtmp_port = free_port()
        self.http_port = free_port()
        self.channels = [(channel_name(i), stream_key(i)) for i in range(n_channels)]
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.tmp / "golive.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def http(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def rtmp_url(self, i: int) -> str:
        return f"rtmp://{HOST}:{self.rtmp_port}/live/{self.channels[i][1]}"

    def playlist_url(self, i: int) -> str:
        return f"{self.http}/live/{self.channels[i][0]}/source/index.m3u8"

    def watch_url(self, i: int) -> str:
        return f"{self.http}/{self.channels[i][0]}"

    def start(self) -> None:
        add_channels(self.data_dir, self.channels)
        env = {
            **os.environ,
            "GOLIVE_LOG_LEVEL": "warning",
            **TREE.env(),
            **loopback_env(),
            **(passthrough_env() if self.passthrough else {}),
            **self.env,
        }
        cmd = [
            golive_exe(),
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--host",
            HOST,
            "--rtmp-port",
            str(self.rtmp_port),
            "--http-port",
            str(self.http_port),
        ]
        with self.log_path.open("wb") as out:
            # A session of its own, as a service has: with the kernel's autogroups the
            # scheduler weighs a session as a whole, so the server must not share one with the
            # load generator (nor inherit a lowered autogroup nice from the shell running it).
            self.proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_port(self.http_port, 30, self.proc)
        wait_port(self.rtmp_port, 30, self.proc)

    def stop(self) -> None:
        stop_process(self.proc)
        keep = os.environ.get("BENCH_KEEP_LOG")  # a path: the server's log is copied there
        if keep and self.log_path.exists():
            shutil.copyfile(self.log_path, keep)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> GoliveServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


NGINX_CONF = """\
load_module {module};
{user}
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 4096; }}
rtmp {{
    server {{
        listen {host}:{rtmp_port};
        chunk_size 4096;
        application live {{
            live on;
            hls on;
            hls_path {hls_path};
            hls_fragment 1s;
            hls_playlist_length 6s;{record}
        }}
    }}
}}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    types {{
        application/vnd.apple.mpegurl m3u8;
        video/mp2t ts;
        text/html html;
        application/javascript js;
    }}
    server {{
        listen {host}:{http_port};
        location /hls/ {{
            alias {hls_path}/;
            add_header Cache-Control no-cache;
            add_header Access-Control-Allow-Origin *;
        }}
        location / {{
            root {prefix}/html;
        }}
    }}
}}
"""


class NginxRtmp:
    """nginx with libnginx-mod-rtmp: HLS with 1 s fragments, served by its own http block.

    One worker process (nginx-rtmp's live fan-out works within a worker), HLS files on tmpfs
    (/dev/shm) when it exists, as golive keeps its window in memory.
    """

    def __init__(self, record_path: Path | None = None) -> None:
        # With ``record_path``, every stream is also recorded there as FLV (``record all``).
        self.record_path = record_path
        self.prefix = Path(tempfile.mkdtemp(prefix="nginx-bench-"))
        shm = Path("/dev/shm")
        base = Path(tempfile.mkdtemp(prefix="nginx-hls-", dir=shm if shm.is_dir() else None))
        self.hls_path = base
        self.rtmp_port = free_port()
        self.http_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def http(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def rtmp_url(self, i: int) -> str:
        return f"rtmp://{HOST}:{self.rtmp_port}/live/{stream_key(i)}"

    def playlist_url(self, i: int) -> str:
        return f"{self.http}/hls/{stream_key(i)}.m3u8"

    def start(self) -> None:
        if not RTMP_MODULE.exists():
            raise RuntimeError(f"{RTMP_MODULE} is missing: apt-get install libnginx-mod-rtmp")
        (self.prefix / "html").mkdir(parents=True, exist_ok=True)
        (self.prefix / "logs").mkdir(exist_ok=True)
        conf = self.prefix / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                module=RTMP_MODULE,
                prefix=self.prefix,
                host=HOST,
                rtmp_port=self.rtmp_port,
                http_port=self.http_port,
                hls_path=self.hls_path,
                record=(
                    ""
                    if self.record_path is None
                    else f"\n            record all;\n            record_path {self.record_path};"
                    "\n            record_unique on;"
                ),
                # Workers run as root when we are root, so they can use the private temp dirs.
                user="user root;" if os.geteuid() == 0 else "",
            )
        )
        cmd = ["nginx", "-p", str(self.prefix), "-c", str(conf), "-g", "daemon off;"]
        self.proc = subprocess.Popen(  # a session of its own, as GoliveServer's
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_port(self.http_port, 15, self.proc)
        wait_port(self.rtmp_port, 15, self.proc)

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.prefix, ignore_errors=True)
        shutil.rmtree(self.hls_path, ignore_errors=True)

    def __enter__(self) -> NginxRtmp:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# -- process-tree accounting ---------------------------------------------------------------------


def tree(pid: int) -> list[psutil.Process]:
    """A process and its descendants; nothing when it has exited already."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live children (plus reaped children)."""
    total = 0.0
    for p in tree(pid):
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def tree_rss(pid: int) -> int:
    total = 0
    for p in tree(pid):
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


# -- fMP4 -----------------------------------------------------------------------------------------


def iter_boxes(
    data: bytes | memoryview, start: int = 0, end: int | None = None
) -> Iterator[tuple[str, int, int]]:
    """(type, payload start, box end) of each box in data[start:end]."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield kind.decode("latin-1"), pos + header, pos + size
        pos += size


@dataclass(frozen=True, slots=True)
class InitInfo:
    timescales: dict[int, int]  # track id -> timescale
    video_track: int | None


def parse_init(data: bytes) -> InitInfo:
    timescales: dict[int, int] = {}
    video: int | None = None
    for kind, s, e in iter_boxes(data):
        if kind != "moov":
            continue
        for k2, s2, e2 in iter_boxes(data, s, e):
            if k2 != "trak":
                continue
            track_id = 0
            timescale = 0
            handler = ""
            for k3, s3, e3 in iter_boxes(data, s2, e2):
                if k3 == "tkhd":
                    version = data[s3]
                    track_id = struct.unpack_from(">I", data, s3 + (20 if version else 12))[0]
                elif k3 == "mdia":
                    for k4, s4, _e4 in iter_boxes(data, s3, e3):
                        if k4 == "mdhd":
                            version = data[s4]
                            timescale = struct.unpack_from(
                                ">I", data, s4 + (20 if version else 12)
                            )[0]
                        elif k4 == "hdlr":
                            handler = bytes(data[s4 + 8 : s4 + 12]).decode("latin-1")
            timescales[track_id] = timescale
            if handler == "vide":
                video = track_id
    return InitInfo(timescales, video)


def fragment_dts(data: bytes | memoryview) -> dict[int, list[int]]:
    """Decode times of every sample of every track in a CMAF chunk / segment (moof+mdat...)."""
    out: dict[int, list[int]] = {}
    for kind, s, e in iter_boxes(data):
        if kind != "moof":
            continue
        for k2, s2, e2 in iter_boxes(data, s, e):
            if k2 != "traf":
                continue
            track_id = 0
            default_duration = 0
            base = 0
            times: list[int] = []
            for k3, s3, _e3 in iter_boxes(data, s2, e2):
                flags = int.from_bytes(bytes(data[s3 + 1 : s3 + 4]), "big")
                if k3 == "tfhd":
                    track_id = struct.unpack_from(">I", data, s3 + 4)[0]
                    pos = s3 + 8
                    if flags & 0x1:
                        pos += 8
                    if flags & 0x2:
                        pos += 4
                    if flags & 0x8:
                        default_duration = struct.unpack_from(">I", data, pos)[0]
                elif k3 == "tfdt":
                    version = data[s3]
                    fmt = ">Q" if version == 1 else ">I"
                    base = struct.unpack_from(fmt, data, s3 + 4)[0]
                elif k3 == "trun":
                    count = struct.unpack_from(">I", data, s3 + 4)[0]
                    pos = s3 + 8
                    if flags & 0x1:
                        pos += 4
                    if flags & 0x4:
                        pos += 4
                    t = base
                    for _ in range(count):
                        duration = default_duration
                        if flags & 0x100:
                            duration = struct.unpack_from(">I", data, pos)[0]
                            pos += 4
                        if flags & 0x200:
                            pos += 4
                        if flags & 0x400:
                            pos += 4
                        if flags & 0x800:
                            pos += 4
                        times.append(t)
                        t += duration
                    base = t
            out.setdefault(track_id, []).extend(times)
    return out


# -- statistics and reporting --------------------------------------------------------------------


def spread(values: Sequence[float], digits: int = 0) -> str:
    """Median (min-max)."""
    clean = [v for v in values if v == v]
    if not clean:
        return "n/a"
    return (
        f"{fmt(statistics.median(clean), digits)} "
        f"({fmt(min(clean), digits)}-{fmt(max(clean), digits)})"
    )


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def fmt(value: float, digits: int = 0) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:.{digits}f}"


def ratio(a: float, b: float) -> str:
    if a != a or b != b or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _version(cmd: Sequence[str], pattern: str) -> str:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    match = re.search(pattern, res.stdout + res.stderr)
    return match.group(1) if match else "?"


def machine_info() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gib = psutil.virtual_memory().total / 2**30
    ffmpeg = _version([ffmpeg_exe(), "-version"], r"ffmpeg version (\S+)")
    nginx = _version(["nginx", "-v"], r"nginx/(\S+)")
    chromium = _version(["/usr/bin/chromium", "--version"], r"Chromium ([\d.]+)")
    hls_version = "?"
    with contextlib.suppress(OSError):
        pkg = (HLS_JS.parent.parent / "package.json").read_text()
        m = re.search(r'"version":\s*"([^"]+)"', pkg)
        hls_version = m.group(1) if m else "?"
    return (
        f"- golive: {TREE.describe()}\n"
        f"- Machine: {os.cpu_count()} CPUs (`nproc` {len(os.sched_getaffinity(0))}), {cpu}, "
        f"{ram_gib:.1f} GiB RAM, Linux {platform.release()} (shared, noisy VM; loopback only)\n"
        f"- Python {platform.python_version()}, ffmpeg {ffmpeg} (imageio-ffmpeg), "
        f"nginx {nginx} + libnginx-mod-rtmp, Chromium {chromium}, hls.js {hls_version}\n"
        f"- Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )


DOC_INTRO = """# Benchmarks

Measured with the scripts in `bench/` (see each section for the exact command). Every figure
below was produced by the run whose date and machine are given in its section, with nginx-rtmp
measured in the same run as the reference. The machine is a shared 2-core VM: repeat runs vary
by a few percent (CPU) to tens of percent (tail latencies).

The input is generated once into `bench/.cache/`: 60 s of `testsrc2` with temporal noise,
1280x720 at 30 fps, H.264 (libx264 veryfast, 3 Mbps CBR-ish, no B-frames, GOP 30 = 1 s) and
AAC-LC 128 kbps, 48 kHz stereo, in FLV.
"""


def update_doc_section(key: str, body: str) -> None:
    """Replace (or append) the section between the ``bench:key`` markers of docs/benchmarks.md."""
    start, end = f"<!-- bench:{key}:start -->", f"<!-- bench:{key}:end -->"
    text = DOC.read_text() if DOC.exists() else DOC_INTRO
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        before = text.split(start, 1)[0]
        after = text.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


def command_line() -> str:
    args = " ".join(sys.argv[1:])
    script = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):
        script = script.relative_to(REPO)
    return f".venv/bin/python {script}{' ' + args if args else ''}"
