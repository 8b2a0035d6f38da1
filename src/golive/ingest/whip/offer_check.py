"""A WHIP offer checked before the WebRTC stack sees it (RFC 8866 SDP, RFC 6184, RFC 7587).

Only what decides the answer is read: the offer is bounded in size and lines, it has a
video section the publisher sends from, and which codecs it offers. golive takes H.264
video (passed through) and Opus audio (made AAC); an offer whose video is not H.264 or whose
audio is not Opus is refused here with 406, naming what it offered (the admission takes
HEVC and AV1 from other protocols, so its codec check cannot decide this one). The parameter
sets an offer may carry in ``sprop-parameter-sets`` are returned, so a picture can start
before the first in-band ones.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

__all__ = ["MAX_OFFER_BYTES", "CheckedOffer", "OfferRefused", "check_offer"]

MAX_OFFER_BYTES = 64 * 1024
_MAX_LINES = 2000
_MAX_SECTIONS = 8

# RTP encoding names (RFC 8866 rtpmap) -> ISO BMFF sample entries, as the admission knows
# codecs; what golive takes becomes avc1 and mp4a (Opus is made AAC).
_VIDEO = {"h264": "avc1", "vp8": "vp08", "vp9": "vp09", "av1": "av01", "h265": "hvc1"}
_AUDIO = {"opus": "mp4a", "pcmu": "ulaw", "pcma": "alaw", "g722": "g722"}
_SEND = ("sendonly", "sendrecv")
_REPAIR = frozenset({"rtx", "red", "ulpfec", "flexfec-03"})  # not media codecs


class OfferRefused(ValueError):
    """The offer cannot be answered: the HTTP status and a message for the publisher."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class CheckedOffer:
    sdp: str
    codecs: frozenset[str]  # what golive will receive, as the admission names codecs
    video: bool  # an H.264 video section
    audio: bool  # an Opus audio section
    sprop: tuple[bytes, ...]  # H.264 parameter sets from the offer


@dataclass
class _Section:
    kind: str
    direction: str = "sendrecv"
    encodings: dict[str, str] | None = None  # payload type -> lowercased encoding name
    sprop: tuple[bytes, ...] = ()


def check_offer(body: bytes) -> CheckedOffer:
    """The offer, or OfferRefused (400 malformed, 413 too large, 406 codecs)."""
    if len(body) > MAX_OFFER_BYTES:
        raise OfferRefused(413, f"SDP offer over {MAX_OFFER_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise OfferRefused(400, "SDP offer is not UTF-8 text") from None
    lines = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if not lines or lines[0] != "v=0":
        raise OfferRefused(400, "not an SDP offer: it must start with v=0")
    if len(lines) > _MAX_LINES:
        raise OfferRefused(400, f"SDP offer over {_MAX_LINES} lines")
    sections: list[_Section] = []
    session_direction = "sendrecv"
    for line in lines:
        if len(line) < 2 or line[1] != "=":
            raise OfferRefused(400, f"malformed SDP line: {line[:40]!r}")
        kind, value = line[0], line[2:]
        if kind == "m":
            media = value.split(" ", 1)[0]
            sections.append(_Section(media, session_direction, {}))
            if len(sections) > _MAX_SECTIONS:
                raise OfferRefused(400, f"SDP offer with more than {_MAX_SECTIONS} media sections")
        elif kind == "a":
            name, _, rest = value.partition(":")
            if name in ("sendonly", "recvonly", "sendrecv", "inactive"):
                if sections:
                    sections[-1].direction = name
                else:
                    session_direction = name
            elif sections and name == "rtpmap":
                _rtpmap(sections[-1], rest)
            elif sections and name == "fmtp":
                _fmtp(sections[-1], rest)
    if not sections:
        raise OfferRefused(400, "SDP offer has no media section")
    return _decide(text, sections)


def _rtpmap(section: _Section, rest: str) -> None:
    pt, _, encoding = rest.partition(" ")
    if section.encodings is not None and encoding:
        section.encodings[pt.strip()] = encoding.split("/", 1)[0].strip().lower()


def _fmtp(section: _Section, rest: str) -> None:
    for param in rest.partition(" ")[2].split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "sprop-parameter-sets" and not section.sprop:
            sets: list[bytes] = []
            for item in value.split(","):
                try:
                    nal = base64.b64decode(item.strip(), validate=True)
                except (binascii.Error, ValueError):
                    continue
                if nal:
                    sets.append(nal)
            section.sprop = tuple(sets)


def _decide(text: str, sections: list[_Section]) -> CheckedOffer:
    sending = [s for s in sections if s.kind in ("video", "audio") and s.direction in _SEND]
    if not any(s.kind == "video" for s in sending):
        raise OfferRefused(
            406, "the offer sends no video: golive needs an H.264 video track (WHIP publishes)"
        )
    for kind in ("video", "audio"):
        if sum(s.kind == kind for s in sending) > 1:
            # One stream per kind: aiortc would receive a second one, and both would feed
            # the same track.
            raise OfferRefused(400, f"the offer sends more than one {kind} track")
    codecs: set[str] = set()
    audio = False
    sprop: tuple[bytes, ...] = ()
    for section in sending:
        names = set((section.encodings or {}).values()) - _REPAIR
        wanted = "h264" if section.kind == "video" else "opus"
        if wanted not in names:
            table = _VIDEO if section.kind == "video" else _AUDIO
            offered = ", ".join(sorted(table.get(n, n) for n in names)) or "none"
            raise OfferRefused(
                406,
                f"Unsupported codec: {section.kind} {offered} (golive takes H.264 video and "
                "Opus audio over WHIP)",
            )
        if section.kind == "video":
            codecs.add("avc1")
            sprop = sprop or section.sprop
        else:
            codecs.add("mp4a")  # the Opus is made AAC
            audio = True
    return CheckedOffer(text, frozenset(codecs), True, audio, sprop)
