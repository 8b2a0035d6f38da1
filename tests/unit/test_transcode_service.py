"""max_transcoders: streams beyond the cap are served passthrough, and say so."""

from __future__ import annotations

import pytest

from golive.app.live_streams import stream_info
from golive.live.hub import StreamHub
from golive.packager.hls_stream import HlsStreamPackager
from golive.store.live_window import ChannelMedia
from golive.transcode.ladder import (
    DEFAULT_LADDER,
    H264_FALLBACK,
    PASSTHROUGH_LADDER,
    Rung,
    RungKind,
)
from golive.transcode.service import TranscodeService
from golive.transcode.transcoder import StreamTranscoder, TranscoderSettings

NO_AUDIO_LADDER = (Rung("source", RungKind.SOURCE), Rung("180p", height=180, bitrate=300_000))


def start(
    service: TranscodeService, channel: str, limit: int, ladder: tuple[Rung, ...] = DEFAULT_LADDER
) -> tuple[StreamHub, list[Rung], StreamTranscoder]:
    hub = StreamHub(channel, "0badc0de", 0.0)
    admitted = service.admit(hub, ladder, limit=limit)
    packager = HlsStreamPackager(
        ChannelMedia(channel, "0badc0de"), part_target=0.2, segment_target=1.0, window_segments=5
    )
    # No frames are sent, so no ffmpeg child is ever started.
    transcoder = service.start(
        hub, packager, ladder=admitted, settings=TranscoderSettings(ffmpeg="false")
    )
    return hub, admitted, transcoder


async def test_streams_beyond_the_cap_are_passthrough_with_the_reason_in_their_health() -> None:
    service = TranscodeService()
    first, ladder, transcoder = start(service, "one", limit=1)
    assert ladder == list(DEFAULT_LADDER)
    assert first.health.transcode.capped is None

    second, ladder, transcoder = start(service, "two", limit=1, ladder=NO_AUDIO_LADDER)
    # Passthrough: the source and its audio, even when the channel's ladder has no audio rung.
    assert ladder == list(PASSTHROUGH_LADDER)
    # Its transcoder only has the H.264 fallback rung (for an HEVC or AV1 source) and holds
    # no slot.
    assert transcoder.ladder == (*PASSTHROUGH_LADDER, H264_FALLBACK)
    assert second.health.transcode.capped == "max_transcoders (1) reached"
    assert stream_info(second).health["transcoder"] == "passthrough: max_transcoders (1) reached"
    assert len(service.running) == 2
    _, ladder, _ = start(service, "three", limit=1)
    assert ladder == list(PASSTHROUGH_LADDER)
    await service.close()


async def test_a_slot_frees_when_a_transcoder_finishes_or_fails_for_good() -> None:
    service = TranscodeService()
    _, _, first = start(service, "one", limit=1)
    await first.aclose()
    _, ladder, second = start(service, "two", limit=1)
    assert ladder == list(DEFAULT_LADDER)
    second.health.failed = "ffmpeg died 4 times in 60 s"
    _, ladder, _ = start(service, "three", limit=1)
    assert ladder == list(DEFAULT_LADDER)
    await service.close()


@pytest.mark.parametrize("limit", [0, 3])
async def test_no_cap_or_room_under_it_transcodes_every_stream(limit: int) -> None:
    service = TranscodeService()
    for channel in ("one", "two", "three"):
        hub, ladder, transcoder = start(service, channel, limit=limit)
        assert ladder == list(DEFAULT_LADDER)
        assert transcoder.ladder == (*DEFAULT_LADDER, H264_FALLBACK)
        assert hub.health.transcode.capped is None
    await service.close()


async def test_passthrough_channels_take_no_slot() -> None:
    service = TranscodeService()
    _, ladder, transcoder = start(service, "one", limit=1, ladder=PASSTHROUGH_LADDER)
    assert transcoder.ladder == (*PASSTHROUGH_LADDER, H264_FALLBACK)
    _, ladder, transcoder = start(service, "two", limit=1)
    assert ladder == list(DEFAULT_LADDER)
    await service.close()
