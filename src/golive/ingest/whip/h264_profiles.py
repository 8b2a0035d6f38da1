"""Every H.264 profile accepted from a WHIP publisher, although aiortc negotiates only
(constrained) baseline.

aiortc answers an H.264 payload type only when its ``profile-level-id`` (RFC 6184 8.1) is
one aiortc could decode itself: baseline. golive never decodes the video (it is passed
through to HLS, which takes main and high as well), so a publisher offering main or high
profile should be answered. The offer handed to aiortc says constrained baseline at the
offered level for those payload types, and the answer the publisher gets says again the
profile it offered (an answer's profile-level-id tells what the answerer receives, which
here is whatever the publisher sends).
"""

from __future__ import annotations

import re

__all__ = ["offer_for_stack", "restore_profiles"]

_RTPMAP = re.compile(r"^a=rtpmap:(\d+) H264/", re.IGNORECASE | re.MULTILINE)
_PROFILE = re.compile(r"(profile-level-id=)([0-9a-fA-F]{6})", re.IGNORECASE)
_ACCEPTED = "42"  # profile_idc 66: what aiortc's capabilities list (with any constraint)


def offer_for_stack(sdp: str) -> tuple[str, dict[str, str]]:
    """The offer with its non-baseline H.264 profiles made constrained baseline, and the
    original profile-level-id of each payload type changed."""
    h264 = set(_RTPMAP.findall(sdp))
    originals: dict[str, str] = {}
    lines = sdp.split("\n")
    for i, line in enumerate(lines):
        pt = _fmtp_payload_type(line)
        if pt is None or pt not in h264:
            continue
        match = _PROFILE.search(line)
        if match is None or match.group(2)[:2] == _ACCEPTED:
            continue
        original = match.group(2)
        originals[pt] = original
        lines[i] = line[: match.start(2)] + "42e0" + original[4:] + line[match.end(2) :]
    return "\n".join(lines), originals


def restore_profiles(answer: str, originals: dict[str, str]) -> str:
    """The answer with the offered profile-level-id back on each payload type changed."""
    if not originals:
        return answer
    lines = answer.split("\n")
    for i, line in enumerate(lines):
        pt = _fmtp_payload_type(line)
        if pt is not None and pt in originals:
            match = _PROFILE.search(line)
            if match is not None:
                lines[i] = line[: match.start(2)] + originals[pt] + line[match.end(2) :]
    return "\n".join(lines)


def _fmtp_payload_type(line: str) -> str | None:
    if not line.startswith("a=fmtp:"):
        return None
    return line[len("a=fmtp:") :].split(" ", 1)[0]
