"""Opus (as WebRTC sends it) -> AAC once per stream: sample-exact times, gaps filled."""

from __future__ import annotations

import itertools
import math
import struct
from fractions import Fraction

import av

from golive.ingest.whip.opus_to_aac import OpusToAac
from golive.media.aac import parse_asc


def opus_packets(count: int) -> list[bytes]:
    enc = av.CodecContext.create("libopus", "w")
    assert isinstance(enc, av.AudioCodecContext)
    enc.sample_rate, enc.layout, enc.format = 48_000, "stereo", "s16"
    enc.time_base = Fraction(1, 48_000)
    enc.open()
    out: list[bytes] = []
    for i in range(count):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.sample_rate = 48_000
        samples = (int(3000 * math.sin((i * 960 + k) / 10)) for k in range(960))
        frame.planes[0].update(b"".join(struct.pack("<hh", s, s) for s in samples))
        frame.pts = i * 960
        out += [bytes(p) for p in enc.encode(frame)]
    return out


def test_aac_lc_48k_stereo_in_1024_sample_steps_across_the_rtp_wrap() -> None:
    aac = OpusToAac()
    config = parse_asc(aac.audio_specific_config)
    assert config.codec == "mp4a.40.2" and config.sample_rate == 48_000 and config.channels == 2
    start = 2**32 - 960 * 10
    units = []
    for i, packet in enumerate(opus_packets(100)):
        units += aac.push(packet, (start + i * 960) & 0xFFFFFFFF)
    pts = [p for p, _ in units]
    assert pts == [-1024 + 1024 * i for i in range(len(pts))]  # encoder priming first
    assert pts[-1] >= 96_000 - 5 * 1024  # the codecs' delays hold the last few back
    # Each is a raw AAC access unit that decodes.
    dec = av.CodecContext.create("aac", "r")
    assert isinstance(dec, av.AudioCodecContext)
    dec.extradata = aac.audio_specific_config
    decoded = sum(f.samples for _, data in units for f in dec.decode(av.Packet(data)))
    assert decoded >= 1024 * (len(units) - 2)
    assert aac.restarts == 0


def test_lost_packets_are_filled_and_a_long_gap_restarts_the_count() -> None:
    aac = OpusToAac()
    packets = opus_packets(150)
    units = []
    for i, packet in enumerate(packets[:100]):
        if 40 <= i < 45:
            continue  # 100 ms lost: filled with silence, the count goes on
        units += aac.push(packet, i * 960)
    pts = [p for p, _ in units]
    assert pts == [-1024 + 1024 * i for i in range(len(pts))]
    assert aac.restarts == 0
    # Five seconds later (the publisher stalled): the count restarts there.
    later = []
    for i, packet in enumerate(packets[100:]):
        later += aac.push(packet, (100 + 250 + i) * 960)
    assert aac.restarts == 1
    # What the encoder held comes out first; then the count goes on from the new time.
    resumed = [p for p, _ in later if p >= 100 * 960]
    assert resumed and min(resumed) >= 350 * 960 - 1024
    assert all(p < 100 * 960 or p >= 350 * 960 - 1024 for p, _ in later)
    assert [b - a for a, b in itertools.pairwise(resumed)] == [1024] * (len(resumed) - 1)
