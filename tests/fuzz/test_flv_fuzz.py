"""FLV tag bodies and FLV files of arbitrary bytes raise FlvFormatError or
UnsupportedCodecError, nothing else."""

from __future__ import annotations

import itertools

from hypothesis import example, given
from hypothesis import strategies as st

from golive.media.flv import FlvDemuxer, FlvFormatError, UnsupportedCodecError
from golive.media.flv_reader import FlvTagReader
from golive.media.frame import Frame, Track
from tests.fuzz.mutation import mutated
from tests.fuzz.profiles import fuzz_settings
from tests.support.synthetic import ASC_48K_STEREO, AVCC

_FOURCC_VIDEO = st.sampled_from([b"avc1", b"hvc1", b"av01", b"vp09"]) | st.binary(
    min_size=4, max_size=4
)
_FOURCC_AUDIO = st.sampled_from([b"mp4a", b"Opus", b".mp3", b"fLaC"]) | st.binary(
    min_size=4, max_size=4
)
_CTS = st.binary(min_size=3, max_size=3)

video_bodies = st.one_of(
    st.tuples(st.just(b"\x17\x00\x00\x00\x00"), mutated(AVCC)),  # sequence header
    st.tuples(st.sampled_from([b"\x17\x01", b"\x27\x01"]), _CTS, st.binary(max_size=32)),
    st.tuples(st.sampled_from([b"\x17\x02", b"\x57", b"\x12", b"\x17"]), st.binary(max_size=8)),
    # Enhanced RTMP: 0x80 | frame type << 4 | packet type, then a FourCC (ModEx: type 7).
    st.tuples(
        st.integers(0, 0x7F).map(lambda b: bytes([0x80 | b])),
        st.lists(st.binary(max_size=3), max_size=2).map(b"".join),  # ModEx data, maybe
        _FOURCC_VIDEO,
        st.one_of(mutated(AVCC), st.tuples(_CTS, st.binary(max_size=16)).map(b"".join)),
    ),
    st.tuples(st.binary(max_size=24)),
).map(b"".join)

audio_bodies = st.one_of(
    st.tuples(st.just(b"\xaf\x00"), mutated(ASC_48K_STEREO, 3)),
    st.tuples(
        st.sampled_from([b"\xaf\x01", b"\xaf", b"\x2f", b"\xa0\x01"]), st.binary(max_size=16)
    ),
    # Enhanced audio: SoundFormat 9 (ExHeader) with a packet type, then a FourCC.
    st.tuples(
        st.integers(0, 15).map(lambda t: bytes([0x90 | t])),
        st.lists(st.binary(max_size=3), max_size=2).map(b"".join),
        _FOURCC_AUDIO,
        st.one_of(mutated(ASC_48K_STEREO, 3), st.binary(max_size=16)),
    ),
    st.tuples(st.binary(max_size=24)),
).map(b"".join)

_TIMESTAMPS = st.sampled_from([0, 33, 0xFFFFFFFF, 0x7FFFFFFF]) | st.integers(0, 0xFFFFFFFF)
tags = st.lists(
    st.tuples(st.just("video"), _TIMESTAMPS, video_bodies)
    | st.tuples(st.just("audio"), _TIMESTAMPS, audio_bodies),
    max_size=12,
)


@fuzz_settings
@given(tags=tags)
@example(
    tags=[("video", 0, b"\x17\x00\x00\x00\x00" + AVCC), ("video", 33, b"\x17\x01\x80\x00\x00\x01")]
)
@example(tags=[("video", 0, b"\x87")])  # enhanced, ModEx with nothing after it
def test_demuxer_raises_only_flv_errors(tags: list[tuple[str, int, bytes]]) -> None:
    demuxer = FlvDemuxer()
    for kind, timestamp, body in tags:
        # The ingest drops the publisher at the first error, so the fuzz stops there too.
        try:
            items = (
                demuxer.video(timestamp, body)
                if kind == "video"
                else demuxer.audio(timestamp, body)
            )
        except (FlvFormatError, UnsupportedCodecError):
            return
        for item in items:
            assert isinstance(item, Track | Frame)
            if isinstance(item, Frame):
                assert item.track_id in demuxer.tracks
                assert len(item.data) > 0


def flv_file(tags: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00")
    for tag_type, timestamp, body in tags:
        ts = timestamp & 0xFFFFFFFF
        out += bytes([tag_type]) + len(body).to_bytes(3, "big")
        out += (ts & 0xFFFFFF).to_bytes(3, "big") + bytes([ts >> 24]) + b"\x00\x00\x00"
        out += body + (11 + len(body)).to_bytes(4, "big")
    return bytes(out)


flv_files = st.lists(
    st.tuples(st.sampled_from([8, 9, 18]), _TIMESTAMPS, st.binary(max_size=40)), max_size=6
).map(flv_file)


@fuzz_settings
@given(
    data=flv_files.flatmap(lambda f: mutated(f, 3)) | st.binary(max_size=256),
    cuts=st.lists(st.integers(0, 1 << 12), max_size=6),
)
def test_tag_reader_raises_only_flv_errors(data: bytes, cuts: list[int]) -> None:
    def read(pieces: list[bytes]) -> list[tuple[int, int, bytes]] | None:
        reader = FlvTagReader(max_tag_size=1024)
        out: list[tuple[int, int, bytes]] = []
        try:
            for piece in pieces:
                out += [(t.type, t.timestamp_ms, t.body) for t in reader.feed(piece)]
        except FlvFormatError:
            return None
        return out

    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    whole = read([data])
    split = read([data[a:b] for a, b in itertools.pairwise(bounds)])
    assert split == whole  # how the bytes arrive must not change the tags (or the error)
