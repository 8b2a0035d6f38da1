"""A sans-I/O MPEG-2 transport stream demuxer (ISO/IEC 13818-1) for SRT ingest.

:class:`TsDemuxer` takes the TS byte stream in pieces of any size (``feed``) and returns, in
stream order, :class:`~golive.media.frame.Track` and :class:`~golive.media.frame.Frame`
objects exactly like the RTMP path produces them, plus :class:`TsProblem` events. It never
raises on input: whatever is wrong with the bytes becomes a ``TsProblem`` and demuxing goes on.

What it handles:

* 188-byte packets, regaining sync on 0x47 (a candidate is confirmed by the next packet's sync
  byte) when the stream is misaligned or damaged.
* PAT and PMT sections (CRC-checked, possibly spanning packets); only the first program of the
  PAT is used. A new PMT version may move or replace the elementary streams.
* In the PMT: the first H.264 (stream_type 0x1B) or HEVC (0x24) stream, and the first AAC in
  ADTS (0x0F) stream. Other elementary streams are reported once (``UNSUPPORTED``) and ignored.
* PES reassembly started by payload_unit_start_indicator, bounded by PES_packet_length when it
  is set (a PES is then finished as soon as it is complete) or by the next PES start when it
  is 0 (video). A PES growing past its cap (8 MiB video, 64 KiB audio) is dropped.
* Continuity counters per PID: a gap drops the PES being assembled on that PID (``CONTINUITY``)
  and assembly restarts at the next unit start; a single duplicate packet (same counter, 13818-1
  2.4.3.3) is skipped; a set discontinuity_indicator excuses a jump.
* PTS/DTS: 33-bit values are unwrapped, with one clock for the program, onto a timeline that
  keeps increasing through 2**33. They are not rebased: the first frame keeps its PTS.

What comes out:

* H.264: a Track once an SPS and a PPS have been seen (``avc1.PPCCLL``, an avcC built from the
  last SPS and the PPSs seen since, size from the SPS), again whenever they change. One Frame
  per PES (one access unit per PES, as 13818-1 2.14 recommends and encoders do), converted to
  4-byte length-prefixed NAL units. AUD, SPS, PPS and filler NAL units are stripped (the
  parameter sets are in the avcC); SEI and slices are kept. ``keyframe`` means the access unit
  holds an IDR slice. Frames before the first Track are dropped (nothing could decode them).
  Timescale 90 kHz; a PES without DTS has dts = pts; a video PES without PTS is dropped.
* HEVC: likewise, a Track once a VPS, an SPS and a PPS have been seen (``hvc1``, an hvcC built
  from the latest of each, refused as a ``CODEC`` problem where the FLV path refuses it), again
  whenever one changes. Frames are 4-byte length-prefixed without AUD, parameter sets and
  filler; ``keyframe`` means the access unit holds an IRAP picture (IDR, CRA or BLA).
* AAC: a Track from the first ADTS header (AudioSpecificConfig built from it, ``mp4a.40.<aot>``,
  timescale = sample rate), again if the header changes; one Frame per ADTS frame, raw (no
  header). The first frame starting in a PES takes the PES PTS (converted to samples, exactly as
  an integer); later frames follow 1024 samples apart, and the count carries on across PESs as
  long as the PTS agrees within a few samples. ADTS frames split across PES boundaries are
  joined. ADTS frames with several raw data blocks and channel configuration 0 (PCE) are
  refused with a ``CODEC`` problem.
* While the PMT announces video but no video Track exists yet, audio is held back (at most
  200 frames) so that consumers do not start an audio-only stream.

``end()`` flushes: the last video PES is emitted; a partial packet or a PES shorter than its
PES_packet_length is reported as ``TRUNCATED`` and dropped. PCR is not used: frames are timed
by PTS/DTS alone. Scrambled packets, packets with transport_error_indicator set and PES
without the standard optional header are dropped with a problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from golive.media.aac import AacConfigError, parse_asc
from golive.media.annexb import split_annexb
from golive.media.avc import AvcConfigError, parse_sps
from golive.media.bit_reader import BitReader
from golive.media.flv import UnsupportedCodecError, check_avc, check_hevc
from golive.media.frame import (
    AUDIO_TRACK_ID,
    VIDEO_TIMESCALE,
    VIDEO_TRACK_ID,
    Frame,
    Track,
    TrackKind,
)
from golive.media.hevc import HevcConfigError, hvcc_from_nal_units, parse_hvcc

__all__ = [
    "ProblemKind",
    "TsDemuxer",
    "TsEvent",
    "TsProblem",
    "build_asc_from_adts",
    "build_avcc",
]

PACKET_SIZE = 188
SYNC_BYTE = 0x47

STREAM_TYPE_AAC_ADTS = 0x0F
STREAM_TYPE_H264 = 0x1B
STREAM_TYPE_HEVC = 0x24

VIDEO_PES_CAP = 8 << 20
AUDIO_PES_CAP = 64 << 10

_PAT_PID = 0x0000
_NULL_PID = 0x1FFF
_MAX_SECTION = 1024  # PAT/PMT: section_length is at most 1021 (13818-1 2.4.4.3, 2.4.4.8)

_WRAP = 1 << 33
_HALF_WRAP = 1 << 32
_MASK = _WRAP - 1

# stream_ids whose PES has no optional header (13818-1 table 2-21 and 2.4.3.7).
_NO_HEADER_STREAM_IDS = frozenset({0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xF2, 0xF8, 0xFF})

_NAL_IDR = 5
_NAL_SPS = 7
_NAL_PPS = 8
_NAL_AUD = 9
_NAL_FILLER = 12

_HEVC_VPS = 32
_HEVC_SPS = 33
_HEVC_PPS = 34
_HEVC_AUD = 35
_HEVC_FILLER = 38
_HEVC_PARAMETER_SETS = (_HEVC_VPS, _HEVC_SPS, _HEVC_PPS)

_AAC_FRAME_SAMPLES = 1024
_ADTS_SAMPLE_RATES = (
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
)  # fmt: skip
# PTS and sample count may disagree by rounding (90 kHz <-> sample rate, both ways).
_AUDIO_CLOCK_SLACK = 4
_MAX_ADTS_CARRY = 8191  # aac_frame_length is 13 bits
_MAX_HELD_AUDIO = 200

_STREAM_TYPE_NAMES = {
    0x01: "MPEG-1 video",
    0x02: "MPEG-2 video",
    0x03: "MPEG-1 audio",
    0x04: "MPEG-2 audio",
    0x06: "private data (e.g. AC-3, Opus, subtitles)",
    0x0F: "AAC (ADTS)",
    0x10: "MPEG-4 visual",
    0x11: "AAC (LATM)",
    0x15: "timed metadata",
    0x1B: "H.264",
    0x24: "HEVC",
    0x33: "VVC",
    0x81: "AC-3",
    0x86: "SCTE-35",
    0x87: "E-AC-3",
}


class ProblemKind(StrEnum):
    SYNC = "sync"  # bytes skipped to find the next packet boundary
    TRANSPORT_ERROR = "transport_error"  # transport_error_indicator set
    SCRAMBLED = "scrambled"
    CONTINUITY = "continuity"  # a continuity counter gap: packets were lost
    PSI = "psi"  # a bad PAT/PMT section
    PES = "pes"  # a malformed PES header
    OVERSIZE = "oversize"  # a PES over its cap
    TRUNCATED = "truncated"  # a packet or PES cut short
    TIMESTAMP = "timestamp"  # a PES that cannot be timed
    CODEC = "codec"  # bad or refused codec data (SPS, ADTS)
    UNSUPPORTED = "unsupported"  # an elementary stream that is ignored


@dataclass(frozen=True, slots=True)
class TsProblem:
    """Something wrong or refused in the input; ``pid`` is -1 when no single PID is at fault."""

    kind: ProblemKind
    pid: int
    message: str


TsEvent: TypeAlias = Track | Frame | TsProblem


# -- PSI CRC (13818-1 annex A: CRC-32/MPEG-2, polynomial 0x04C11DB7, no reflection) ----


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        c = i << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04C11DB7) if c & 0x80000000 else (c << 1)
        table.append(c & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32_mpeg2(data: bytes | bytearray | memoryview) -> int:
    """CRC-32/MPEG-2 of ``data``; over a whole section including its CRC_32 field it is 0."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ b]
    return crc


# -- codec configuration records -----------------------------------------------------


def build_avcc(sps: bytes, pps: list[bytes]) -> bytes:
    """An AVCDecoderConfigurationRecord (14496-15 5.3.3.1) with 4-byte NAL lengths.

    ``sps`` and each PPS are NAL units with their header byte. For the profiles that carry
    chroma format and bit depth in the SPS, the record's extension fields are filled from it.
    Raises AvcConfigError for an unparsable SPS.
    """
    if not pps:
        raise AvcConfigError("an avcC needs at least one PPS")
    if len(pps) > 255:
        raise AvcConfigError("too many PPS for an avcC")
    info = parse_sps(sps)
    out = bytearray((1, sps[1], sps[2], sps[3], 0xFF, 0xE1))
    out += len(sps).to_bytes(2, "big") + sps
    out.append(len(pps))
    for p in pps:
        out += len(p).to_bytes(2, "big") + p
    if info.profile_idc in (100, 110, 122, 144):
        out.append(0xFC | info.chroma_format_idc)
        out.append(0xF8 | (info.bit_depth_luma - 8))
        out.append(0xF8 | (info.bit_depth_chroma - 8))
        out.append(0)  # numOfSequenceParameterSetExt
    return bytes(out)


def build_asc_from_adts(header: bytes | bytearray | memoryview) -> bytes:
    """The two-byte AudioSpecificConfig matching an ADTS fixed header (14496-3 1.A.2.2.1).

    audioObjectType is the ADTS profile + 1; GASpecificConfig has frameLengthFlag,
    dependsOnCoreCoder and extensionFlag all 0 (ADTS frames are 1024 samples).
    """
    aot = ((header[2] >> 6) & 0x03) + 1
    sf_index = (header[2] >> 2) & 0x0F
    channel_config = ((header[2] & 0x01) << 2) | (header[3] >> 6)
    value = (aot << 11) | (sf_index << 7) | (channel_config << 3)
    return value.to_bytes(2, "big")


# -- per-PID state ----------------------------------------------------------------------


class _Pid:
    """What is known and being assembled on one PID of interest."""

    __slots__ = (
        "cap",
        "carry",
        "cc",
        "expected",
        "is_psi",
        "pes",
        "pid",
        "reported",
        "section",
        "stream_type",
    )

    def __init__(self, pid: int, is_psi: bool, stream_type: int = 0) -> None:
        self.pid = pid
        self.is_psi = is_psi
        self.stream_type = stream_type
        self.cap = VIDEO_PES_CAP if stream_type != STREAM_TYPE_AAC_ADTS else AUDIO_PES_CAP
        self.cc = -1
        self.section: bytearray | None = None
        self.pes: bytearray | None = None
        # Total PES size from PES_packet_length: -1 before the header is in, 0 for unbounded.
        self.expected = -1
        self.carry = b""  # ADTS bytes of a frame continued in the next PES
        self.reported: set[str] = set()


def _read_timestamp(b: bytearray, i: int) -> int:
    """A 33-bit PTS/DTS from its 5-byte field with marker bits (13818-1 2.4.3.7)."""
    return (
        (((b[i] >> 1) & 0x07) << 30)
        | (b[i + 1] << 22)
        | ((b[i + 2] >> 1) << 15)
        | (b[i + 3] << 7)
        | (b[i + 4] >> 1)
    )


def _pps_id(pps: bytes) -> int:
    r = BitReader(pps[1:], AvcConfigError, "PPS truncated")
    return r.ue()


class TsDemuxer:
    """Demuxes one MPEG-TS byte stream into Tracks, Frames and TsProblems (see module doc)."""

    __slots__ = (
        "_audio",
        "_audio_next_dts",
        "_audio_pid",
        "_clock_ref",
        "_held",
        "_hevc_sets",
        "_hold_over",
        "_offset",
        "_out",
        "_pat_section",
        "_pids",
        "_pmt_pid",
        "_pmt_section",
        "_pps",
        "_reported",
        "_sps",
        "_synced",
        "_tail",
        "_video",
        "_video_dirty",
        "_video_pid",
    )

    def __init__(self) -> None:
        self._tail = b""
        self._offset = 0  # stream offset of the first byte of _tail
        self._synced = False
        self._out: list[TsEvent] = []
        self._pids: dict[int, _Pid] = {_PAT_PID: _Pid(_PAT_PID, True)}
        self._pmt_pid = -1
        self._pat_section = b""
        self._pmt_section = b""
        self._video_pid = -1
        self._audio_pid = -1
        self._reported: set[tuple[int, int]] = set()
        self._clock_ref: int | None = None
        self._video: Track | None = None
        self._audio: Track | None = None
        self._audio_next_dts: int | None = None
        self._sps: bytes | None = None
        self._pps: dict[int, bytes] = {}
        self._hevc_sets: dict[int, bytes] = {}  # the latest VPS, SPS and PPS by NAL type
        self._video_dirty = False
        self._held: list[TsEvent] | None = None
        self._hold_over = False  # audio is never held again once video came or did not

    @property
    def tracks(self) -> dict[int, Track]:
        """The current tracks by id."""
        out = {}
        if self._video is not None:
            out[self._video.id] = self._video
        if self._audio is not None:
            out[self._audio.id] = self._audio
        return out

    # -- byte stream -> packets ----------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> list[TsEvent]:
        """Take the next piece of the byte stream; return the events it completed."""
        self._out = []
        buf = self._tail + bytes(data) if self._tail else bytes(data)
        self._scan(buf, final=False)
        return self._release()

    def end(self) -> list[TsEvent]:
        """The stream is over: flush what is pending (see module doc)."""
        self._out = []
        if self._tail:
            self._scan(self._tail, final=True)
        tail = self._tail
        if tail:
            pid = -1
            if len(tail) >= 3 and tail[0] == SYNC_BYTE:
                pid = ((tail[1] & 0x1F) << 8) | tail[2]
            self._problem(
                ProblemKind.TRUNCATED, pid, f"stream ends in a partial packet ({len(tail)} bytes)"
            )
            state = self._pids.get(pid)
            if state is not None and not state.is_psi and state.pes is not None:
                state.pes = None
                self._problem(
                    ProblemKind.TRUNCATED, pid, "PES cut short by the partial last packet dropped"
                )
            self._offset += len(tail)
            self._tail = b""
        for state in list(self._pids.values()):
            if state.is_psi:
                state.section = None
                continue
            if state.pes is not None:
                self._finish_pes(state)
            if state.carry:
                self._problem(
                    ProblemKind.TRUNCATED,
                    state.pid,
                    f"stream ends inside an ADTS frame ({len(state.carry)} bytes dropped)",
                )
                state.carry = b""
        if self._held is not None:
            self._out[:0] = self._held
            self._held = None
        return self._release()

    def _release(self) -> list[TsEvent]:
        out = self._out
        self._out = []
        return out

    def _problem(self, kind: ProblemKind, pid: int, message: str) -> None:
        self._out.append(TsProblem(kind, pid, message))

    def _scan(self, buf: bytes, final: bool) -> None:
        n = len(buf)
        pos = 0
        view = memoryview(buf)
        while True:
            if not self._synced:
                pos = self._resync(buf, pos, final)
                if not self._synced:
                    break
            if pos + PACKET_SIZE > n:
                break
            if buf[pos] != SYNC_BYTE:
                self._synced = False
                continue
            self._packet(buf, view, pos)
            pos += PACKET_SIZE
        self._tail = buf[pos:]
        self._offset += pos

    def _resync(self, buf: bytes, pos: int, final: bool) -> int:
        """Find the next sync byte confirmed by the one a packet later; report skipped bytes."""
        n = len(buf)
        start = pos
        while True:
            i = buf.find(SYNC_BYTE, pos)
            if i < 0:
                pos = n
                break
            nxt = i + PACKET_SIZE
            if nxt >= n and not (final and nxt == n):
                pos = i  # cannot confirm yet: wait for more bytes
                break
            if nxt == n or buf[nxt] == SYNC_BYTE:
                pos = i
                self._synced = True
                break
            pos = i + 1
        if pos > start:
            self._problem(
                ProblemKind.SYNC,
                -1,
                f"skipped {pos - start} bytes at stream offset {self._offset + start} "
                "looking for packet sync",
            )
        return pos

    def _packet(self, buf: bytes, view: memoryview, pos: int) -> None:
        b1 = buf[pos + 1]
        pid = ((b1 & 0x1F) << 8) | buf[pos + 2]
        state = self._pids.get(pid)
        if state is None:
            return  # not a PID we follow
        if b1 & 0x80:
            self._problem(
                ProblemKind.TRANSPORT_ERROR, pid, "packet with transport_error_indicator dropped"
            )
            self._drop(state)
            return
        b3 = buf[pos + 3]
        afc = (b3 >> 4) & 0x03
        if not afc & 0x01:
            # Adaptation field only (or reserved): no payload, counter unchanged. A
            # discontinuity_indicator here still excuses the next counter.
            if afc == 2 and buf[pos + 4] and buf[pos + 5] & 0x80:
                state.cc = -1
            return
        if b3 & 0xC0:
            if "scrambled" not in state.reported:
                state.reported.add("scrambled")
                self._problem(ProblemKind.SCRAMBLED, pid, "scrambled packets cannot be demuxed")
            self._drop(state)
            return
        start = pos + 4
        discontinuity = False
        if afc == 3:
            length = buf[start]
            if length > 183:
                self._problem(ProblemKind.TRUNCATED, pid, f"adaptation field length {length}")
                self._drop(state)
                return
            if length:
                discontinuity = bool(buf[start + 1] & 0x80)
            start += 1 + length
        cc = b3 & 0x0F
        last = state.cc
        state.cc = cc
        if last >= 0 and not discontinuity and cc != (last + 1) & 0x0F:
            if cc == last:
                return  # a duplicate packet (13818-1 2.4.3.3): keep the first copy
            lost = (cc - last - 1) & 0x0F
            dropped = state.pes is not None or state.section is not None
            self._problem(
                ProblemKind.CONTINUITY,
                pid,
                f"continuity counter jumped from {last} to {cc} (at least {lost} packets lost)"
                + ("; the unit being assembled is dropped" if dropped else ""),
            )
            self._drop(state)
        end = pos + PACKET_SIZE
        if start >= end:
            return
        payload = view[start:end]
        unit_start = bool(b1 & 0x40)
        if state.is_psi:
            self._psi(state, payload, unit_start)
        else:
            self._pes(state, payload, unit_start)

    def _drop(self, state: _Pid) -> None:
        state.pes = None
        state.section = None
        state.carry = b""

    # -- PSI ----------------------------------------------------------------------------

    def _psi(self, state: _Pid, payload: memoryview, unit_start: bool) -> None:
        section = state.section
        if unit_start:
            pointer = payload[0]
            if 1 + pointer > len(payload):
                self._problem(ProblemKind.PSI, state.pid, f"pointer_field {pointer} too big")
                state.section = None
                return
            if section is not None:
                section += payload[1 : 1 + pointer]
                self._sections(state, section)
            section = state.section = bytearray(payload[1 + pointer :])
        elif section is None:
            return
        else:
            section += payload
        self._sections(state, section)

    def _sections(self, state: _Pid, section: bytearray) -> None:
        """Handle each complete section at the start of ``section`` and remove it."""
        while len(section) >= 3:
            if section[0] == 0xFF:
                state.section = None  # stuffing: the rest of the packet is padding
                return
            size = 3 + (((section[1] & 0x0F) << 8) | section[2])
            if size > _MAX_SECTION or size < 12:
                self._problem(ProblemKind.PSI, state.pid, f"bad section length {size - 3}")
                state.section = None
                return
            if len(section) < size:
                return
            self._table(state.pid, bytes(section[:size]))
            del section[:size]
        if not section:
            state.section = None

    def _table(self, pid: int, section: bytes) -> None:
        table_id = section[0]
        if pid == _PAT_PID:
            if table_id != 0 or section == self._pat_section:
                return
        elif pid == self._pmt_pid:
            if table_id != 2 or section == self._pmt_section:
                return
        else:
            return
        if not section[1] & 0x80:
            self._problem(ProblemKind.PSI, pid, "section_syntax_indicator is 0")
            return
        if not section[5] & 0x01:
            return  # current_next_indicator 0: not applicable yet
        if crc32_mpeg2(section) != 0:
            self._problem(ProblemKind.PSI, pid, f"table {table_id} section fails its CRC")
            return
        if table_id == 0:
            self._pat_section = section
            self._pat(section)
        else:
            self._pmt_section = section
            self._pmt(section)

    def _pat(self, section: bytes) -> None:
        pmt_pid = -1
        for i in range(8, len(section) - 4 - 3, 4):
            program = (section[i] << 8) | section[i + 1]
            if program != 0:  # 0 is the network PID
                pmt_pid = ((section[i + 2] & 0x1F) << 8) | section[i + 3]
                break
        if pmt_pid < 0:
            self._problem(ProblemKind.PSI, _PAT_PID, "PAT lists no program")
            return
        if pmt_pid == self._pmt_pid:
            return
        if pmt_pid in (_PAT_PID, _NULL_PID):
            self._problem(ProblemKind.PSI, _PAT_PID, f"PAT gives PMT PID {pmt_pid}")
            return
        old = self._pids.get(self._pmt_pid)
        if old is not None and old.is_psi:
            del self._pids[old.pid]
        self._pmt_pid = pmt_pid
        self._pmt_section = b""
        self._pids[pmt_pid] = _Pid(pmt_pid, True)

    def _pmt(self, section: bytes) -> None:
        end = len(section) - 4
        pos = 12 + (((section[10] & 0x0F) << 8) | section[11])
        video: tuple[int, int] | None = None
        audio: tuple[int, int] | None = None
        ignored: list[tuple[int, int]] = []
        while pos + 5 <= end:
            stream_type = section[pos]
            pid = ((section[pos + 1] & 0x1F) << 8) | section[pos + 2]
            pos += 5 + (((section[pos + 3] & 0x0F) << 8) | section[pos + 4])
            if stream_type in (STREAM_TYPE_H264, STREAM_TYPE_HEVC) and video is None:
                video = (pid, stream_type)
            elif stream_type == STREAM_TYPE_AAC_ADTS and audio is None:
                audio = (pid, stream_type)
            else:
                ignored.append((pid, stream_type))
        for pid, stream_type in ignored:
            if (pid, stream_type) not in self._reported:
                self._reported.add((pid, stream_type))
                name = _STREAM_TYPE_NAMES.get(stream_type, "unknown")
                self._problem(
                    ProblemKind.UNSUPPORTED,
                    pid,
                    f"elementary stream type 0x{stream_type:02x} ({name}) on PID {pid} ignored",
                )
        self._video_pid = self._follow(self._video_pid, video)
        self._audio_pid = self._follow(self._audio_pid, audio)
        if video is not None and self._video is None and self._held is None and not self._hold_over:
            self._held = []

    def _follow(self, current: int, wanted: tuple[int, int] | None) -> int:
        """Switch one elementary stream slot to ``wanted`` (pid, stream_type)."""
        old = self._pids.get(current) if current >= 0 else None
        if wanted is not None and old is not None and (old.pid, old.stream_type) == wanted:
            return current
        if old is not None and not old.is_psi:
            del self._pids[current]
        if wanted is None:
            return -1
        pid, stream_type = wanted
        existing = self._pids.get(pid)
        if existing is not None and existing.is_psi:
            self._problem(ProblemKind.PSI, pid, f"PID {pid} is both a table and a stream")
            return -1
        self._pids[pid] = _Pid(pid, False, stream_type)
        if stream_type == STREAM_TYPE_AAC_ADTS:
            self._audio_next_dts = None
        return pid

    # -- PES ------------------------------------------------------------------------------

    def _pes(self, state: _Pid, payload: memoryview, unit_start: bool) -> None:
        if unit_start:
            if state.pes is not None:
                self._finish_pes(state)
            pes = state.pes = bytearray(payload)
            state.expected = -1
        else:
            pes_or_none = state.pes
            if pes_or_none is None:
                return  # joined mid-PES, or after a loss: wait for the next unit start
            pes = pes_or_none
            pes += payload
        if state.expected < 0 and len(pes) >= 6:
            if pes[0] != 0 or pes[1] != 0 or pes[2] != 1:
                self._problem(ProblemKind.PES, state.pid, "PES without packet_start_code_prefix")
                state.pes = None
                return
            length = (pes[4] << 8) | pes[5]
            state.expected = 6 + length if length else 0
        expected = state.expected
        if expected > 0 and len(pes) >= expected:
            self._complete_pes(state, pes, expected)
        elif len(pes) > state.cap:
            self._problem(
                ProblemKind.OVERSIZE,
                state.pid,
                f"PES larger than {state.cap} bytes dropped",
            )
            state.pes = None

    def _finish_pes(self, state: _Pid) -> None:
        """The PES being assembled ends here (next unit start, or end of stream)."""
        pes = state.pes
        assert pes is not None
        expected = state.expected
        if expected == 0:
            self._complete_pes(state, pes, len(pes))
            return
        state.pes = None
        have = len(pes)
        want = f"{expected}" if expected > 0 else "at least 6"
        self._problem(
            ProblemKind.TRUNCATED, state.pid, f"PES cut short ({have} of {want} bytes) dropped"
        )

    def _complete_pes(self, state: _Pid, pes: bytearray, size: int) -> None:
        state.pes = None
        stream_id = pes[3]
        if stream_id in _NO_HEADER_STREAM_IDS:
            return  # padding or private signalling, not media
        if size < 9 or (pes[6] & 0xC0) != 0x80:
            self._problem(ProblemKind.PES, state.pid, "PES without the MPEG-2 optional header")
            return
        flags = pes[7] >> 6
        header_end = 9 + pes[8]
        if header_end > size or (flags & 2 and pes[8] < 5) or (flags == 3 and pes[8] < 10):
            self._problem(ProblemKind.PES, state.pid, "PES header longer than the PES")
            return
        pts = dts = None
        if flags & 2:
            pts = self._unwrap(_read_timestamp(pes, 9))
            dts = self._unwrap(_read_timestamp(pes, 14)) if flags == 3 else pts
        if state.stream_type == STREAM_TYPE_AAC_ADTS:
            self._adts(state, pts, pes[header_end:size])
        elif state.stream_type == STREAM_TYPE_H264:
            self._h264(state, pts, dts, pes, header_end, size)
        else:
            self._hevc(state, pts, dts, pes, header_end, size)

    def _unwrap(self, raw: int) -> int:
        """Extend a 33-bit timestamp to the value nearest the last one seen."""
        ref = self._clock_ref
        if ref is None:
            self._clock_ref = raw
            return raw
        delta = (raw - ref) & _MASK
        if delta >= _HALF_WRAP:
            delta -= _WRAP
        value = ref + delta
        self._clock_ref = value
        return value

    # -- H.264 ----------------------------------------------------------------------------

    def _h264(
        self, state: _Pid, pts: int | None, dts: int | None, pes: bytearray, start: int, end: int
    ) -> None:
        parts: list[bytes | memoryview] = []
        keyframe = False
        for nal in split_annexb(pes, start, end):
            nal_type = nal[0] & 0x1F
            if nal_type == _NAL_SPS:
                self._set_sps(state.pid, bytes(nal))
            elif nal_type == _NAL_PPS:
                self._set_pps(state.pid, bytes(nal))
            elif nal_type not in (_NAL_AUD, _NAL_FILLER):
                if nal_type == _NAL_IDR:
                    keyframe = True
                parts.append(len(nal).to_bytes(4, "big"))
                parts.append(nal)
        self._emit_video(state.pid, pts, dts, parts, keyframe, self._video_track)

    # -- HEVC -----------------------------------------------------------------------------

    def _hevc(
        self, state: _Pid, pts: int | None, dts: int | None, pes: bytearray, start: int, end: int
    ) -> None:
        parts: list[bytes | memoryview] = []
        keyframe = False
        for nal in split_annexb(pes, start, end):
            if len(nal) < 2:
                continue
            nal_type = (nal[0] >> 1) & 0x3F
            if nal_type in _HEVC_PARAMETER_SETS:
                unit = bytes(nal)
                if self._hevc_sets.get(nal_type) != unit:
                    self._hevc_sets[nal_type] = unit
                    self._video_dirty = True
            elif nal_type not in (_HEVC_AUD, _HEVC_FILLER):
                if 16 <= nal_type <= 23:  # IRAP: BLA, IDR, CRA (H.265 table 7-1)
                    keyframe = True
                parts.append(len(nal).to_bytes(4, "big"))
                parts.append(nal)
        self._emit_video(state.pid, pts, dts, parts, keyframe, self._hevc_track)

    def _emit_video(
        self,
        pid: int,
        pts: int | None,
        dts: int | None,
        parts: list[bytes | memoryview],
        keyframe: bool,
        make_track: Callable[[int], None],
    ) -> None:
        """One access unit's length-prefixed NAL units as a Frame (H.264 or HEVC), the track
        (re)made first when its parameter sets changed."""
        if self._video_dirty:
            self._video_dirty = False
            make_track(pid)
        if self._video is None or not parts:
            return
        if pts is None or dts is None:
            self._problem(ProblemKind.TIMESTAMP, pid, "video PES without PTS dropped")
            return
        self._out.append(Frame(VIDEO_TRACK_ID, dts, pts, keyframe, b"".join(parts)))

    def _hevc_track(self, pid: int) -> None:
        sets = self._hevc_sets
        if len(sets) < len(_HEVC_PARAMETER_SETS):
            return
        try:
            hvcc = hvcc_from_nal_units(sets[_HEVC_VPS], sets[_HEVC_SPS], sets[_HEVC_PPS])
            config = parse_hvcc(hvcc)
            check_hevc(config.profile_idc, config.level_idc, config.width, config.height)
        except (HevcConfigError, UnsupportedCodecError) as exc:
            self._problem(ProblemKind.CODEC, pid, f"HEVC parameter sets refused: {exc}")
            return
        current = self._video
        if current is not None and current.config == hvcc:
            return
        self._set_video_track(
            Track(
                id=VIDEO_TRACK_ID,
                kind=TrackKind.VIDEO,
                codec=config.codec,
                timescale=VIDEO_TIMESCALE,
                config=hvcc,
                width=config.width,
                height=config.height,
            )
        )

    # -- H.264 parameter sets ---------------------------------------------------------------

    def _set_sps(self, pid: int, sps: bytes) -> None:
        if sps == self._sps:
            return
        self._sps = sps
        self._pps = {}
        self._video_dirty = True

    def _set_pps(self, pid: int, pps: bytes) -> None:
        try:
            pps_id = _pps_id(pps)
        except AvcConfigError as exc:
            self._problem(ProblemKind.CODEC, pid, f"bad H.264 PPS: {exc}")
            return
        if self._pps.get(pps_id) != pps:
            self._pps[pps_id] = pps
            self._video_dirty = True

    def _video_track(self, pid: int) -> None:
        sps = self._sps
        if sps is None or not self._pps:
            return
        try:
            avcc = build_avcc(sps, list(self._pps.values()))
            info = parse_sps(sps)
            check_avc(info.profile_idc, info.level_idc, info.width, info.height)
        except (AvcConfigError, UnsupportedCodecError) as exc:
            self._problem(ProblemKind.CODEC, pid, f"H.264 parameter sets refused: {exc}")
            return
        current = self._video
        if current is not None and current.config == avcc:
            return
        track = Track(
            id=VIDEO_TRACK_ID,
            kind=TrackKind.VIDEO,
            codec=f"avc1.{sps[1]:02x}{sps[2]:02x}{sps[3]:02x}",
            timescale=VIDEO_TIMESCALE,
            config=avcc,
            width=info.width,
            height=info.height,
        )
        self._set_video_track(track)

    def _set_video_track(self, track: Track) -> None:
        self._video = track
        self._out.append(track)
        held, self._held = self._held, None
        self._hold_over = True
        if held:
            self._out.extend(held)

    # -- AAC in ADTS --------------------------------------------------------------------

    def _adts(self, state: _Pid, pts: int | None, payload: bytearray) -> None:
        pid = state.pid
        carried = len(state.carry)
        data: bytes | bytearray = state.carry + payload if carried else payload
        state.carry = b""
        n = len(data)
        pos = 0
        next_dts = self._audio_next_dts
        pes_clock_used = pts is None
        while pos + 7 <= n:
            if data[pos] != 0xFF or (data[pos + 1] & 0xF6) != 0xF0:
                self._problem(
                    ProblemKind.CODEC, pid, f"no ADTS syncword: {n - pos} bytes of PES dropped"
                )
                return
            size = ((data[pos + 3] & 0x03) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5)
            header_size = 7 if data[pos + 1] & 0x01 else 9
            if size <= header_size:
                self._problem(ProblemKind.CODEC, pid, f"ADTS frame length {size} too small")
                return
            if pos + size > n:
                break
            frame_start = pos
            pos += size
            if data[frame_start + 6] & 0x03:
                self._problem(
                    ProblemKind.CODEC, pid, "ADTS frame with several raw data blocks dropped"
                )
                if next_dts is not None:
                    next_dts += _AAC_FRAME_SAMPLES * ((data[frame_start + 6] & 0x03) + 1)
                continue
            previous = self._audio
            track = self._audio_track(pid, data[frame_start : frame_start + 7])
            if track is None:
                continue
            if track is not previous and (
                previous is None or previous.timescale != track.timescale
            ):
                next_dts = None  # a sample count in another rate means nothing now
            if not pes_clock_used and frame_start >= carried:
                pes_clock_used = True
                assert pts is not None
                clock = pts * track.timescale // VIDEO_TIMESCALE
                if next_dts is None or abs(clock - next_dts) > _AUDIO_CLOCK_SLACK:
                    next_dts = clock
            if next_dts is None:
                self._problem(ProblemKind.TIMESTAMP, pid, "ADTS frame without a PTS dropped")
                continue
            self._emit_audio(
                Frame(
                    AUDIO_TRACK_ID,
                    next_dts,
                    next_dts,
                    True,
                    bytes(data[frame_start + header_size : pos]),
                )
            )
            next_dts += _AAC_FRAME_SAMPLES
        self._audio_next_dts = next_dts
        if pos < n:
            rest = bytes(data[pos:])
            if len(rest) > _MAX_ADTS_CARRY:
                self._problem(ProblemKind.CODEC, pid, "oversized ADTS remainder dropped")
            else:
                state.carry = rest

    def _audio_track(self, pid: int, header: bytes | bytearray) -> Track | None:
        current = self._audio
        asc = build_asc_from_adts(header)
        if current is not None and current.config == asc:
            return current
        key = f"asc:{asc.hex()}"
        try:
            config = parse_asc(asc)
        except AacConfigError as exc:
            problem = f"bad ADTS header: {exc}"
        else:
            if config.channel_config == 0:
                problem = "ADTS with channel configuration 0 (PCE) is not supported"
            elif config.sample_rate not in _ADTS_SAMPLE_RATES:
                problem = f"AAC sample rate {config.sample_rate} is not supported"
            else:
                problem = ""
        state = self._pids.get(pid)
        if problem:
            if state is not None and key not in state.reported:
                state.reported.add(key)
                self._problem(ProblemKind.CODEC, pid, problem)
            return None
        track = Track(
            id=AUDIO_TRACK_ID,
            kind=TrackKind.AUDIO,
            codec=config.codec,
            timescale=config.sample_rate,
            config=asc,
            sample_rate=config.sample_rate,
            channels=config.channels,
        )
        self._audio = track
        self._emit_audio(track)
        return track

    def _emit_audio(self, event: Track | Frame) -> None:
        held = self._held
        if held is None:
            self._out.append(event)
            return
        held.append(event)
        if len(held) > _MAX_HELD_AUDIO:
            self._held = None  # the announced video is not coming: audio goes on alone
            self._hold_over = True
            self._out.extend(held)
