"""HEVC in MPEG-TS (stream_type 0x24): an hvc1 Track from the stream's parameter sets, and
length-prefixed frames that a real decoder (PyAV) decodes."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from golive.media.annexb import to_annexb
from golive.media.frame import VIDEO_TRACK_ID, Frame, Track
from golive.media.hevc import parse_hvcc
from golive.media.mpegts import ProblemKind, TsDemuxer, TsEvent, TsProblem
from tests.support.flv_file import ffmpeg_exe


@pytest.fixture(scope="module")
def hevc_ts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hevc") / "hevc.ts"
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    cmd += ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30"]
    cmd += ["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "2"]
    cmd += ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:keyint=30"]
    cmd += ["-c:a", "aac", "-f", "mpegts", str(path)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return path


def demux(data: bytes) -> list[TsEvent]:
    d = TsDemuxer()
    out: list[TsEvent] = []
    for i in range(0, len(data), 1316):
        out += d.feed(data[i : i + 1316])
    return out + d.end()


def test_hevc_track_and_frames_match_pyav(hevc_ts: Path) -> None:
    events = demux(hevc_ts.read_bytes())
    assert not [e for e in events if isinstance(e, TsProblem)]
    tracks = [e for e in events if isinstance(e, Track)]
    video = next(t for t in tracks if t.id == VIDEO_TRACK_ID)
    assert video.codec.startswith("hvc1.1.")  # Main profile
    assert (video.width, video.height) == (320, 240)
    config = parse_hvcc(video.config)
    assert config.nal_length_size == 4
    frames = [e for e in events if isinstance(e, Frame) and e.track_id == VIDEO_TRACK_ID]
    with av.open(str(hevc_ts)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        assert stream.time_base == Fraction(1, 90000)
        assert [p.pts for p in packets] == [f.pts for f in frames]
        assert [p.is_keyframe for p in packets] == [f.keyframe for f in frames]
    assert frames[0].keyframe and sum(f.keyframe for f in frames) == 2  # keyint 30, 2 s

    # The Track's parameter sets and the frames, as Annex B, decode.
    codec = av.CodecContext.create("hevc", "r")
    prefix = b"".join(b"\x00\x00\x00\x01" + nal for nal in (*config.vps, *config.sps, *config.pps))
    decoded = 0
    for i, frame in enumerate(frames):
        data = (prefix if i == 0 else b"") + to_annexb(frame.data)
        for picture in codec.decode(av.Packet(data)):
            assert (picture.width, picture.height) == (320, 240)
            decoded += 1
    decoded += len(codec.decode(None))
    assert decoded == len(frames)


def test_audio_waits_for_the_hevc_track(hevc_ts: Path) -> None:
    events = [e for e in demux(hevc_ts.read_bytes()) if not isinstance(e, TsProblem)]
    first = events[0]
    assert isinstance(first, Track) and first.id == VIDEO_TRACK_ID


def test_refused_hevc_parameter_sets_are_a_codec_problem(hevc_ts: Path) -> None:
    data = bytearray(hevc_ts.read_bytes())
    # Corrupt the SPS's profile (general_profile_idc 1 -> 31) wherever it is repeated.
    sps_start = b"\x00\x00\x01\x42\x01\x01\x01"
    count = 0
    at = data.find(sps_start)
    while at >= 0:
        data[at + 6] = 0x1F
        count += 1
        at = data.find(sps_start, at + 1)
    assert count
    events = demux(bytes(data))
    problems = [e for e in events if isinstance(e, TsProblem) and e.kind is ProblemKind.CODEC]
    assert problems and "HEVC parameter sets refused" in problems[0].message
    assert not [e for e in events if isinstance(e, Track) and e.id == VIDEO_TRACK_ID]
