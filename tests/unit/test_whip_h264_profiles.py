"""Main and high profile H.264 offers are answered (aiortc alone takes baseline only); the
answer says the profile offered."""

from __future__ import annotations

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from golive.ingest.whip.h264_profiles import offer_for_stack, restore_profiles
from tests.support.whip import an_offer
from tests.unit.test_whip_offer import offer


def high(body: bytes) -> str:
    return body.decode().replace("profile-level-id=42e01f", "profile-level-id=640028")


def test_non_baseline_profiles_are_offered_as_baseline_and_restored() -> None:
    sdp = high(offer())
    stack, originals = offer_for_stack(sdp)
    assert originals == {"96": "640028"}
    assert "profile-level-id=42e028" in stack and "640028" not in stack
    # Everything else is left as it was.
    assert stack.replace("42e028", "640028") == sdp
    answer = "v=0\r\na=fmtp:96 level-asymmetry-allowed=1;profile-level-id=42e01f\r\n"
    assert restore_profiles(answer, originals) == answer.replace("42e01f", "640028")


def test_baseline_offers_are_untouched() -> None:
    sdp = offer().decode()
    assert offer_for_stack(sdp) == (sdp, {})
    assert restore_profiles("v=0\r\n", {}) == "v=0\r\n"


async def test_aiortc_answers_a_high_profile_offer_only_after_the_mapping() -> None:
    # A real offer (aiortc as the publisher), its H.264 made main and high profile.
    sdp = (
        (await an_offer(audio=False))
        .replace("profile-level-id=42001f", "profile-level-id=4d001f")
        .replace("profile-level-id=42e01f", "profile-level-id=640028")
    )
    assert "profile-level-id=42" not in sdp
    refused = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        refused.addTransceiver("video", direction="recvonly")
        with pytest.raises(Exception, match="video"):  # aiortc's OperationError
            await refused.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
    finally:
        await refused.close()
    stack, originals = offer_for_stack(sdp)
    assert sorted(originals.values()) == ["4d001f", "640028"]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("video", direction="recvonly")
        await pc.setRemoteDescription(RTCSessionDescription(stack, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        assert pc.localDescription is not None
        answer = restore_profiles(pc.localDescription.sdp, originals)
    finally:
        await pc.close()
    assert "H264/90000" in answer
    assert "profile-level-id=4d001f" in answer and "profile-level-id=640028" in answer
    assert "profile-level-id=42" not in answer
