"""The WHEP offer check: what reaches aiortc, and what is refused with which status."""

from __future__ import annotations

import pytest

from golive.webrtc.sdp_offer import MAX_OFFER_BYTES, OfferRefused, check_offer

# A browser-like offer: recvonly video (VP8 first, then H.264) and audio (Opus).
OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 102 103",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:abcdefghijklmnopqrstuvwx",
        "a=mid:0",
        "a=recvonly",
        "a=rtpmap:96 VP8/90000",
        "a=rtpmap:102 H264/90000",
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
        "a=rtpmap:103 H264/90000",
        "a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:abcdefghijklmnopqrstuvwx",
        "a=mid:1",
        "a=recvonly",
        "a=rtpmap:111 opus/48000/2",
        "",
    ]
)


def refused(sdp: str | bytes) -> OfferRefused:
    with pytest.raises(OfferRefused) as caught:
        check_offer(sdp.encode() if isinstance(sdp, str) else sdp)
    return caught.value


def test_a_browser_offer_is_taken_with_its_audio() -> None:
    offer = check_offer(OFFER.encode())
    assert offer.audio
    assert offer.sdp == OFFER


def test_an_offer_without_audio_is_video_only() -> None:
    video_only = OFFER.split("m=audio")[0]
    assert not check_offer(video_only.encode()).audio


def test_an_audio_section_without_opus_is_not_audio() -> None:
    assert not check_offer(OFFER.replace("opus/48000/2", "PCMU/8000").encode()).audio


@pytest.mark.parametrize(
    ("sdp", "status", "needle"),
    [
        ("", 400, "v=0"),
        ("hello", 400, "v=0"),
        ("v=0\r\nthis is not sdp\r\n", 400, "malformed SDP line"),
        ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n", 400, "no media section"),
        (OFFER.replace("a=fingerprint", "a=x-fingerprint"), 400, "fingerprint"),
        (OFFER.replace("a=ice-ufrag", "a=x-ufrag"), 400, "ICE"),
        (OFFER.replace("m=video 9 UDP", "m=video 0 UDP"), 406, "no video section"),
        (OFFER.replace("a=recvonly", "a=sendonly", 1), 400, "sendonly"),
        (OFFER.replace("packetization-mode=1", "packetization-mode=0"), 406, "H.264"),
        (OFFER.replace("H264/90000", "H265/90000"), 406, "packetization-mode=1"),
        ("m=video 9", 400, "v=0"),
    ],
)
def test_bad_offers_are_refused_with_a_status_and_a_reason(
    sdp: str, status: int, needle: str
) -> None:
    refusal = refused(sdp)
    assert refusal.status == status
    assert needle in refusal.message


def test_a_huge_offer_is_refused_before_parsing() -> None:
    refusal = refused(OFFER.encode() + b"a=x\r\n" * MAX_OFFER_BYTES)
    assert refusal.status == 413


def test_an_offer_that_is_not_utf8_is_refused() -> None:
    assert refused(b"v=0\r\n\xff\xfe").status == 400


def test_the_media_line_must_have_its_fields() -> None:
    assert "media line" in refused("v=0\r\nm=video 9\r\n").message
