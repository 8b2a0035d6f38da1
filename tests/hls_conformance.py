"""An HLS playlist conformance checker, for golive's tests and benchmarks.

Written from RFC 8216 (HTTP Live Streaming) and its second edition with the Low-Latency HLS
extensions, draft-pantos-hls-rfc8216bis. Section numbers in rule names are those of the
draft (-16 and later): 4.x for the playlist format, 6.2.x for server duties, 8 for protocol
version compatibility and appendix B.1 for the Low-Latency Server Configuration Profile.

Every finding is a :class:`Violation` whose ``rule`` names the section it comes from, e.g.
``"rfc8216bis 4.4.3.1 EXT-X-TARGETDURATION"``. Findings that go beyond the draft because
golive asks more of its own playlists name the project instead (``"golive policy: ..."``);
the message then says what the draft itself allows. SHOULD-level requirements that golive
keeps are reported too; their message says "SHOULD".

Entry points:

* :func:`parse_media_playlist` reads a Media Playlist into a :class:`MediaPlaylist`; it raises
  :class:`PlaylistParseError` (and nothing else) for text that clients must fail to parse.
* :func:`check_media_playlist` checks one Media Playlist, optionally against an earlier
  version of the same playlist (``previous``) and the query of the request it answered
  (``request_query``: ``_HLS_msn``, ``_HLS_part``, ``_HLS_skip``).
* :func:`check_multivariant_playlist` checks a Multivariant Playlist.
* :func:`assert_conformant` raises an AssertionError listing every violation.

The ``check_*`` functions never raise on any input text: unparseable text is reported as
violations.

Version floors required (section 8 plus golive policy):

* From section 8: 2 for the IV of EXT-X-KEY; 3 for decimal (non-integer) EXTINF durations;
  4 for EXT-X-BYTERANGE (and byte-range parts and hints) or EXT-X-I-FRAMES-ONLY; 5 for
  EXT-X-MAP in an I-frame playlist and for SAMPLE-AES or KEYFORMAT(VERSIONS) keys; 6 for
  EXT-X-MAP otherwise (golive's fMP4); 7 for INSTREAM-ID SERVICEn; 8 for EXT-X-DEFINE; 9 for
  EXT-X-SKIP; 10 for an EXT-X-SKIP that replaces date ranges (RECENTLY-REMOVED-DATERANGES);
  11 for EXT-X-DEFINE QUERYPARAM; 12 for REQ- attributes; 13 for EXT-X-MEDIA INSTREAM-ID on
  a rendition that is not CLOSED-CAPTIONS.
* 9 for the Low-Latency tags EXT-X-PART, EXT-X-PART-INF, EXT-X-SERVER-CONTROL,
  EXT-X-PRELOAD-HINT and EXT-X-RENDITION-REPORT: golive policy. The draft attaches version 9
  only to EXT-X-SKIP, but a playlist that offers delta updates (CAN-SKIP-UNTIL) must be able
  to answer with EXT-X-SKIP, and golive declares 9 for all its LL-HLS playlists so that the
  full and the delta form of a playlist carry the same version.
* A Media Playlist must always carry EXT-X-VERSION (golive writes 9; the draft requires the
  tag only when a feature above version 1 is used, which fMP4 always does).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

__all__ = [
    "AttributeValue",
    "ByteRange",
    "MediaPlaylist",
    "MediaSegment",
    "MultivariantPlaylist",
    "PartInf",
    "PartialSegment",
    "PlaylistParseError",
    "PreloadHint",
    "Rendition",
    "RenditionReport",
    "ServerControl",
    "Skip",
    "Tag",
    "VariantStream",
    "Violation",
    "assert_conformant",
    "check_media_playlist",
    "check_multivariant_playlist",
    "parse_media_playlist",
    "parse_multivariant_playlist",
]

# --------------------------------------------------------------------------------------------
# Rule names

DRAFT = "rfc8216bis"

R_PLAYLIST = f"{DRAFT} 4.1 Definition of a Playlist"
R_ATTRIBUTES = f"{DRAFT} 4.2 Attribute Lists"
R_EXTM3U = f"{DRAFT} 4.4.1.1 EXTM3U"
R_VERSION = f"{DRAFT} 4.4.1.2 EXT-X-VERSION"
R_ONCE = f"{DRAFT} 4.4.2 Media or Multivariant Playlist Tags"
R_MEDIA_TAGS = f"{DRAFT} 4.4.3 Media Playlist Tags"
R_TARGETDURATION = f"{DRAFT} 4.4.3.1 EXT-X-TARGETDURATION"
R_MEDIA_SEQUENCE = f"{DRAFT} 4.4.3.2 EXT-X-MEDIA-SEQUENCE"
R_DISCONTINUITY_SEQUENCE = f"{DRAFT} 4.4.3.3 EXT-X-DISCONTINUITY-SEQUENCE"
R_PLAYLIST_TYPE = f"{DRAFT} 4.4.3.5 EXT-X-PLAYLIST-TYPE"
R_PART_INF = f"{DRAFT} 4.4.3.7 EXT-X-PART-INF"
R_SERVER_CONTROL = f"{DRAFT} 4.4.3.8 EXT-X-SERVER-CONTROL"
R_EXTINF = f"{DRAFT} 4.4.4.1 EXTINF"
R_BYTERANGE = f"{DRAFT} 4.4.4.2 EXT-X-BYTERANGE"
R_KEY = f"{DRAFT} 4.4.4.4 EXT-X-KEY"
R_MAP = f"{DRAFT} 4.4.4.5 EXT-X-MAP"
R_PDT = f"{DRAFT} 4.4.4.6 EXT-X-PROGRAM-DATE-TIME"
R_PART = f"{DRAFT} 4.4.4.9 EXT-X-PART"
R_DATERANGE = f"{DRAFT} 4.4.5.1 EXT-X-DATERANGE"
R_SKIP = f"{DRAFT} 4.4.5.2 EXT-X-SKIP"
R_PRELOAD_HINT = f"{DRAFT} 4.4.5.3 EXT-X-PRELOAD-HINT"
R_RENDITION_REPORT = f"{DRAFT} 4.4.5.4 EXT-X-RENDITION-REPORT"
R_MULTIVARIANT_TAGS = f"{DRAFT} 4.4.6 Multivariant Playlist Tags"
R_MEDIA = f"{DRAFT} 4.4.6.1 EXT-X-MEDIA"
R_RENDITION_GROUPS = f"{DRAFT} 4.4.6.1.1 Rendition Groups"
R_STREAM_INF = f"{DRAFT} 4.4.6.2 EXT-X-STREAM-INF"
R_I_FRAME_STREAM_INF = f"{DRAFT} 4.4.6.3 EXT-X-I-FRAME-STREAM-INF"
R_FMP4 = f"{DRAFT} 3.1.2 Fragmented MPEG-4"
R_PARTIAL_SEGMENTS = f"{DRAFT} 3.2 Partial Segments"
R_SERVER = f"{DRAFT} 6.2.1 General Server Responsibilities"
R_LIVE = f"{DRAFT} 6.2.2 Live Playlists"
R_DELTA = f"{DRAFT} 6.2.5.1 Playlist Delta Updates"
R_BLOCKING = f"{DRAFT} 6.2.5.2 Blocking Playlist Reload"
R_PRELOAD = f"{DRAFT} 6.2.6 Providing Preload Hints"
R_COMPAT = f"{DRAFT} 8 Protocol Version Compatibility"
R_LL_PROFILE = f"{DRAFT} B.1 Low-Latency Server Configuration Profile"

G_VERSION = "golive policy: EXT-X-VERSION"
G_EXTINF = "golive policy: EXTINF <= EXT-X-TARGETDURATION"
G_ENDLIST = "golive policy: EXT-X-ENDLIST last"
G_BLOCK = "golive policy: CAN-BLOCK-RELOAD with Partial Segments"
G_PDT = "golive policy: EXT-X-PROGRAM-DATE-TIME follows EXTINF"
G_REPORT = "golive policy: EXT-X-RENDITION-REPORT attributes"
G_NAMING = "golive naming: <msn>.m4s and <msn>.<part>.m4s"
G_STREAM_INF = "golive policy: EXT-X-STREAM-INF attributes"

# --------------------------------------------------------------------------------------------
# Tolerances

PDT_TOLERANCE_S = 0.25
"""How far an EXT-X-PROGRAM-DATE-TIME may stray from the previous one plus the EXTINF
durations between them (no discontinuity in between) before golive calls it inconsistent."""

PDT_OVERLAP_LIMIT_S = 1.0
"""6.2.1 allows sub-second overlaps between the dates of consecutive segments."""

PART_SUM_TOLERANCE_S = 0.01
"""Base tolerance between the EXTINF of a completed segment and the sum of its parts; one
millisecond per part is added for the rounding of each written duration."""

DURATION_EPSILON_S = 1e-6
"""Float slack for comparisons that the draft states exactly (part <= PART-TARGET)."""

RELOAD_DURATION_TOLERANCE_S = 0.0005
"""How much a segment's EXTINF may differ between two versions of a playlist (rounding)."""

PART_MIN_FRACTION = 0.85
"""4.4.4.9: parts are at least 85% of the Part Target Duration, with exceptions."""

MAX_DECIMAL_INTEGER = 2**64 - 1

# --------------------------------------------------------------------------------------------
# Public data types


@dataclass(frozen=True, slots=True)
class Violation:
    """One breach of a rule; ``line`` is 1-based, None for the playlist as a whole."""

    rule: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "playlist"
        return f"[{self.rule}] {where}: {self.message}"


class PlaylistParseError(ValueError):
    """The text is not a playlist that a client could parse (see ``violations``)."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        first = violations[0] if violations else None
        self.line = first.line if first is not None else None
        summary = "; ".join(str(v) for v in violations[:5])
        more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
        super().__init__(f"not a valid playlist: {summary}{more}")


@dataclass(frozen=True, slots=True)
class AttributeValue:
    """One AttributeValue of an attribute-list; ``value`` has the quotes removed."""

    value: str
    quoted: bool


@dataclass(slots=True)
class Tag:
    """A tag line: ``#NAME`` or ``#NAME:value``; ``attributes`` when the value is a list."""

    name: str
    value: str | None
    line: int
    attributes: dict[str, AttributeValue] | None = None


@dataclass(frozen=True, slots=True)
class ByteRange:
    length: int
    offset: int | None


@dataclass(slots=True)
class PartialSegment:
    """An EXT-X-PART; ``msn`` is its parent's Media Sequence Number, ``index`` its Part Index."""

    uri: str
    duration: float
    independent: bool
    gap: bool
    byterange: ByteRange | None
    line: int
    msn: int = 0
    index: int = 0


@dataclass(slots=True)
class MediaSegment:
    """A Media Segment: its URI line, EXTINF and the tags that apply to it."""

    uri: str
    duration: float
    title: str
    line: int
    extinf_line: int | None
    msn: int = 0
    discontinuity: bool = False
    discontinuity_sequence: int | None = None  # None when unknown (delta update)
    program_date_time: datetime | None = None  # an explicit tag only
    program_date_time_line: int | None = None
    map_uri: str | None = None
    map_byterange: ByteRange | None = None
    byterange: ByteRange | None = None
    gap: bool = False
    parts: list[PartialSegment] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PreloadHint:
    type: str
    uri: str
    byterange_start: int | None
    byterange_length: int | None
    line: int


@dataclass(frozen=True, slots=True)
class ServerControl:
    can_block_reload: bool
    can_skip_until: float | None
    can_skip_dateranges: bool
    hold_back: float | None
    part_hold_back: float | None
    line: int


@dataclass(frozen=True, slots=True)
class PartInf:
    part_target: float
    line: int


@dataclass(frozen=True, slots=True)
class Skip:
    skipped_segments: int
    recently_removed_dateranges: tuple[str, ...] | None
    line: int


@dataclass(frozen=True, slots=True)
class RenditionReport:
    uri: str | None
    last_msn: int | None
    last_part: int | None
    line: int


@dataclass(slots=True)
class MediaPlaylist:
    """A parsed Media Playlist.

    ``segments`` are the completed Media Segments (each with the parts still listed for it);
    ``trailing_parts`` are the parts of the segment still being produced, which has no EXTINF
    yet. ``parts`` lists every part in playlist order.
    """

    tags: list[Tag] = field(default_factory=list)
    version: int | None = None
    target_duration: int | None = None
    media_sequence: int = 0
    has_media_sequence: bool = False
    discontinuity_sequence: int = 0
    has_discontinuity_sequence: bool = False
    playlist_type: str | None = None
    endlist: bool = False
    i_frames_only: bool = False
    independent_segments: bool = False
    part_inf: PartInf | None = None
    server_control: ServerControl | None = None
    skip: Skip | None = None
    segments: list[MediaSegment] = field(default_factory=list)
    trailing_parts: list[PartialSegment] = field(default_factory=list)
    trailing_discontinuity: bool = False
    trailing_program_date_time: datetime | None = None
    trailing_program_date_time_line: int | None = None
    trailing_map_uri: str | None = None
    preload_hints: list[PreloadHint] = field(default_factory=list)
    rendition_reports: list[RenditionReport] = field(default_factory=list)

    @property
    def parts(self) -> list[PartialSegment]:
        out = [p for s in self.segments for p in s.parts]
        out.extend(self.trailing_parts)
        return out

    @property
    def skipped_segments(self) -> int:
        return self.skip.skipped_segments if self.skip is not None else 0

    @property
    def next_msn(self) -> int:
        """The Media Sequence Number of the segment that follows the last completed one."""
        return self.media_sequence + self.skipped_segments + len(self.segments)

    @property
    def last_msn(self) -> int | None:
        """MSN of the last segment or part (LAST-MSN semantics); None if there is none."""
        if self.trailing_parts:
            return self.next_msn
        if self.segments:
            return self.segments[-1].msn
        return None

    @property
    def last_part(self) -> int | None:
        """Part Index of the last part of ``last_msn`` (LAST-PART semantics), if any."""
        if self.trailing_parts:
            return self.trailing_parts[-1].index
        if self.segments and self.segments[-1].parts:
            return self.segments[-1].parts[-1].index
        return None

    @property
    def duration(self) -> float:
        """Sum of the EXTINF durations of the listed (not skipped) segments."""
        return math.fsum(s.duration for s in self.segments)


@dataclass(slots=True)
class VariantStream:
    attributes: dict[str, AttributeValue]
    uri: str | None
    line: int
    uri_line: int | None


@dataclass(slots=True)
class Rendition:
    attributes: dict[str, AttributeValue]
    line: int


@dataclass(slots=True)
class MultivariantPlaylist:
    tags: list[Tag] = field(default_factory=list)
    version: int | None = None
    variants: list[VariantStream] = field(default_factory=list)
    i_frame_variants: list[Rendition] = field(default_factory=list)
    renditions: list[Rendition] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Tag classification (section 4.4)

BASIC_TAGS = frozenset({"EXTM3U", "EXT-X-VERSION"})
MEDIA_OR_MULTIVARIANT_TAGS = frozenset(
    {"EXT-X-INDEPENDENT-SEGMENTS", "EXT-X-START", "EXT-X-DEFINE"}
)
MEDIA_PLAYLIST_TAGS = frozenset(
    {
        "EXT-X-TARGETDURATION",
        "EXT-X-MEDIA-SEQUENCE",
        "EXT-X-DISCONTINUITY-SEQUENCE",
        "EXT-X-ENDLIST",
        "EXT-X-PLAYLIST-TYPE",
        "EXT-X-I-FRAMES-ONLY",
        "EXT-X-PART-INF",
        "EXT-X-SERVER-CONTROL",
    }
)
MEDIA_SEGMENT_TAGS = frozenset(
    {
        "EXTINF",
        "EXT-X-BYTERANGE",
        "EXT-X-DISCONTINUITY",
        "EXT-X-KEY",
        "EXT-X-MAP",
        "EXT-X-PROGRAM-DATE-TIME",
        "EXT-X-GAP",
        "EXT-X-BITRATE",
        "EXT-X-PART",
    }
)
MEDIA_METADATA_TAGS = frozenset(
    {"EXT-X-DATERANGE", "EXT-X-SKIP", "EXT-X-PRELOAD-HINT", "EXT-X-RENDITION-REPORT"}
)
MULTIVARIANT_TAGS = frozenset(
    {
        "EXT-X-MEDIA",
        "EXT-X-STREAM-INF",
        "EXT-X-I-FRAME-STREAM-INF",
        "EXT-X-SESSION-DATA",
        "EXT-X-SESSION-KEY",
        "EXT-X-CONTENT-STEERING",
    }
)
NO_VALUE_TAGS = frozenset(
    {
        "EXTM3U",
        "EXT-X-ENDLIST",
        "EXT-X-I-FRAMES-ONLY",
        "EXT-X-INDEPENDENT-SEGMENTS",
        "EXT-X-DISCONTINUITY",
        "EXT-X-GAP",
    }
)
LOW_LATENCY_TAGS = frozenset(
    {
        "EXT-X-PART",
        "EXT-X-PART-INF",
        "EXT-X-SERVER-CONTROL",
        "EXT-X-PRELOAD-HINT",
        "EXT-X-RENDITION-REPORT",
    }
)
FMP4_EXTENSIONS = (".m4s", ".mp4", ".m4v", ".m4a", ".cmfv", ".cmfa", ".cmft", ".fmp4")
LL_HLS_VERSION = 9

# --------------------------------------------------------------------------------------------
# Lexical helpers

_ATTRIBUTE_NAME = re.compile(r"[A-Z0-9-]+")
_DECIMAL_INTEGER = re.compile(r"[0-9]{1,20}")
_DECIMAL_FLOAT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_SIGNED_FLOAT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_RESOLUTION = re.compile(r"([0-9]{1,20})x([0-9]{1,20})")
_BYTERANGE = re.compile(r"([0-9]{1,20})(?:@([0-9]{1,20}))?")
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
_CODEC = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{3}(?:\.[A-Za-z0-9_+-]+)*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_GOLIVE_SEGMENT = re.compile(r"([0-9]{1,20})\.m4s")
_GOLIVE_PART = re.compile(r"([0-9]{1,20})\.([0-9]{1,20})\.m4s")
_VIDEO_CODECS = ("avc1", "avc3", "hvc1", "hev1", "av01", "vp08", "vp09", "dvh1", "dvhe", "vvc1")


def _is_decimal_integer(text: str) -> bool:
    return _DECIMAL_INTEGER.fullmatch(text) is not None and int(text) <= MAX_DECIMAL_INTEGER


def _attribute_list(text: str) -> tuple[dict[str, AttributeValue], list[str]]:
    """Splits an attribute-list (4.2); returns the attributes and what is wrong with it."""
    attrs: dict[str, AttributeValue] = {}
    problems: list[str] = []
    n = len(text)
    if n == 0:
        return attrs, ["empty attribute-list"]
    i = 0
    while i < n:
        j = i
        while j < n and text[j] not in "=,":
            j += 1
        name = text[i:j]
        if j >= n or text[j] != "=":
            problems.append(f"attribute {name!r} has no '=' and value")
            i = j + 1
            if i == n:
                problems.append("attribute-list ends with a comma")
            continue
        if not _ATTRIBUTE_NAME.fullmatch(name):
            problems.append(f"{name!r} is not an AttributeName ([A-Z0-9-], no whitespace)")
        j += 1
        quoted = j < n and text[j] == '"'
        if quoted:
            end = text.find('"', j + 1)
            if end < 0:
                problems.append(f"quoted-string of {name} has no closing quote")
                value = text[j + 1 :]
                i = n
            else:
                value = text[j + 1 : end]
                i = end + 1
                if i < n and text[i] != ",":
                    problems.append(f"unexpected characters after the quoted-string of {name}")
                    nxt = text.find(",", i)
                    i = n if nxt < 0 else nxt
        else:
            end = text.find(",", j)
            end = n if end < 0 else end
            value = text[j:end]
            i = end
            if not value:
                problems.append(f"attribute {name} has an empty value")
            elif any(c.isspace() or c == '"' for c in value):
                problems.append(f"unquoted value of {name} contains whitespace or a quote")
        if name in attrs:
            problems.append(f"AttributeName {name} appears more than once")
        else:
            attrs[name] = AttributeValue(value, quoted)
        if i < n:  # text[i] == ","
            i += 1
            if i == n:
                problems.append("attribute-list ends with a comma")
    return attrs, problems


def _parse_date_time(text: str) -> tuple[datetime | None, list[str]]:
    """ISO 8601 date-time of EXT-X-PROGRAM-DATE-TIME; the result is timezone-aware."""
    m = _DATE_TIME.fullmatch(text)
    if m is None:
        return None, [f"{text!r} is not an ISO 8601 date-time (YYYY-MM-DDThh:mm:ss.SSSZ)"]
    problems: list[str] = []
    year, month, day, hour, minute, second = (int(m.group(k)) for k in range(1, 7))
    fraction = m.group(7)
    zone = m.group(8)
    micro = 0
    if fraction is None or len(fraction) < 4:
        problems.append("date-time SHOULD give fractional seconds to at least millisecond accuracy")
    if fraction is not None:
        micro = int((fraction[1:] + "000000")[:6])
    tz: timezone = UTC
    if zone is None:
        problems.append("date-time has no time zone (golive requires one; the draft SHOULD)")
    elif zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        hours = int(digits[:2])
        minutes = int(digits[2:4]) if len(digits) >= 4 else 0
        if hours > 23 or minutes > 59:
            return None, [f"{text!r} has an invalid time zone offset"]
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        value = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as exc:
        return None, [f"{text!r} is not a valid date-time: {exc}"]
    return value, problems


def _seconds_between(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


def _uri_path_name(uri: str) -> str:
    """The last path segment of a URI, without query or fragment."""
    try:
        path = urlsplit(uri).path
    except ValueError:
        path = uri
    return path.rsplit("/", 1)[-1]


def _looks_fmp4(uri: str) -> bool:
    return _uri_path_name(uri).lower().endswith(FMP4_EXTENSIONS)


# --------------------------------------------------------------------------------------------
# Line reading shared by both playlist kinds


@dataclass(slots=True)
class _Line:
    number: int
    text: str
    kind: str  # "tag", "uri", "comment", "blank"
    tag: Tag | None = None


class _Reader:
    """Splits playlist text into lines and reports section 4.1 and 4.4.1.1 problems."""

    def __init__(self, text: str, out: list[Violation]) -> None:
        self.out = out
        self.lines: list[_Line] = []
        if text.startswith("\ufeff"):
            out.append(Violation(R_PLAYLIST, 1, "playlist starts with a Byte Order Mark"))
            text = text[1:]
        if not unicodedata.is_normalized("NFC", text):
            out.append(Violation(R_PLAYLIST, None, "text is not in Unicode normalization NFC"))
        raw_lines = text.split("\n")
        if raw_lines and raw_lines[-1] == "":
            raw_lines.pop()
        for number, raw in enumerate(raw_lines, start=1):
            line = raw[:-1] if raw.endswith("\r") else raw
            allow_tab = line.startswith("#EXT-X-SKIP:")
            if any(
                (ord(c) < 0x20 and not (allow_tab and c == "\t")) or 0x7F <= ord(c) <= 0x9F
                for c in line
            ):
                out.append(Violation(R_PLAYLIST, number, "line contains a control character"))
            if line.strip() == "":
                if line:
                    out.append(Violation(R_PLAYLIST, number, "whitespace-only line"))
                self.lines.append(_Line(number, "", "blank"))
                continue
            if line != line.strip():
                out.append(
                    Violation(R_PLAYLIST, number, "leading or trailing whitespace on a line")
                )
                line = line.strip()
            if line.startswith("#EXT"):
                name, sep, value = line[1:].partition(":")
                tag = Tag(name, value if sep else None, number)
                self.lines.append(_Line(number, line, "tag", tag))
            elif line.startswith("#"):
                self.lines.append(_Line(number, line, "comment"))
            else:
                if any(c.isspace() for c in line):
                    out.append(Violation(R_PLAYLIST, number, "URI line contains whitespace"))
                self.lines.append(_Line(number, line, "uri"))
        if not self.lines or self.lines[0].text != "#EXTM3U":
            out.append(Violation(R_EXTM3U, 1, "the first line MUST be #EXTM3U"))
        for ln in self.lines[1:]:
            if ln.tag is not None and ln.tag.name == "EXTM3U":
                out.append(Violation(R_EXTM3U, ln.number, "EXTM3U may only be the first line"))

    def tags(self) -> Iterable[Tag]:
        for ln in self.lines:
            if ln.tag is not None:
                yield ln.tag


class _Attrs:
    """Typed access to one tag's attribute-list, reporting problems under ``rule``."""

    def __init__(
        self,
        name: str,
        line: int,
        attrs: dict[str, AttributeValue],
        rule: str,
        out: list[Violation],
    ) -> None:
        self.name = name
        self.line = line
        self.attrs = attrs
        self.rule = rule
        self.out = out

    @classmethod
    def parse(cls, tag: Tag, rule: str, out: list[Violation]) -> _Attrs:
        """Splits the tag's attribute-list (stored on the tag) and reports its syntax."""
        attrs, problems = _attribute_list(tag.value or "")
        tag.attributes = attrs
        for problem in problems:
            out.append(Violation(R_ATTRIBUTES, tag.line, f"{tag.name}: {problem}"))
        if tag.value is None:
            out.append(Violation(rule, tag.line, f"{tag.name} needs an attribute-list"))
        return cls(tag.name, tag.line, attrs, rule, out)

    def bad(self, message: str) -> None:
        self.out.append(Violation(self.rule, self.line, f"{self.name}: {message}"))

    def has(self, name: str) -> bool:
        return name in self.attrs

    def quoted(self, name: str, *, required: bool = False, allow_empty: bool = False) -> str | None:
        v = self.attrs.get(name)
        if v is None:
            if required:
                self.bad(f"{name} is REQUIRED")
            return None
        if not v.quoted:
            self.bad(f"{name} must be a quoted-string")
        if not v.value and not allow_empty:
            self.bad(f"{name} must not be empty")
        return v.value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        v = self.attrs.get(name)
        if v is None:
            if required:
                self.bad(f"{name} is REQUIRED")
            return None
        if v.quoted or not _is_decimal_integer(v.value):
            self.bad(f"{name}={v.value!r} is not a decimal-integer")
            return None
        return int(v.value)

    def decimal(self, name: str, *, required: bool = False) -> float | None:
        v = self.attrs.get(name)
        if v is None:
            if required:
                self.bad(f"{name} is REQUIRED")
            return None
        if v.quoted or _DECIMAL_FLOAT.fullmatch(v.value) is None:
            self.bad(f"{name}={v.value!r} is not a decimal-floating-point")
            return None
        return float(v.value)

    def signed(self, name: str, *, required: bool = False) -> float | None:
        v = self.attrs.get(name)
        if v is None:
            if required:
                self.bad(f"{name} is REQUIRED")
            return None
        if v.quoted or _SIGNED_FLOAT.fullmatch(v.value) is None:
            self.bad(f"{name}={v.value!r} is not a signed-decimal-floating-point")
            return None
        return float(v.value)

    def enum(self, name: str, allowed: Iterable[str], *, required: bool = False) -> str | None:
        v = self.attrs.get(name)
        if v is None:
            if required:
                self.bad(f"{name} is REQUIRED")
            return None
        allowed = tuple(allowed)
        if v.quoted or v.value not in allowed:
            self.bad(f"{name}={v.value!r} is not one of {', '.join(allowed)}")
            return None
        return v.value

    def byterange(self, name: str, *, offset_required: bool = False) -> ByteRange | None:
        text = self.quoted(name)
        if text is None:
            return None
        m = _BYTERANGE.fullmatch(text)
        if m is None or not _is_decimal_integer(m.group(1)):
            self.bad(f'{name}="{text}" is not "<n>[@<o>]"')
            return None
        offset = int(m.group(2)) if m.group(2) is not None else None
        if offset is None and offset_required:
            self.bad(f'{name}="{text}" needs an offset ("<n>@<o>")')
        return ByteRange(int(m.group(1)), offset)


def _integer_value(tag: Tag, rule: str, out: list[Violation]) -> int | None:
    if tag.value is None or not _is_decimal_integer(tag.value):
        out.append(Violation(rule, tag.line, f"{tag.name}: {tag.value!r} is not a decimal-integer"))
        return None
    return int(tag.value)


def _check_single(
    tags: Iterable[Tag], names: Iterable[str], rule: str, out: list[Violation]
) -> None:
    seen: dict[str, int] = {}
    names = frozenset(names)
    for tag in tags:
        if tag.name in names:
            if tag.name in seen:
                out.append(
                    Violation(
                        rule,
                        tag.line,
                        f"{tag.name} MUST NOT appear more than once (first at line "
                        f"{seen[tag.name]})",
                    )
                )
            else:
                seen[tag.name] = tag.line


# --------------------------------------------------------------------------------------------
# Media Playlist parsing


@dataclass(slots=True)
class _Pending:
    """Media Segment tags seen since the last URI line."""

    extinf: tuple[float, str, int, str] | None = None  # duration, title, line, raw duration
    byterange: ByteRange | None = None
    byterange_line: int | None = None
    discontinuity_line: int | None = None
    pdt: datetime | None = None
    pdt_line: int | None = None
    gap: bool = False
    parts: list[PartialSegment] = field(default_factory=list)


@dataclass(slots=True)
class _MediaParse:
    playlist: MediaPlaylist
    syntax: list[Violation]  # what makes clients fail to parse it
    notes: list[Violation]  # other findings made while reading
    first_segment_line: int | None
    uses_float_extinf: bool
    has_key_iv: bool
    has_key_v5: bool
    has_byterange: bool
    has_define: bool
    has_queryparam: bool
    has_req_attribute: bool
    endlist_line: int | None
    map_lines: list[int]
    discontinuity_lines: list[int]
    skip_after_segments: bool


def _parse_media(text: str) -> _MediaParse:
    syntax: list[Violation] = []
    notes: list[Violation] = []
    reader = _Reader(text, syntax)
    pl = MediaPlaylist()
    pending = _Pending()
    current_map: tuple[str, ByteRange | None] | None = None
    first_segment_line: int | None = None
    flags = {
        "float_extinf": False,
        "key_iv": False,
        "key_v5": False,
        "byterange": False,
        "define": False,
        "queryparam": False,
        "req": False,
    }
    endlist_line: int | None = None
    map_lines: list[int] = []
    discontinuity_lines: list[int] = []
    skip_after_segments = False

    def segment_started(line: int) -> None:
        nonlocal first_segment_line
        if first_segment_line is None:
            first_segment_line = line

    def before_first_part(tag: Tag) -> None:
        if pending.parts:
            notes.append(
                Violation(
                    R_PART,
                    tag.line,
                    f"{tag.name} applies to a Parent Segment, so it MUST appear before the "
                    f"first EXT-X-PART of that segment (line {pending.parts[0].line})",
                )
            )

    for ln in reader.lines:
        if ln.kind in ("blank", "comment"):
            continue
        if ln.kind == "uri":
            segment_started(ln.number)
            if pending.extinf is None:
                syntax.append(
                    Violation(R_EXTINF, ln.number, f"URI line {ln.text!r} has no EXTINF tag")
                )
                duration, title, extinf_line = 0.0, "", None
            else:
                duration, title, extinf_line, _raw = pending.extinf
            seg = MediaSegment(
                uri=ln.text,
                duration=duration,
                title=title,
                line=ln.number,
                extinf_line=extinf_line,
                discontinuity=pending.discontinuity_line is not None,
                program_date_time=pending.pdt,
                program_date_time_line=pending.pdt_line,
                map_uri=current_map[0] if current_map else None,
                map_byterange=current_map[1] if current_map else None,
                byterange=pending.byterange,
                gap=pending.gap,
                parts=pending.parts,
            )
            pl.segments.append(seg)
            pending = _Pending()
            continue

        tag = ln.tag
        assert tag is not None
        pl.tags.append(tag)
        name = tag.name
        if name in NO_VALUE_TAGS and tag.value is not None:
            syntax.append(Violation(R_PLAYLIST, tag.line, f"{name} takes no value"))
        if name in MULTIVARIANT_TAGS:
            syntax.append(
                Violation(
                    R_MULTIVARIANT_TAGS,
                    tag.line,
                    f"Multivariant Playlist tag {name} MUST NOT appear in a Media Playlist",
                )
            )
            continue
        if name in ("EXTINF", "EXT-X-PART", "EXT-X-BYTERANGE"):
            segment_started(tag.line)

        if name == "EXT-X-VERSION":
            value = _integer_value(tag, R_VERSION, syntax)
            if pl.version is None and value is not None:
                pl.version = value
        elif name == "EXT-X-TARGETDURATION":
            value = _integer_value(tag, R_TARGETDURATION, syntax)
            if value is not None:
                if value < 1:
                    notes.append(Violation(R_TARGETDURATION, tag.line, "value MUST be >= 1"))
                if pl.target_duration is None:
                    pl.target_duration = value
        elif name == "EXT-X-MEDIA-SEQUENCE":
            value = _integer_value(tag, R_MEDIA_SEQUENCE, syntax)
            if value is not None and not pl.has_media_sequence:
                pl.media_sequence = value
                pl.has_media_sequence = True
            if first_segment_line is not None:
                notes.append(
                    Violation(
                        R_MEDIA_SEQUENCE,
                        tag.line,
                        f"MUST appear before the first Media Segment (line {first_segment_line})",
                    )
                )
        elif name == "EXT-X-DISCONTINUITY-SEQUENCE":
            value = _integer_value(tag, R_DISCONTINUITY_SEQUENCE, syntax)
            if value is not None and not pl.has_discontinuity_sequence:
                pl.discontinuity_sequence = value
                pl.has_discontinuity_sequence = True
            if first_segment_line is not None:
                notes.append(
                    Violation(
                        R_DISCONTINUITY_SEQUENCE,
                        tag.line,
                        f"MUST appear before the first Media Segment (line {first_segment_line})",
                    )
                )
            if discontinuity_lines:
                notes.append(
                    Violation(
                        R_DISCONTINUITY_SEQUENCE,
                        tag.line,
                        "MUST appear before any EXT-X-DISCONTINUITY "
                        f"(line {discontinuity_lines[0]})",
                    )
                )
        elif name == "EXT-X-ENDLIST":
            pl.endlist = True
            if endlist_line is None:
                endlist_line = tag.line
        elif name == "EXT-X-PLAYLIST-TYPE":
            if tag.value not in ("EVENT", "VOD"):
                syntax.append(
                    Violation(R_PLAYLIST_TYPE, tag.line, f"{tag.value!r} is not EVENT or VOD")
                )
            elif pl.playlist_type is None:
                pl.playlist_type = tag.value
        elif name == "EXT-X-I-FRAMES-ONLY":
            pl.i_frames_only = True
        elif name == "EXT-X-INDEPENDENT-SEGMENTS":
            pl.independent_segments = True
        elif name == "EXT-X-START":
            a = _Attrs.parse(tag, f"{DRAFT} 4.4.2.2 EXT-X-START", syntax)
            a.signed("TIME-OFFSET", required=True)
            a.enum("PRECISE", ("YES", "NO"))
        elif name == "EXT-X-DEFINE":
            flags["define"] = True
            a = _Attrs.parse(tag, f"{DRAFT} 4.4.2.3 EXT-X-DEFINE", syntax)
            if a.has("QUERYPARAM"):
                flags["queryparam"] = True
        elif name == "EXT-X-PART-INF":
            a = _Attrs.parse(tag, R_PART_INF, syntax)
            target = a.decimal("PART-TARGET", required=True)
            if target is not None:
                if target <= 0:
                    notes.append(Violation(R_PART_INF, tag.line, "PART-TARGET must be > 0"))
                if pl.part_inf is None:
                    pl.part_inf = PartInf(target, tag.line)
        elif name == "EXT-X-SERVER-CONTROL":
            a = _Attrs.parse(tag, R_SERVER_CONTROL, syntax)
            control = ServerControl(
                can_block_reload=a.enum("CAN-BLOCK-RELOAD", ("YES",)) == "YES",
                can_skip_until=a.decimal("CAN-SKIP-UNTIL"),
                can_skip_dateranges=a.enum("CAN-SKIP-DATERANGES", ("YES",)) == "YES",
                hold_back=a.decimal("HOLD-BACK"),
                part_hold_back=a.decimal("PART-HOLD-BACK"),
                line=tag.line,
            )
            if pl.server_control is None:
                pl.server_control = control
        elif name == "EXTINF":
            if pending.extinf is not None:
                syntax.append(
                    Violation(
                        R_EXTINF,
                        tag.line,
                        f"second EXTINF before a URI line (first at line {pending.extinf[2]})",
                    )
                )
            raw, comma, title = (tag.value or "").partition(",")
            if not comma:
                syntax.append(
                    Violation(R_EXTINF, tag.line, "format is #EXTINF:<duration>,[<title>]")
                )
            if _DECIMAL_FLOAT.fullmatch(raw) is None:
                syntax.append(
                    Violation(R_EXTINF, tag.line, f"duration {raw!r} is not a decimal number")
                )
                pending.extinf = (0.0, title, tag.line, raw)
            else:
                if "." in raw:
                    flags["float_extinf"] = True
                pending.extinf = (float(raw), title, tag.line, raw)
        elif name == "EXT-X-BYTERANGE":
            flags["byterange"] = True
            m = _BYTERANGE.fullmatch(tag.value or "")
            if m is None:
                syntax.append(Violation(R_BYTERANGE, tag.line, "format is <n>[@<o>]"))
            else:
                offset = int(m.group(2)) if m.group(2) is not None else None
                pending.byterange = ByteRange(int(m.group(1)), offset)
                pending.byterange_line = tag.line
        elif name == "EXT-X-DISCONTINUITY":
            before_first_part(tag)
            discontinuity_lines.append(tag.line)
            pending.discontinuity_line = tag.line
        elif name == "EXT-X-KEY":
            before_first_part(tag)
            a = _Attrs.parse(tag, R_KEY, syntax)
            method = a.enum(
                "METHOD",
                ("NONE", "AES-128", "SAMPLE-AES", "SAMPLE-AES-CTR", "AES-256-GCM"),
                required=True,
            )
            if method == "NONE" and len(a.attrs) > 1:
                notes.append(
                    Violation(R_KEY, tag.line, "with METHOD=NONE no other attribute is allowed")
                )
            if method not in (None, "NONE"):
                a.quoted("URI", required=True)
            if a.has("IV"):
                flags["key_iv"] = True
            if method == "SAMPLE-AES" or a.has("KEYFORMAT") or a.has("KEYFORMATVERSIONS"):
                flags["key_v5"] = True
        elif name == "EXT-X-MAP":
            before_first_part(tag)
            map_lines.append(tag.line)
            a = _Attrs.parse(tag, R_MAP, syntax)
            uri = a.quoted("URI", required=True)
            byterange = a.byterange("BYTERANGE", offset_required=True)
            current_map = (uri or "", byterange)
        elif name == "EXT-X-PROGRAM-DATE-TIME":
            before_first_part(tag)
            date, problems = _parse_date_time(tag.value or "")
            for problem in problems:
                target_list = syntax if date is None else notes
                target_list.append(Violation(R_PDT, tag.line, problem))
            if pending.pdt_line is not None:
                notes.append(
                    Violation(
                        R_PDT,
                        tag.line,
                        "a second EXT-X-PROGRAM-DATE-TIME for the same segment "
                        f"(first at line {pending.pdt_line})",
                    )
                )
            pending.pdt = date
            pending.pdt_line = tag.line
        elif name == "EXT-X-GAP":
            pending.gap = True
        elif name == "EXT-X-BITRATE":
            _integer_value(tag, f"{DRAFT} 4.4.4.8 EXT-X-BITRATE", syntax)
        elif name == "EXT-X-PART":
            a = _Attrs.parse(tag, R_PART, syntax)
            uri = a.quoted("URI", required=True)
            part_duration = a.decimal("DURATION", required=True)
            independent = a.enum("INDEPENDENT", ("YES",)) == "YES"
            gap = a.enum("GAP", ("YES",)) == "YES"
            byterange = a.byterange("BYTERANGE")
            if byterange is not None:
                flags["byterange"] = True
                if byterange.offset is None and not pending.parts:
                    notes.append(
                        Violation(
                            R_PART,
                            tag.line,
                            "BYTERANGE without an offset needs a previous Partial Segment of "
                            "the same Parent Segment",
                        )
                    )
            part = PartialSegment(
                uri=uri or "",
                duration=part_duration if part_duration is not None else 0.0,
                independent=independent,
                gap=gap,
                byterange=byterange,
                line=tag.line,
                index=len(pending.parts),
            )
            if pending.extinf is not None:
                syntax.append(
                    Violation(
                        R_PART,
                        tag.line,
                        "EXT-X-PART between an EXTINF and its URI line: the parts of a "
                        "Parent Segment come before its EXTINF",
                    )
                )
            pending.parts.append(part)
        elif name == "EXT-X-DATERANGE":
            a = _Attrs.parse(tag, R_DATERANGE, syntax)
            a.quoted("ID", required=True)
        elif name == "EXT-X-SKIP":
            a = _Attrs.parse(tag, R_SKIP, syntax)
            skipped = a.integer("SKIPPED-SEGMENTS", required=True)
            removed = a.quoted("RECENTLY-REMOVED-DATERANGES", allow_empty=True)
            if first_segment_line is not None or pending.parts:
                skip_after_segments = True
            if pl.skip is None:
                pl.skip = Skip(
                    skipped if skipped is not None else 0,
                    None if removed is None else tuple(x for x in removed.split("\t") if x),
                    tag.line,
                )
        elif name == "EXT-X-PRELOAD-HINT":
            a = _Attrs.parse(tag, R_PRELOAD_HINT, syntax)
            kind = a.attrs.get("TYPE")
            if kind is None:
                syntax.append(Violation(R_PRELOAD_HINT, tag.line, "TYPE is REQUIRED"))
            elif kind.quoted:
                syntax.append(
                    Violation(R_PRELOAD_HINT, tag.line, "TYPE must be an enumerated-string")
                )
            uri = a.quoted("URI", required=True)
            start = a.integer("BYTERANGE-START")
            length = a.integer("BYTERANGE-LENGTH")
            if start is not None or length is not None:
                flags["byterange"] = True
            pl.preload_hints.append(
                PreloadHint(kind.value if kind else "", uri or "", start, length, tag.line)
            )
        elif name == "EXT-X-RENDITION-REPORT":
            a = _Attrs.parse(tag, R_RENDITION_REPORT, syntax)
            pl.rendition_reports.append(
                RenditionReport(
                    a.quoted("URI", required=True),
                    a.integer("LAST-MSN"),
                    a.integer("LAST-PART"),
                    tag.line,
                )
            )
        if tag.attributes and any(k.startswith("REQ-") for k in tag.attributes):
            flags["req"] = True

    if pending.extinf is not None:
        syntax.append(
            Violation(R_EXTINF, pending.extinf[2], "EXTINF is not followed by a URI line")
        )
    pl.trailing_parts = pending.parts
    pl.trailing_discontinuity = pending.discontinuity_line is not None
    pl.trailing_program_date_time = pending.pdt
    pl.trailing_program_date_time_line = pending.pdt_line
    pl.trailing_map_uri = current_map[0] if current_map else None

    # Media Sequence and Discontinuity Sequence Numbers (section 3, 6.2.1).
    base = pl.media_sequence + pl.skipped_segments
    dsn: int | None = pl.discontinuity_sequence if pl.skipped_segments == 0 else None
    for i, seg in enumerate(pl.segments):
        seg.msn = base + i
        if seg.discontinuity and dsn is not None:
            dsn += 1
        seg.discontinuity_sequence = dsn
        for part in seg.parts:
            part.msn = seg.msn
    for part in pl.trailing_parts:
        part.msn = pl.next_msn

    return _MediaParse(
        playlist=pl,
        syntax=syntax,
        notes=notes,
        first_segment_line=first_segment_line,
        uses_float_extinf=flags["float_extinf"],
        has_key_iv=flags["key_iv"],
        has_key_v5=flags["key_v5"],
        has_byterange=flags["byterange"],
        has_define=flags["define"],
        has_queryparam=flags["queryparam"],
        has_req_attribute=flags["req"],
        endlist_line=endlist_line,
        map_lines=map_lines,
        discontinuity_lines=discontinuity_lines,
        skip_after_segments=skip_after_segments,
    )


def parse_media_playlist(text: str) -> MediaPlaylist:
    """Parses a Media Playlist.

    Raises :class:`PlaylistParseError` if the text breaks a rule whose breach makes clients
    fail to parse it (sections 4.1, 4.2, 4.4.1.1, malformed tag values, a URI line without
    EXTINF, Multivariant Playlist tags). Semantic rules are left to
    :func:`check_media_playlist`.
    """
    parsed = _parse_media(text)
    if parsed.syntax:
        raise PlaylistParseError(parsed.syntax)
    return parsed.playlist


# --------------------------------------------------------------------------------------------
# Media Playlist checks


def check_media_playlist(
    text: str,
    *,
    previous: str | None = None,
    request_query: Mapping[str, str] | None = None,
    pdt_tolerance: float = PDT_TOLERANCE_S,
) -> list[Violation]:
    """Checks a Media Playlist; returns every violation found (empty when conformant).

    ``previous`` is an earlier response for the same playlist URI (checked: the update rules
    of 6.2.1 and 6.2.2). ``request_query`` is the query of the request this playlist answered
    (checked: Delivery Directives, 6.2.5).
    """
    parsed = _parse_media(text)
    out = list(parsed.syntax) + list(parsed.notes)
    pl = parsed.playlist
    _check_tag_counts(pl, out)
    _check_version(parsed, out)
    _check_target_duration(pl, out)
    _check_segments(parsed, out)
    _check_program_date_time(pl, out, pdt_tolerance)
    _check_endlist(parsed, out)
    _check_parts(parsed, out)
    _check_server_control(pl, out)
    _check_preload_hints(pl, out)
    _check_rendition_reports(pl, out)
    _check_skip(parsed, request_query, out)
    _check_low_latency_profile(pl, out)
    _check_golive_naming(pl, out)
    if request_query is not None:
        _check_delivery_directives(pl, request_query, out)
    if previous is not None:
        _check_against_previous(pl, _parse_media(previous).playlist, out)
    out.sort(key=lambda v: v.line if v.line is not None else 0)
    return out


def _check_tag_counts(pl: MediaPlaylist, out: list[Violation]) -> None:
    _check_single(pl.tags, ("EXT-X-VERSION",), R_VERSION, out)
    _check_single(pl.tags, ("EXT-X-INDEPENDENT-SEGMENTS", "EXT-X-START"), R_ONCE, out)
    _check_single(pl.tags, MEDIA_PLAYLIST_TAGS, R_MEDIA_TAGS, out)
    _check_single(pl.tags, ("EXT-X-SKIP",), R_SKIP, out)


def _check_version(parsed: _MediaParse, out: list[Violation]) -> None:
    pl = parsed.playlist
    names = {t.name for t in pl.tags}
    needs: list[tuple[int, str, str]] = []  # (version, why, rule)
    if parsed.has_key_iv:
        needs.append((2, "the IV attribute of EXT-X-KEY", R_COMPAT))
    if parsed.uses_float_extinf:
        needs.append((3, "decimal EXTINF durations", R_COMPAT))
    if parsed.has_byterange:
        needs.append((4, "byte ranges", R_COMPAT))
    if pl.i_frames_only:
        needs.append((4, "EXT-X-I-FRAMES-ONLY", R_COMPAT))
    if parsed.has_key_v5:
        needs.append((5, "SAMPLE-AES or KEYFORMAT(VERSIONS) keys", R_COMPAT))
    if parsed.map_lines:
        if pl.i_frames_only:
            needs.append((5, "EXT-X-MAP in an I-frame playlist", R_COMPAT))
        else:
            needs.append((6, "EXT-X-MAP", R_COMPAT))
    if parsed.has_define:
        needs.append((8, "variable substitution (EXT-X-DEFINE)", R_COMPAT))
    if pl.skip is not None:
        needs.append((9, "EXT-X-SKIP", R_COMPAT))
        if pl.skip.recently_removed_dateranges is not None:
            needs.append((10, "an EXT-X-SKIP that replaces EXT-X-DATERANGE tags", R_COMPAT))
    if parsed.has_queryparam:
        needs.append((11, "EXT-X-DEFINE with QUERYPARAM", R_COMPAT))
    if parsed.has_req_attribute:
        needs.append((12, "a REQ- attribute", R_COMPAT))
    low_latency = sorted(names & LOW_LATENCY_TAGS)
    if low_latency:
        needs.append(
            (
                LL_HLS_VERSION,
                f"Low-Latency tags ({', '.join(low_latency)}); the draft itself ties version 9 "
                "to EXT-X-SKIP only",
                G_VERSION,
            )
        )
    if pl.version is None:
        if not any(t.name == "EXT-X-VERSION" for t in pl.tags):
            floor = max((n[0] for n in needs), default=1)
            if floor > 1:
                out.append(
                    Violation(
                        R_VERSION,
                        None,
                        f"EXT-X-VERSION is missing; the playlist needs version {floor} or higher",
                    )
                )
            else:
                out.append(
                    Violation(G_VERSION, None, "EXT-X-VERSION is missing (golive always writes it)")
                )
        return
    for version, why, rule in needs:
        if pl.version < version:
            out.append(
                Violation(
                    rule,
                    None,
                    f"EXT-X-VERSION is {pl.version}, but {why} needs version {version} or higher",
                )
            )


def _check_target_duration(pl: MediaPlaylist, out: list[Violation]) -> None:
    if not any(t.name == "EXT-X-TARGETDURATION" for t in pl.tags):
        out.append(Violation(R_TARGETDURATION, None, "EXT-X-TARGETDURATION is REQUIRED"))
        return
    target = pl.target_duration
    if target is None:
        return
    for seg in pl.segments:
        rounded = math.floor(seg.duration + 0.5)
        if rounded > target:
            out.append(
                Violation(
                    R_TARGETDURATION,
                    seg.extinf_line or seg.line,
                    f"EXTINF {seg.duration} rounds to {rounded} s, more than the Target "
                    f"Duration {target} s",
                )
            )
        elif seg.duration > target + DURATION_EPSILON_S:
            out.append(
                Violation(
                    G_EXTINF,
                    seg.extinf_line or seg.line,
                    f"EXTINF {seg.duration} exceeds the Target Duration {target} s (the draft "
                    "only bounds the rounded value; golive segments never exceed it)",
                )
            )


def _check_segments(parsed: _MediaParse, out: list[Violation]) -> None:
    pl = parsed.playlist
    # EXT-X-MAP must apply to every fMP4 segment (3.1.2); golive segments are fMP4.
    fmp4 = bool(parsed.map_lines) or any(_looks_fmp4(s.uri) for s in pl.segments)
    fmp4 = fmp4 or any(_looks_fmp4(p.uri) for p in pl.parts)
    if fmp4:
        first = next((s for s in pl.segments if s.map_uri is None), None)
        if first is not None:
            out.append(
                Violation(
                    R_FMP4,
                    first.line,
                    "this fMP4 segment has no EXT-X-MAP applied: EXT-X-MAP must come before "
                    "the first Media Segment",
                )
            )
        elif not pl.segments and pl.trailing_parts and pl.trailing_map_uri is None:
            out.append(
                Violation(
                    R_FMP4,
                    pl.trailing_parts[0].line,
                    "this fMP4 Partial Segment has no EXT-X-MAP applied",
                )
            )
    for seg in pl.segments:
        if not seg.uri:
            out.append(Violation(R_PLAYLIST, seg.line, "empty segment URI"))
    # EXT-X-BYTERANGE without an offset needs a previous sub-range of the same resource.
    prev: MediaSegment | None = None
    for seg in pl.segments:
        br = seg.byterange
        if (
            br is not None
            and br.offset is None
            and (prev is None or prev.byterange is None or prev.uri != seg.uri)
        ):
            out.append(
                Violation(
                    R_BYTERANGE,
                    seg.line,
                    "a byte range without an offset needs the previous segment to be a "
                    "sub-range of the same resource",
                )
            )
        prev = seg
    if parsed.skip_after_segments and pl.skip is not None:
        out.append(
            Violation(
                R_SKIP,
                pl.skip.line,
                "EXT-X-SKIP replaces the oldest segments, so it must precede every listed "
                "Media Segment and Partial Segment",
            )
        )


def _check_program_date_time(pl: MediaPlaylist, out: list[Violation], tolerance: float) -> None:
    # One entry per segment, the one in production last: (duration, discontinuity before
    # it, explicit date, line of the date tag).
    entries: list[tuple[float, bool, datetime | None, int | None]] = [
        (s.duration, s.discontinuity, s.program_date_time, s.program_date_time_line)
        for s in pl.segments
    ]
    if pl.trailing_parts or pl.trailing_program_date_time is not None:
        entries.append(
            (
                math.fsum(p.duration for p in pl.trailing_parts),
                pl.trailing_discontinuity,
                pl.trailing_program_date_time,
                pl.trailing_program_date_time_line,
            )
        )
    anchor: datetime | None = None  # the last explicit date seen
    anchor_line: int | None = None
    elapsed = 0.0  # media time from the anchor's segment start to the current one's
    crossed = False  # a discontinuity lies between the anchor and the current segment
    for duration, discontinuity, date, line in entries:
        if anchor is not None and discontinuity:
            crossed = True
        if date is not None:
            if anchor is not None:
                delta = _seconds_between(date, anchor)
                if delta <= 0:
                    out.append(
                        Violation(
                            R_SERVER,
                            line,
                            "EXT-X-PROGRAM-DATE-TIME does not increase over the one at line "
                            f"{anchor_line}: the date-to-segment mapping becomes ambiguous",
                        )
                    )
                elif delta < elapsed - PDT_OVERLAP_LIMIT_S + DURATION_EPSILON_S:
                    out.append(
                        Violation(
                            R_SERVER,
                            line,
                            "EXT-X-PROGRAM-DATE-TIME overlaps the preceding media by "
                            f"{elapsed - delta:.3f} s; only sub-second overlaps are allowed",
                        )
                    )
                elif not crossed and abs(delta - elapsed) > tolerance:
                    out.append(
                        Violation(
                            G_PDT,
                            line,
                            f"EXT-X-PROGRAM-DATE-TIME is {delta:.3f} s after the one at line "
                            f"{anchor_line}, but the EXTINF durations in between add up to "
                            f"{elapsed:.3f} s (tolerance {tolerance} s)",
                        )
                    )
            anchor, anchor_line, elapsed, crossed = date, line, 0.0, False
        if anchor is not None:
            elapsed += duration


def _check_endlist(parsed: _MediaParse, out: list[Violation]) -> None:
    if parsed.endlist_line is None:
        return
    pl = parsed.playlist
    for tag in pl.tags:
        if tag.line > parsed.endlist_line and tag.name not in (
            "EXT-X-ENDLIST",
            "EXT-X-RENDITION-REPORT",
        ):
            out.append(
                Violation(
                    G_ENDLIST,
                    tag.line,
                    f"{tag.name} after EXT-X-ENDLIST (line {parsed.endlist_line}); only "
                    "EXT-X-RENDITION-REPORT may follow it (the draft allows it anywhere)",
                )
            )
            break
    else:
        last_uri = max((s.line for s in pl.segments), default=0)
        if last_uri > parsed.endlist_line:
            out.append(
                Violation(
                    G_ENDLIST,
                    last_uri,
                    f"Media Segment after EXT-X-ENDLIST (line {parsed.endlist_line})",
                )
            )


def _check_parts(parsed: _MediaParse, out: list[Violation]) -> None:
    pl = parsed.playlist
    parts = pl.parts
    if not parts:
        return
    for part in parts:
        if not part.uri:
            out.append(Violation(R_PART, part.line, "EXT-X-PART URI is empty"))
    if pl.part_inf is None:
        if not any(t.name == "EXT-X-PART-INF" for t in pl.tags):
            out.append(
                Violation(
                    R_PART_INF,
                    parts[0].line,
                    "EXT-X-PART-INF is REQUIRED when the playlist contains EXT-X-PART tags",
                )
            )
        return
    if pl.i_frames_only:
        out.append(
            Violation(R_PART, parts[0].line, "I-frame playlists SHOULD NOT use Partial Segments")
        )
    target = pl.part_inf.part_target
    groups = [s.parts for s in pl.segments]
    groups.append(pl.trailing_parts)
    for group in groups:
        for i, part in enumerate(group):
            if part.duration > target + DURATION_EPSILON_S:
                out.append(
                    Violation(
                        R_PART,
                        part.line,
                        f"part DURATION {part.duration} is more than PART-TARGET {target}",
                    )
                )
            is_last = i == len(group) - 1
            next_gap = not is_last and group[i + 1].gap
            # The last listed part of the segment still in production may turn out to be its
            # final part, so it is exempt too.
            exempt = part.independent or part.gap or next_gap or is_last
            if not exempt and part.duration < PART_MIN_FRACTION * target - DURATION_EPSILON_S:
                out.append(
                    Violation(
                        R_PART,
                        part.line,
                        f"part DURATION {part.duration} is less than 85% of PART-TARGET "
                        f"{target} and it is not the final part of its segment",
                    )
                )
    for seg in pl.segments:
        if not seg.parts:
            continue
        total = math.fsum(p.duration for p in seg.parts)
        tolerance = PART_SUM_TOLERANCE_S + 0.001 * len(seg.parts)
        if abs(total - seg.duration) > tolerance:
            out.append(
                Violation(
                    R_PARTIAL_SEGMENTS,
                    seg.extinf_line or seg.line,
                    f"the parts of segment {seg.msn} add up to {total:.5f} s but its EXTINF is "
                    f"{seg.duration} s: a Parent Segment and its parts carry the same media",
                )
            )
        if not any(p.independent for p in seg.parts):
            out.append(
                Violation(
                    R_LL_PROFILE,
                    seg.parts[0].line,
                    f"no part of segment {seg.msn} is marked INDEPENDENT=YES; every segment "
                    "contains an independent frame and parts that have one SHOULD say so",
                )
            )
    # Parts are removed oldest first (6.2.2): once a completed segment lists parts, every
    # later one does too.
    seen_parts_at: int | None = None
    for seg in pl.segments:
        if seg.parts:
            seen_parts_at = seg.msn
        elif seen_parts_at is not None:
            out.append(
                Violation(
                    R_LIVE,
                    seg.line,
                    f"segment {seg.msn} lists no parts while the older segment {seen_parts_at} "
                    "does: EXT-X-PART tags MUST be removed in playlist order",
                )
            )
            break
    # 6.2.2: EXT-X-PART tags SHOULD be removed once they are more than three Target
    # Durations from the end of the playlist. Checked per Parent Segment (servers drop the
    # parts of a segment together): flagged when even its last part ends further back.
    if pl.target_duration is not None:
        limit = 3 * pl.target_duration
        end = pl.duration + math.fsum(p.duration for p in pl.trailing_parts)
        elapsed = 0.0
        for seg in pl.segments:
            elapsed += seg.duration
            distance = end - elapsed  # from the end of this segment and of its last part
            if seg.parts and distance > limit + DURATION_EPSILON_S:
                out.append(
                    Violation(
                        R_LIVE,
                        seg.parts[-1].line,
                        f"the parts of segment {seg.msn} end {distance:.3f} s before the end "
                        f"of the playlist, more than three Target Durations ({limit} s): "
                        "they SHOULD have been removed",
                    )
                )
                break


def _check_server_control(pl: MediaPlaylist, out: list[Violation]) -> None:
    sc = pl.server_control
    target = pl.target_duration
    has_parts = bool(pl.parts) or pl.part_inf is not None
    if sc is None:
        if pl.part_inf is not None:
            out.append(
                Violation(
                    R_SERVER_CONTROL,
                    pl.part_inf.line,
                    "PART-HOLD-BACK is REQUIRED with EXT-X-PART-INF, but there is no "
                    "EXT-X-SERVER-CONTROL",
                )
            )
        if has_parts and not pl.endlist:
            out.append(Violation(G_BLOCK, None, "Partial Segments without CAN-BLOCK-RELOAD=YES"))
        return
    if sc.can_skip_dateranges and sc.can_skip_until is None:
        out.append(
            Violation(R_SERVER_CONTROL, sc.line, "CAN-SKIP-DATERANGES REQUIRES CAN-SKIP-UNTIL")
        )
    if target is not None:
        if sc.can_skip_until is not None and sc.can_skip_until < 6 * target - DURATION_EPSILON_S:
            out.append(
                Violation(
                    R_SERVER_CONTROL,
                    sc.line,
                    f"CAN-SKIP-UNTIL {sc.can_skip_until} is less than six Target Durations "
                    f"({6 * target} s)",
                )
            )
        if sc.hold_back is not None and sc.hold_back < 3 * target - DURATION_EPSILON_S:
            out.append(
                Violation(
                    R_SERVER_CONTROL,
                    sc.line,
                    f"HOLD-BACK {sc.hold_back} is less than three Target Durations "
                    f"({3 * target} s)",
                )
            )
    if pl.part_inf is not None:
        part_target = pl.part_inf.part_target
        if sc.part_hold_back is None:
            out.append(
                Violation(
                    R_SERVER_CONTROL,
                    sc.line,
                    "PART-HOLD-BACK is REQUIRED when the playlist has EXT-X-PART-INF",
                )
            )
        elif sc.part_hold_back < 2 * part_target - DURATION_EPSILON_S:
            out.append(
                Violation(
                    R_SERVER_CONTROL,
                    sc.line,
                    f"PART-HOLD-BACK {sc.part_hold_back} is less than twice PART-TARGET "
                    f"({2 * part_target} s)",
                )
            )
    if has_parts and not pl.endlist and not sc.can_block_reload:
        out.append(
            Violation(
                G_BLOCK,
                sc.line,
                "a live playlist with Partial Segments must offer CAN-BLOCK-RELOAD=YES "
                "(LL-HLS clients poll otherwise)",
            )
        )


def _check_preload_hints(pl: MediaPlaylist, out: list[Violation]) -> None:
    if not pl.preload_hints:
        return
    if pl.endlist:
        out.append(
            Violation(
                R_PRELOAD_HINT,
                pl.preload_hints[0].line,
                "a playlist with EXT-X-ENDLIST MUST NOT contain EXT-X-PRELOAD-HINT",
            )
        )
    seen: dict[str, int] = {}
    parts = pl.parts
    last_part_line = parts[-1].line if parts else 0
    part_uris = {p.uri for p in parts if p.byterange is None}
    for hint in pl.preload_hints:
        if hint.type not in ("PART", "MAP"):
            if hint.type:
                out.append(
                    Violation(R_PRELOAD_HINT, hint.line, f"TYPE={hint.type} is not PART or MAP")
                )
            continue
        if hint.type in seen:
            out.append(
                Violation(
                    R_PRELOAD,
                    hint.line,
                    f"more than one EXT-X-PRELOAD-HINT with TYPE={hint.type} (first at line "
                    f"{seen[hint.type]})",
                )
            )
        else:
            seen[hint.type] = hint.line
        if hint.line < last_part_line:
            out.append(
                Violation(
                    R_PRELOAD_HINT,
                    hint.line,
                    f"EXT-X-PRELOAD-HINT must follow the last EXT-X-PART (line {last_part_line})",
                )
            )
        if (
            hint.type == "PART"
            and hint.uri in part_uris
            and hint.byterange_start is None
            and hint.byterange_length is None
        ):
            out.append(
                Violation(
                    R_PRELOAD_HINT,
                    hint.line,
                    f"hinted URI {hint.uri!r} is already listed as a part: a hint names the "
                    "next resource, not one already in the playlist",
                )
            )


def _check_rendition_reports(pl: MediaPlaylist, out: list[Violation]) -> None:
    has_parts = bool(pl.parts)
    for report in pl.rendition_reports:
        if report.uri is not None and _SCHEME.match(report.uri):
            out.append(
                Violation(
                    R_RENDITION_REPORT,
                    report.line,
                    f"URI {report.uri!r} MUST be relative to the Media Playlist",
                )
            )
        if report.last_msn is None:
            out.append(
                Violation(
                    G_REPORT,
                    report.line,
                    "LAST-MSN is missing (the draft lets it be left out only when equal to "
                    "this playlist's; golive always writes it)",
                )
            )
        if has_parts and report.last_part is None:
            out.append(
                Violation(
                    G_REPORT,
                    report.line,
                    "LAST-PART is missing though the renditions have Partial Segments (golive "
                    "always writes it)",
                )
            )


def _check_skip(
    parsed: _MediaParse, request_query: Mapping[str, str] | None, out: list[Violation]
) -> None:
    pl = parsed.playlist
    sc = pl.server_control
    requested = (request_query or {}).get("_HLS_skip")
    can_skip = sc is not None and sc.can_skip_until is not None and not pl.endlist
    skip = pl.skip
    if skip is not None:
        if sc is None or sc.can_skip_until is None:
            out.append(
                Violation(
                    R_DELTA,
                    skip.line,
                    "EXT-X-SKIP in a playlist that does not advertise CAN-SKIP-UNTIL",
                )
            )
        if pl.endlist:
            out.append(Violation(R_DELTA, skip.line, "EXT-X-SKIP in a playlist with EXT-X-ENDLIST"))
        if requested not in ("YES", "v2"):
            out.append(
                Violation(
                    R_DELTA,
                    skip.line,
                    "EXT-X-SKIP may only answer a request with _HLS_skip=YES or v2 "
                    f"(request query: {dict(request_query) if request_query else {}})",
                )
            )
        if (
            requested == "v2"
            and sc is not None
            and sc.can_skip_dateranges
            and skip.recently_removed_dateranges is None
        ):
            out.append(
                Violation(
                    R_SKIP,
                    skip.line,
                    "RECENTLY-REMOVED-DATERANGES is REQUIRED in answer to _HLS_skip=v2",
                )
            )
        if sc is not None and sc.can_skip_until is not None and pl.target_duration is not None:
            _check_skip_boundary(pl, sc.can_skip_until, pl.target_duration, out)
    elif requested in ("YES", "v2") and can_skip and sc is not None:
        boundary = sc.can_skip_until
        assert boundary is not None
        end = pl.duration + math.fsum(p.duration for p in pl.trailing_parts)
        if pl.segments and end - pl.segments[0].duration > boundary + DURATION_EPSILON_S:
            out.append(
                Violation(
                    R_DELTA,
                    None,
                    "_HLS_skip was requested and the playlist advertises CAN-SKIP-UNTIL, so "
                    "the answer MUST be a Playlist Delta Update, yet segments older than the "
                    "Skip Boundary are listed and there is no EXT-X-SKIP",
                )
            )


def _check_skip_boundary(
    pl: MediaPlaylist, boundary: float, target: int, out: list[Violation]
) -> None:
    assert pl.skip is not None
    if not pl.segments:
        return
    end = pl.duration + math.fsum(p.duration for p in pl.trailing_parts)
    oldest = pl.segments[0]
    # The oldest listed segment must not lie wholly beyond the Skip Boundary ...
    if end - oldest.duration > boundary + DURATION_EPSILON_S:
        out.append(
            Violation(
                R_DELTA,
                oldest.line,
                f"segment {oldest.msn} ends {end - oldest.duration:.3f} s before the end, "
                f"beyond the Skip Boundary ({boundary} s), yet it was not skipped",
            )
        )
    # ... and the newest skipped one (at most a Target Duration plus rounding long) must not
    # lie wholly within it.
    if pl.skip.skipped_segments > 0 and end + target + 0.5 <= boundary - DURATION_EPSILON_S:
        out.append(
            Violation(
                R_DELTA,
                pl.skip.line,
                f"SKIPPED-SEGMENTS={pl.skip.skipped_segments} skips segments within the Skip "
                f"Boundary: only {end:.3f} s remain listed, CAN-SKIP-UNTIL is {boundary} s",
            )
        )


def _check_low_latency_profile(pl: MediaPlaylist, out: list[Violation]) -> None:
    if not pl.parts:
        return
    if not any(t.name == "EXT-X-PROGRAM-DATE-TIME" for t in pl.tags):
        out.append(
            Violation(
                R_LL_PROFILE,
                None,
                "a low-latency Media Playlist has EXT-X-PROGRAM-DATE-TIME tags",
            )
        )
    if not pl.endlist and not any(h.type == "PART" for h in pl.preload_hints):
        out.append(
            Violation(
                R_LL_PROFILE,
                None,
                "a playlist with EXT-X-PART and no EXT-X-ENDLIST contains an EXT-X-PRELOAD-HINT "
                "for the next Partial Segment",
            )
        )


def _check_golive_naming(pl: MediaPlaylist, out: list[Violation]) -> None:
    """golive names segments ``<msn>.m4s`` and parts ``<msn>.<part>.m4s``: check the numbers."""
    for seg in pl.segments:
        m = _GOLIVE_SEGMENT.fullmatch(_uri_path_name(seg.uri))
        if m is not None and int(m.group(1)) != seg.msn:
            out.append(
                Violation(
                    G_NAMING,
                    seg.line,
                    f"segment URI {seg.uri!r} names MSN {m.group(1)}, but its Media Sequence "
                    f"Number is {seg.msn}",
                )
            )
    for part in pl.parts:
        m = _GOLIVE_PART.fullmatch(_uri_path_name(part.uri))
        if m is not None and (int(m.group(1)), int(m.group(2))) != (part.msn, part.index):
            out.append(
                Violation(
                    G_NAMING,
                    part.line,
                    f"part URI {part.uri!r} names {m.group(1)}.{m.group(2)}, but it is part "
                    f"{part.index} of segment {part.msn}",
                )
            )
    if pl.endlist:
        return
    # The hint names the next part of the open segment, or the first part of the next
    # segment when the server expects a keyframe to start one.
    expected = {(pl.next_msn, 0)}
    if pl.trailing_parts:
        expected = {(pl.next_msn, pl.trailing_parts[-1].index + 1), (pl.next_msn + 1, 0)}
    for hint in pl.preload_hints:
        if hint.type != "PART":
            continue
        m = _GOLIVE_PART.fullmatch(_uri_path_name(hint.uri))
        if m is not None and (int(m.group(1)), int(m.group(2))) not in expected:
            out.append(
                Violation(
                    G_NAMING,
                    hint.line,
                    f"EXT-X-PRELOAD-HINT names part {m.group(1)}.{m.group(2)}, but the next "
                    f"part is {' or '.join(f'{a}.{b}' for a, b in sorted(expected))}",
                )
            )


def _request_int(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None or not _is_decimal_integer(value):
        return None
    return int(value)


def _check_delivery_directives(
    pl: MediaPlaylist, query: Mapping[str, str], out: list[Violation]
) -> None:
    has_msn = "_HLS_msn" in query
    has_part = "_HLS_part" in query
    if has_part and not has_msn:
        out.append(
            Violation(
                R_BLOCKING,
                None,
                "_HLS_part without _HLS_msn MUST be answered with Bad Request, not a playlist",
            )
        )
        return
    if not has_msn or pl.endlist:
        return  # 6.2.5.2: directives are ignored once the playlist has EXT-X-ENDLIST
    msn = _request_int(query, "_HLS_msn")
    part = _request_int(query, "_HLS_part") if has_part else None
    if msn is None or (has_part and part is None):
        return
    complete = {s.msn: s for s in pl.segments}
    if part is None:
        satisfied = any(s.msn >= msn for s in pl.segments)
        wanted = f"segment {msn}"
    else:
        wanted = f"part {part} of segment {msn}"
        seg = complete.get(msn)
        if seg is not None and seg.parts and part >= len(seg.parts):
            # A Part Index past the last part of a completed parent asks for part 0 of the
            # following segment.
            msn, part = msn + 1, 0
            seg = complete.get(msn)
        satisfied = (
            any((p.msn, p.index) >= (msn, part) for p in pl.parts)
            or any(s.msn > msn for s in pl.segments)
            or (seg is not None and not seg.parts)  # completed, its parts already removed
        )
    if not satisfied:
        out.append(
            Violation(
                R_BLOCKING,
                None,
                f"the request asked for {wanted} (blocking reload), but the playlist does not "
                f"contain it yet (last: segment {pl.last_msn}, part {pl.last_part})",
            )
        )


def _check_against_previous(pl: MediaPlaylist, prev: MediaPlaylist, out: list[Violation]) -> None:
    if pl.media_sequence < prev.media_sequence:
        out.append(
            Violation(
                R_LIVE,
                None,
                f"EXT-X-MEDIA-SEQUENCE went from {prev.media_sequence} down to "
                f"{pl.media_sequence}: it MUST NOT decrease",
            )
        )
    if pl.discontinuity_sequence < prev.discontinuity_sequence:
        out.append(
            Violation(
                R_LIVE,
                None,
                f"EXT-X-DISCONTINUITY-SEQUENCE went from {prev.discontinuity_sequence} down to "
                f"{pl.discontinuity_sequence}: it MUST NOT decrease",
            )
        )
    if (
        prev.target_duration is not None
        and pl.target_duration is not None
        and prev.target_duration != pl.target_duration
    ):
        out.append(
            Violation(
                R_SERVER,
                None,
                f"EXT-X-TARGETDURATION changed from {prev.target_duration} to "
                f"{pl.target_duration}: it MUST NOT change",
            )
        )
    if prev.endlist and not pl.endlist:
        out.append(Violation(R_SERVER, None, "EXT-X-ENDLIST was removed from the playlist"))
    prev_last = prev.segments[-1].msn if prev.segments else None
    cur_last = pl.segments[-1].msn if pl.segments else None
    if prev_last is not None and (cur_last is None or cur_last < prev_last):
        out.append(
            Violation(
                R_SERVER,
                None,
                f"the playlist lost segments at its end: it ended with segment {prev_last}, "
                f"now with {cur_last}",
            )
        )
    if prev.endlist and cur_last is not None and prev_last is not None and cur_last > prev_last:
        out.append(
            Violation(
                f"{DRAFT} 4.4.3.4 EXT-X-ENDLIST",
                None,
                "segments were added after EXT-X-ENDLIST",
            )
        )
    old = {s.msn: s for s in prev.segments}
    for seg in pl.segments:
        before = old.get(seg.msn)
        if before is None:
            continue
        if before.uri != seg.uri:
            out.append(
                Violation(
                    R_SERVER,
                    seg.line,
                    f"segment {seg.msn} changed its URI from {before.uri!r} to {seg.uri!r}",
                )
            )
        if abs(before.duration - seg.duration) > RELOAD_DURATION_TOLERANCE_S:
            out.append(
                Violation(
                    R_SERVER,
                    seg.extinf_line or seg.line,
                    f"segment {seg.msn} changed its EXTINF from {before.duration} to "
                    f"{seg.duration}",
                )
            )
        if (
            before.discontinuity_sequence is not None
            and seg.discontinuity_sequence is not None
            and before.discontinuity_sequence != seg.discontinuity_sequence
        ):
            out.append(
                Violation(
                    R_LIVE,
                    seg.line,
                    f"segment {seg.msn} changed its Discontinuity Sequence Number from "
                    f"{before.discontinuity_sequence} to {seg.discontinuity_sequence}",
                )
            )
        if (
            before.program_date_time is not None
            and seg.program_date_time is not None
            and abs(_seconds_between(seg.program_date_time, before.program_date_time)) > 0.0005
        ):
            out.append(
                Violation(
                    R_SERVER,
                    seg.program_date_time_line or seg.line,
                    f"segment {seg.msn} changed its EXT-X-PROGRAM-DATE-TIME",
                )
            )
        if before.map_uri != seg.map_uri:
            out.append(
                Violation(
                    R_SERVER,
                    seg.line,
                    f"segment {seg.msn} changed its EXT-X-MAP from {before.map_uri!r} to "
                    f"{seg.map_uri!r}",
                )
            )
    # Parts, once published, do not change; they may only be removed (whole, oldest first).
    old_parts: dict[int, list[PartialSegment]] = {}
    for part in prev.parts:
        old_parts.setdefault(part.msn, []).append(part)
    new_parts: dict[int, list[PartialSegment]] = {}
    for part in pl.parts:
        new_parts.setdefault(part.msn, []).append(part)
    for msn, now in new_parts.items():
        was = old_parts.get(msn)
        if not was:
            continue
        for a, b in zip(was, now, strict=False):
            if a.uri != b.uri or abs(a.duration - b.duration) > RELOAD_DURATION_TOLERANCE_S:
                out.append(
                    Violation(
                        R_SERVER,
                        b.line,
                        f"part {b.index} of segment {msn} changed from ({a.uri!r}, "
                        f"{a.duration}) to ({b.uri!r}, {b.duration})",
                    )
                )
                break
        if len(now) < len(was):
            out.append(
                Violation(
                    R_LIVE,
                    now[-1].line,
                    f"segment {msn} now lists {len(now)} parts, it listed {len(was)}: parts "
                    "are removed oldest first, never from the end",
                )
            )
    removed = pl.media_sequence > prev.media_sequence
    if pl.playlist_type == "VOD" and prev.playlist_type == "VOD":
        if [(s.uri, s.duration) for s in pl.segments] != [
            (s.uri, s.duration) for s in prev.segments
        ] or pl.media_sequence != prev.media_sequence:
            out.append(Violation(R_PLAYLIST_TYPE, None, "a VOD playlist MUST NOT change"))
    elif pl.playlist_type == "EVENT" and removed:
        out.append(Violation(R_PLAYLIST_TYPE, None, "segments were removed from an EVENT playlist"))
    if removed and pl.skip is None and not pl.endlist and pl.target_duration is not None:
        if pl.duration < 3 * pl.target_duration - DURATION_EPSILON_S:
            out.append(
                Violation(
                    R_LIVE,
                    None,
                    f"segments were removed, leaving {pl.duration:.3f} s: a live playlist MUST "
                    f"keep at least three Target Durations ({3 * pl.target_duration} s)",
                )
            )
        has_discontinuity = any(s.discontinuity for s in pl.segments) or any(
            s.discontinuity for s in prev.segments
        )
        if has_discontinuity and not pl.has_discontinuity_sequence:
            out.append(
                Violation(
                    R_LIVE,
                    None,
                    "segments were removed from a playlist with EXT-X-DISCONTINUITY, so it "
                    "MUST contain EXT-X-DISCONTINUITY-SEQUENCE",
                )
            )


# --------------------------------------------------------------------------------------------
# Multivariant Playlist


def _parse_multivariant(text: str) -> tuple[MultivariantPlaylist, list[Violation], list[Violation]]:
    syntax: list[Violation] = []
    notes: list[Violation] = []
    reader = _Reader(text, syntax)
    pl = MultivariantPlaylist()
    waiting: VariantStream | None = None
    for ln in reader.lines:
        if ln.kind in ("blank", "comment"):
            continue
        if ln.kind == "uri":
            if waiting is None:
                syntax.append(
                    Violation(
                        R_STREAM_INF,
                        ln.number,
                        f"URI line {ln.text!r} does not follow an EXT-X-STREAM-INF tag",
                    )
                )
            else:
                waiting.uri = ln.text
                waiting.uri_line = ln.number
                waiting = None
            continue
        tag = ln.tag
        assert tag is not None
        pl.tags.append(tag)
        name = tag.name
        if waiting is not None:
            syntax.append(
                Violation(
                    R_STREAM_INF,
                    waiting.line,
                    "EXT-X-STREAM-INF must be followed by its URI line, found a tag",
                )
            )
            waiting = None
        if name in NO_VALUE_TAGS and tag.value is not None:
            syntax.append(Violation(R_PLAYLIST, tag.line, f"{name} takes no value"))
        if (
            name in MEDIA_PLAYLIST_TAGS
            or name in MEDIA_SEGMENT_TAGS
            or name in (MEDIA_METADATA_TAGS)
        ):
            kind = (
                "Media Playlist"
                if name in MEDIA_PLAYLIST_TAGS
                else "Media Segment"
                if name in MEDIA_SEGMENT_TAGS
                else "Media Metadata"
            )
            syntax.append(
                Violation(
                    R_MULTIVARIANT_TAGS,
                    tag.line,
                    f"{kind} tag {name} MUST NOT appear in a Multivariant Playlist",
                )
            )
            continue
        if name == "EXT-X-VERSION":
            value = _integer_value(tag, R_VERSION, syntax)
            if pl.version is None and value is not None:
                pl.version = value
        elif name == "EXT-X-STREAM-INF":
            _Attrs.parse(tag, R_STREAM_INF, syntax)
            waiting = VariantStream(tag.attributes or {}, None, tag.line, None)
            pl.variants.append(waiting)
        elif name == "EXT-X-I-FRAME-STREAM-INF":
            _Attrs.parse(tag, R_I_FRAME_STREAM_INF, syntax)
            pl.i_frame_variants.append(Rendition(tag.attributes or {}, tag.line))
        elif name == "EXT-X-MEDIA":
            _Attrs.parse(tag, R_MEDIA, syntax)
            pl.renditions.append(Rendition(tag.attributes or {}, tag.line))
        elif name in ("EXT-X-SESSION-DATA", "EXT-X-SESSION-KEY", "EXT-X-CONTENT-STEERING"):
            _Attrs.parse(tag, f"{R_MULTIVARIANT_TAGS} ({name})", syntax)
        elif name in ("EXT-X-START", "EXT-X-DEFINE"):
            _Attrs.parse(tag, R_ONCE, syntax)
    if waiting is not None:
        syntax.append(
            Violation(R_STREAM_INF, waiting.line, "EXT-X-STREAM-INF has no URI line after it")
        )
    return pl, syntax, notes


def parse_multivariant_playlist(text: str) -> MultivariantPlaylist:
    """Parses a Multivariant Playlist; raises :class:`PlaylistParseError` like
    :func:`parse_media_playlist`."""
    pl, syntax, _notes = _parse_multivariant(text)
    if syntax:
        raise PlaylistParseError(syntax)
    return pl


def _attr_text(attrs: Mapping[str, AttributeValue], name: str) -> str | None:
    v = attrs.get(name)
    return v.value if v is not None else None


def check_multivariant_playlist(text: str) -> list[Violation]:
    """Checks a Multivariant Playlist; returns every violation found (empty when conformant)."""
    pl, syntax, notes = _parse_multivariant(text)
    out = syntax + notes
    _check_single(pl.tags, ("EXT-X-VERSION",), R_VERSION, out)
    _check_single(pl.tags, ("EXT-X-INDEPENDENT-SEGMENTS", "EXT-X-START"), R_ONCE, out)
    _check_single(pl.tags, ("EXT-X-CONTENT-STEERING",), R_MULTIVARIANT_TAGS, out)
    if not pl.variants:
        out.append(
            Violation(R_STREAM_INF, None, "the Multivariant Playlist lists no EXT-X-STREAM-INF")
        )

    groups: dict[tuple[str, str], list[Rendition]] = {}
    needs: list[tuple[int, str]] = []
    for rendition in pl.renditions:
        _check_media_tag(rendition, out, needs)
        kind = _attr_text(rendition.attributes, "TYPE")
        group = _attr_text(rendition.attributes, "GROUP-ID")
        if kind and group:
            groups.setdefault((kind, group), []).append(rendition)
    for (kind, group), members in groups.items():
        names: dict[str, int] = {}
        defaults = 0
        for member in members:
            name = _attr_text(member.attributes, "NAME")
            if name is not None:
                if name in names:
                    out.append(
                        Violation(
                            R_RENDITION_GROUPS,
                            member.line,
                            f"NAME {name!r} is used twice in {kind} group {group!r} (line "
                            f"{names[name]})",
                        )
                    )
                else:
                    names[name] = member.line
            if _attr_text(member.attributes, "DEFAULT") == "YES":
                defaults += 1
                if defaults == 2:
                    out.append(
                        Violation(
                            R_RENDITION_GROUPS,
                            member.line,
                            f"{kind} group {group!r} has more than one DEFAULT=YES member",
                        )
                    )

    closed_captions_none = [
        v for v in pl.variants if _attr_text(v.attributes, "CLOSED-CAPTIONS") == "NONE"
    ]
    for variant in pl.variants:
        _check_stream_inf(variant, groups, out)
        if closed_captions_none and _attr_text(variant.attributes, "CLOSED-CAPTIONS") != "NONE":
            out.append(
                Violation(
                    R_STREAM_INF,
                    variant.line,
                    "CLOSED-CAPTIONS=NONE on one EXT-X-STREAM-INF requires it on all of them",
                )
            )
    for iframe in pl.i_frame_variants:
        a = _Attrs(
            "EXT-X-I-FRAME-STREAM-INF", iframe.line, iframe.attributes, R_I_FRAME_STREAM_INF, out
        )
        a.integer("BANDWIDTH", required=True)
        a.quoted("URI", required=True)
    for tag in pl.tags:
        if tag.name == "EXT-X-DEFINE":
            needs.append((8, "variable substitution (EXT-X-DEFINE)"))
            if tag.attributes and "QUERYPARAM" in tag.attributes:
                needs.append((11, "EXT-X-DEFINE with QUERYPARAM"))
        if tag.attributes and any(k.startswith("REQ-") for k in tag.attributes):
            needs.append((12, "a REQ- attribute"))
    floor = max((n for n, _ in needs), default=1)
    if floor > 1:
        if pl.version is None:
            out.append(
                Violation(
                    R_VERSION,
                    None,
                    f"EXT-X-VERSION is missing; the playlist needs version {floor} or higher",
                )
            )
        else:
            for version, why in needs:
                if pl.version < version:
                    out.append(
                        Violation(
                            R_COMPAT,
                            None,
                            f"EXT-X-VERSION is {pl.version}, but {why} needs version "
                            f"{version} or higher",
                        )
                    )
    out.sort(key=lambda v: v.line if v.line is not None else 0)
    return out


def _check_media_tag(
    rendition: Rendition, out: list[Violation], needs: list[tuple[int, str]]
) -> None:
    a = _Attrs("EXT-X-MEDIA", rendition.line, rendition.attributes, R_MEDIA, out)
    kind = a.enum("TYPE", ("AUDIO", "VIDEO", "SUBTITLES", "CLOSED-CAPTIONS"), required=True)
    a.quoted("GROUP-ID", required=True)
    a.quoted("NAME", required=True)
    uri = a.quoted("URI")
    default = a.enum("DEFAULT", ("YES", "NO"))
    autoselect = a.enum("AUTOSELECT", ("YES", "NO"))
    a.enum("FORCED", ("YES", "NO"))
    instream = a.quoted("INSTREAM-ID")
    if kind == "CLOSED-CAPTIONS":
        if uri is not None:
            a.bad("URI MUST NOT be present when TYPE is CLOSED-CAPTIONS")
        if instream is None:
            a.bad("INSTREAM-ID is REQUIRED when TYPE is CLOSED-CAPTIONS")
        elif not re.fullmatch(r"CC[1-4]|SERVICE([1-9]|[1-5][0-9]|6[0-3])", instream):
            a.bad(f"INSTREAM-ID {instream!r} is not CC1-CC4 or SERVICE1-SERVICE63")
        elif instream.startswith("SERVICE"):
            needs.append((7, "INSTREAM-ID SERVICE values"))
    elif instream is not None and kind is not None:
        needs.append((13, "INSTREAM-ID on a non-CLOSED-CAPTIONS rendition"))
    if kind == "SUBTITLES" and uri is None:
        a.bad("URI is REQUIRED when TYPE is SUBTITLES")
    if default == "YES" and autoselect == "NO":
        a.bad("AUTOSELECT MUST be YES when DEFAULT is YES")
    if a.has("FORCED") and kind not in (None, "SUBTITLES"):
        a.bad("FORCED MUST NOT be present unless TYPE is SUBTITLES")
    for audio_only in ("CHANNELS", "BIT-DEPTH", "SAMPLE-RATE"):
        if a.has(audio_only) and kind not in (None, "AUDIO"):
            a.bad(f"{audio_only} MUST NOT be present unless TYPE is AUDIO")


def _check_stream_inf(
    variant: VariantStream,
    groups: Mapping[tuple[str, str], list[Rendition]],
    out: list[Violation],
) -> None:
    a = _Attrs("EXT-X-STREAM-INF", variant.line, variant.attributes, R_STREAM_INF, out)
    bandwidth = a.integer("BANDWIDTH", required=True)
    if bandwidth is not None and bandwidth <= 0:
        a.bad("BANDWIDTH must be greater than 0")
    a.integer("AVERAGE-BANDWIDTH")
    codecs = a.quoted("CODECS")
    video = False
    if codecs is None:
        out.append(
            Violation(
                G_STREAM_INF,
                variant.line,
                "CODECS is missing (the draft says every EXT-X-STREAM-INF SHOULD have it; "
                "golive requires it)",
            )
        )
    elif codecs:
        for codec in codecs.split(","):
            codec = codec.strip()
            if not _CODEC.fullmatch(codec):
                a.bad(f"CODECS entry {codec!r} is not an RFC 6381 codec (e.g. avc1.64001f)")
            elif codec[:4] in _VIDEO_CODECS:
                video = True
    resolution = a.attrs.get("RESOLUTION")
    if resolution is not None:
        m = _RESOLUTION.fullmatch(resolution.value)
        if resolution.quoted or m is None:
            a.bad(f"RESOLUTION={resolution.value!r} is not a decimal-resolution WxH")
        elif int(m.group(1)) == 0 or int(m.group(2)) == 0:
            a.bad(f"RESOLUTION={resolution.value} has a zero dimension")
    elif video:
        out.append(
            Violation(
                G_STREAM_INF,
                variant.line,
                "RESOLUTION is missing for a video variant (recommended by the draft; golive "
                "requires it)",
            )
        )
    frame_rate = a.attrs.get("FRAME-RATE")
    if frame_rate is not None:
        value = a.decimal("FRAME-RATE")
        if value is not None:
            if value <= 0:
                a.bad("FRAME-RATE must be greater than 0")
            decimals = frame_rate.value.partition(".")[2]
            if len(decimals) > 3:
                a.bad(f"FRAME-RATE={frame_rate.value} is not rounded to three decimal places")
    a.enum("HDCP-LEVEL", ("TYPE-0", "TYPE-1", "NONE"))
    a.enum("VIDEO-RANGE", ("SDR", "HLG", "PQ"))
    for attribute, kind in (("AUDIO", "AUDIO"), ("VIDEO", "VIDEO"), ("SUBTITLES", "SUBTITLES")):
        group = a.quoted(attribute)
        if group is not None and (kind, group) not in groups:
            a.bad(f'{attribute}="{group}" matches no EXT-X-MEDIA with TYPE={kind}')
    captions = a.attrs.get("CLOSED-CAPTIONS")
    if captions is not None:
        if captions.quoted:
            if ("CLOSED-CAPTIONS", captions.value) not in groups:
                a.bad(
                    f'CLOSED-CAPTIONS="{captions.value}" matches no EXT-X-MEDIA with '
                    "TYPE=CLOSED-CAPTIONS"
                )
        elif captions.value != "NONE":
            a.bad("CLOSED-CAPTIONS must be a quoted-string or NONE")
    if variant.uri is not None and not variant.uri:
        a.bad("the URI line is empty")


# --------------------------------------------------------------------------------------------


def assert_conformant(violations: list[Violation]) -> None:
    """Raises AssertionError listing every violation, if there are any."""
    if not violations:
        return
    lines = [f"{len(violations)} HLS conformance violation(s):"]
    lines.extend(f"  - {v}" for v in violations)
    raise AssertionError("\n".join(lines))
