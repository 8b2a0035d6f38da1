"""A WHEP offer checked before the WebRTC stack sees it (RFC 8866 SDP, RFC 6184 H.264).

aiortc parses whatever it is given and fails deep inside with messages no viewer can act on,
and it would pick any video codec the offer lists; golive forwards the publisher's H.264 as
it is, so an offer that cannot receive H.264 with packetization-mode 1 (FU-A, what every
browser offers) is refused here with a message that says so. Pure: text in, a summary or an
``OfferRefused`` out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MAX_OFFER_BYTES", "CheckedOffer", "OfferRefused", "check_offer"]

# A browser's offer with every codec is 5-10 KB; four times that is plenty.
MAX_OFFER_BYTES = 32 * 1024

_RTPMAP = re.compile(r"a=rtpmap:(\d+) ([^/\s]+)/(\d+)(?:/\d+)?\s*")
_FMTP = re.compile(r"a=fmtp:(\d+) (.*)")
_RECEIVING = {"recvonly", "sendrecv"}
_DIRECTIONS = {"recvonly", "sendrecv", "sendonly", "inactive"}


class OfferRefused(ValueError):
    """The offer cannot be answered; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class CheckedOffer:
    """What the offer asks for: the SDP text, and whether it has an audio section."""

    sdp: str
    audio: bool


@dataclass(slots=True)
class _Section:
    kind: str
    port: str
    direction: str = "sendrecv"
    h264: set[str] | None = None
    opus: bool = False
    packetization: dict[str, str] | None = None
    ice: bool = False


def check_offer(body: bytes) -> CheckedOffer:
    """The offer in ``body``, or ``OfferRefused`` (400 malformed, 413 too big, 406 codec)."""
    if len(body) > MAX_OFFER_BYTES:
        raise OfferRefused(413, f"SDP offer is {len(body)} bytes; at most {MAX_OFFER_BYTES}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise OfferRefused(400, "SDP offer is not UTF-8 text") from None
    lines = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if not lines or lines[0] != "v=0":
        raise OfferRefused(400, "not an SDP offer: it must start with v=0")
    session_ice = False
    session_fingerprint = False
    sections: list[_Section] = []
    for line in lines:
        if len(line) < 2 or line[1] != "=":
            raise OfferRefused(400, f"malformed SDP line: {line[:60]!r}")
        if line.startswith("m="):
            fields = line[2:].split()
            if len(fields) < 4:
                raise OfferRefused(400, f"malformed SDP media line: {line[:60]!r}")
            sections.append(_Section(kind=fields[0], port=fields[1]))
            continue
        current = sections[-1] if sections else None
        if line.startswith("a=ice-ufrag:"):
            if current is None:
                session_ice = True
            else:
                current.ice = True
        elif line.startswith("a=fingerprint:"):
            session_fingerprint = True
        elif current is None:
            continue
        elif line[2:] in _DIRECTIONS:
            current.direction = line[2:]
        elif m := _RTPMAP.fullmatch(line):
            name = m[2].lower()
            if name == "h264" and m[3] == "90000":
                current.h264 = (current.h264 or set()) | {m[1]}
            elif name == "opus" and m[3] == "48000":
                current.opus = True
        elif m := _FMTP.fullmatch(line):
            current.packetization = current.packetization or {}
            params = dict(p.strip().partition("=")[::2] for p in m[2].split(";") if p.strip())
            current.packetization[m[1]] = params.get("packetization-mode", "0")
    if not sections:
        raise OfferRefused(400, "SDP offer has no media section")
    if not session_fingerprint:
        raise OfferRefused(400, "SDP offer has no DTLS fingerprint (a=fingerprint)")
    if not session_ice and not all(s.ice for s in sections if s.port != "0"):
        raise OfferRefused(400, "SDP offer has no ICE credentials (a=ice-ufrag)")
    videos = [s for s in sections if s.kind == "video" and s.port != "0"]
    if not videos:
        raise OfferRefused(406, "SDP offer has no video section: this server sends H.264 video")
    video = videos[0]
    if video.direction not in _RECEIVING:
        raise OfferRefused(400, f"the video section is {video.direction}: WHEP offers receive")
    modes = video.packetization or {}
    if not any(modes.get(pt) == "1" for pt in video.h264 or ()):
        raise OfferRefused(
            406,
            "SDP offer cannot receive H.264 with packetization-mode=1: this server forwards "
            "the publisher's H.264 without re-encoding (enable H.264 in the player)",
        )
    audio = any(s.kind == "audio" and s.port != "0" and s.opus for s in sections)
    return CheckedOffer(sdp=text, audio=audio)
