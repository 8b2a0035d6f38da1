"""WHIP offers checked before aiortc sees them, and refusals mapped to HTTP answers."""

from __future__ import annotations

import base64

import pytest

from golive.ingest.whip.admission_answer import REFUSAL_STATUS, refusal_for
from golive.ingest.whip.offer_check import MAX_OFFER_BYTES, OfferRefused, check_offer
from golive.live.publish_admission import RefusalReason

SPS = bytes.fromhex("6742c00dda0507ec04400000030040000003c8f142a480")
PPS = bytes.fromhex("68cb83cb20")


def offer(video: str = "H264", audio: str | None = "opus", direction: str = "sendonly") -> bytes:
    sprop = ",".join(base64.b64encode(x).decode() for x in (SPS, PPS))
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
        "c=IN IP4 0.0.0.0",
        "a=mid:0",
        f"a={direction}",
        f"a=rtpmap:96 {video}/90000",
        f"a=fmtp:96 packetization-mode=1;profile-level-id=42e01f;sprop-parameter-sets={sprop}",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
    ]
    if audio is not None:
        lines += [
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "c=IN IP4 0.0.0.0",
            "a=mid:1",
            f"a={direction}",
            f"a=rtpmap:111 {audio}/48000/2",
        ]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_h264_and_opus_are_what_golive_takes() -> None:
    checked = check_offer(offer())
    assert checked.codecs == {"avc1", "mp4a"}
    assert checked.video and checked.audio
    assert checked.sprop == (SPS, PPS)


def test_video_only() -> None:
    checked = check_offer(offer(audio=None))
    assert checked.codecs == {"avc1"} and not checked.audio


@pytest.mark.parametrize(
    ("video", "audio", "needle"),
    [("VP8", "opus", "video vp08"), ("AV1", "opus", "video av01"), ("H264", "PCMU", "audio ulaw")],
)
def test_other_codecs_are_refused_by_name(video: str, audio: str, needle: str) -> None:
    with pytest.raises(OfferRefused) as refused:
        check_offer(offer(video, audio))
    assert refused.value.status == 406
    assert needle in refused.value.message and "H.264" in refused.value.message


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"", 400, "v=0"),
        (b"hello", 400, "v=0"),
        (b"\xff\xfe", 400, "UTF-8"),
        (b"v=0\r\nthis is no sdp\r\n", 400, "malformed"),
        (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n", 400, "no media"),
        (b"v=0\r\n" + b"a=x\r\n" * 3000, 400, "lines"),
        (b"v=0\r\n" + b"a" * MAX_OFFER_BYTES, 413, "bytes"),
        (offer(audio=None, direction="recvonly"), 406, "no video"),
        # Its media sections twice: two video and two audio tracks.
        (offer() + b"m=video" + offer().split(b"m=video", 1)[1], 400, "more than one video"),
    ],
)
def test_bad_offers(body: bytes, status: int, needle: str) -> None:
    with pytest.raises(OfferRefused) as refused:
        check_offer(body)
    assert refused.value.status == status
    assert needle in refused.value.message


def test_every_refusal_has_an_http_answer() -> None:
    assert set(REFUSAL_STATUS) == set(RefusalReason)
    wrong = refusal_for(RefusalReason.WRONG_KEY, "Invalid stream key")
    assert wrong.status == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    assert refusal_for(RefusalReason.ALREADY_LIVE, "live").status == 409
    assert refusal_for(RefusalReason.REFUSED_BY_HOOK, "no").status == 403
    assert refusal_for(RefusalReason.CODEC_UNSUPPORTED, "vp08").status == 406
    for reason in (
        RefusalReason.UNAVAILABLE,
        RefusalReason.SHUTTING_DOWN,
        RefusalReason.COOLING_DOWN,
    ):
        answer = refusal_for(reason, "later")
        assert answer.status == 503 and int(answer.headers["retry-after"]) > 0
