"""AMF0 (Action Message Format, version 0) encoder and decoder.

RTMP carries its commands (``connect``, ``publish``...) and its data messages
(``@setDataFrame``/``onMetaData``) as a sequence of AMF0 values. This module maps them onto
plain Python values:

=================  ==========================================
AMF0 type          Python value
=================  ==========================================
number             ``float`` (``int`` is accepted on encode)
boolean            ``bool``
string/long string ``str``
object             ``dict[str, object]``
ECMA array         ``dict[str, object]`` (:class:`EcmaArray`)
strict array       ``list[object]``
null               ``None``
undefined          :data:`UNDEFINED`
date               ``datetime`` (UTC)
XML document       ``str`` (decode only)
typed object       ``dict[str, object]`` (decode only; the class name is dropped)
=================  ==========================================

References (marker 0x07) and the AMF3 switch (0x11) are refused: no RTMP publisher we
serve sends them in commands or metadata, and refusing them keeps decoding linear in the
input size.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

__all__ = [
    "MAX_DEPTH",
    "MAX_VALUES",
    "UNDEFINED",
    "Amf0DecodeError",
    "EcmaArray",
    "Undefined",
    "decode",
    "decode_all",
    "encode",
]

# Nesting bound for objects/arrays: real metadata is at most 2-3 levels deep, and a bound
# keeps a hostile payload from driving the recursive decoder into RecursionError.
MAX_DEPTH = 32
# Bound on the values one decode call builds (nested ones included). The real commands and
# metadata of OBS, ffmpeg and GStreamer hold fewer than 100; without a bound a message of
# null markers costs one Python object and one loop turn per byte (a 16 MiB one took
# seconds on the event loop).
MAX_VALUES = 4096

NUMBER = 0x00
BOOLEAN = 0x01
STRING = 0x02
OBJECT = 0x03
MOVIECLIP = 0x04
NULL = 0x05
UNDEFINED_MARKER = 0x06
REFERENCE = 0x07
ECMA_ARRAY = 0x08
OBJECT_END = 0x09
STRICT_ARRAY = 0x0A
DATE = 0x0B
LONG_STRING = 0x0C
UNSUPPORTED = 0x0D
RECORDSET = 0x0E
XML_DOCUMENT = 0x0F
TYPED_OBJECT = 0x10
AVMPLUS = 0x11

_F64 = struct.Struct(">d")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_DATE = struct.Struct(">dh")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Buffer = bytes | bytearray | memoryview


class Amf0DecodeError(ValueError):
    """The input is not valid AMF0 (truncated, unknown marker, refused type, too deep)."""


class Undefined(enum.Enum):
    """Type of :data:`UNDEFINED`, the AMF0 ``undefined`` value (distinct from ``null``)."""

    UNDEFINED = "undefined"

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED = Undefined.UNDEFINED


class EcmaArray(dict[str, object]):
    """A dict that :func:`encode` writes as an ECMA array instead of an anonymous object.

    ``onMetaData`` is conventionally an ECMA array; decoding returns this type for ECMA
    arrays so that a decode/encode round trip keeps the marker.
    """


# --------------------------------------------------------------------------------------
# Decoding


class _Decoder:
    __slots__ = ("data", "end", "left", "max_values", "pos")

    def __init__(self, data: Buffer, max_values: int) -> None:
        self.data = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        self.pos = 0
        self.end = len(self.data)
        self.max_values = max_values
        self.left = max_values  # values this decode may still build

    def _need(self, n: int, what: str) -> int:
        pos = self.pos
        if pos + n > self.end:
            raise Amf0DecodeError(
                f"truncated AMF0 {what} at offset {pos}: need {n} bytes, have {self.end - pos}"
            )
        self.pos = pos + n
        return pos

    def _utf8(self, n: int, what: str) -> str:
        pos = self._need(n, what)
        # Lenient on invalid UTF-8: some encoders put Latin-1 file names in metadata, and
        # failing a whole command over one odd character helps nobody.
        return str(self.data[pos : pos + n], "utf-8", "replace")

    def _short_string(self, what: str) -> str:
        (n,) = _U16.unpack_from(self.data, self._need(2, what + " length"))
        return self._utf8(n, what)

    def _u32(self, what: str) -> int:
        (n,) = _U32.unpack_from(self.data, self._need(4, what))
        return int(n)

    def value(self, depth: int) -> object:
        marker = self.data[self._need(1, "type marker")]
        self.left -= 1
        if self.left < 0:
            raise Amf0DecodeError(f"more than {self.max_values} AMF0 values")
        if marker == NUMBER:
            return float(_F64.unpack_from(self.data, self._need(8, "number"))[0])
        if marker == BOOLEAN:
            return self.data[self._need(1, "boolean")] != 0
        if marker == STRING:
            return self._short_string("string")
        if marker == NULL:
            return None
        if marker in (UNDEFINED_MARKER, UNSUPPORTED):
            return UNDEFINED
        if marker == OBJECT:
            return self._properties(dict(), depth)
        if marker == ECMA_ARRAY:
            # The count is only a hint (encoders get it wrong); the end marker is what counts.
            self._u32("ECMA array count")
            return self._properties(EcmaArray(), depth)
        if marker == TYPED_OBJECT:
            self._short_string("typed object class name")
            return self._properties(dict(), depth)
        if marker == STRICT_ARRAY:
            return self._strict_array(depth)
        if marker == LONG_STRING:
            return self._utf8(self._u32("long string length"), "long string")
        if marker == XML_DOCUMENT:
            return self._utf8(self._u32("XML document length"), "XML document")
        if marker == DATE:
            return self._date()
        if marker == OBJECT_END:
            raise Amf0DecodeError(f"unexpected AMF0 object-end marker at offset {self.pos - 1}")
        if marker == REFERENCE:
            raise Amf0DecodeError("AMF0 references are not supported")
        if marker == AVMPLUS:
            raise Amf0DecodeError("AMF3 values (AVM+ marker) are not supported")
        raise Amf0DecodeError(f"unknown AMF0 type marker 0x{marker:02x} at offset {self.pos - 1}")

    def _check_depth(self, depth: int) -> None:
        if depth >= MAX_DEPTH:
            raise Amf0DecodeError(f"AMF0 value nested deeper than {MAX_DEPTH} levels")

    def _properties(self, out: dict[str, object], depth: int) -> dict[str, object]:
        self._check_depth(depth)
        data = self.data
        while True:
            key = self._short_string("property name")
            if not key:
                # An empty name followed by the object-end marker closes the object.
                if self.pos < self.end and data[self.pos] == OBJECT_END:
                    self.pos += 1
                    return out
                if self.pos >= self.end:
                    raise Amf0DecodeError("truncated AMF0 object: missing object-end marker")
            out[key] = self.value(depth + 1)

    def _strict_array(self, depth: int) -> list[object]:
        self._check_depth(depth)
        count = self._u32("strict array count")
        # Every element takes at least one byte: refuse impossible counts before looping.
        if count > self.end - self.pos:
            raise Amf0DecodeError(
                f"truncated AMF0 strict array: {count} elements announced, "
                f"{self.end - self.pos} bytes left"
            )
        return [self.value(depth + 1) for _ in range(count)]

    def _date(self) -> datetime:
        ms, _tz = _DATE.unpack_from(self.data, self._need(10, "date"))
        try:
            return _EPOCH + timedelta(milliseconds=ms)
        except (OverflowError, ValueError) as exc:
            raise Amf0DecodeError(f"AMF0 date {ms!r} ms is out of range") from exc


def decode(data: Buffer, offset: int = 0, *, max_values: int = MAX_VALUES) -> tuple[object, int]:
    """Decode one AMF0 value starting at ``offset``; return it and the offset after it.

    A value made of more than ``max_values`` values (nested ones included) is refused.
    """
    dec = _Decoder(data, max_values)
    if not 0 <= offset <= dec.end:
        raise Amf0DecodeError(f"offset {offset} outside the {dec.end}-byte input")
    dec.pos = offset
    return dec.value(0), dec.pos


def decode_all(data: Buffer, *, max_values: int = MAX_VALUES) -> list[object]:
    """Decode every AMF0 value in ``data`` (an RTMP command or data message body).

    More than ``max_values`` values in all (nested ones included) are refused.
    """
    dec = _Decoder(data, max_values)
    values: list[object] = []
    while dec.pos < dec.end:
        values.append(dec.value(0))
    return values


# --------------------------------------------------------------------------------------
# Encoding

_NULL_BYTES = bytes([NULL])
_UNDEFINED_BYTES = bytes([UNDEFINED_MARKER])
_TRUE = bytes([BOOLEAN, 1])
_FALSE = bytes([BOOLEAN, 0])
_END = b"\x00\x00" + bytes([OBJECT_END])


def _encode_key(out: bytearray, key: object) -> None:
    if not isinstance(key, str):
        raise TypeError(f"AMF0 property names must be str, not {type(key).__name__}")
    raw = key.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise ValueError("AMF0 property name longer than 65535 bytes")
    out += _U16.pack(len(raw))
    out += raw


def _check_encode_depth(depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise ValueError(f"value nested deeper than {MAX_DEPTH} levels")


def _encode_value(out: bytearray, value: object, depth: int) -> None:
    if value is None:
        out += _NULL_BYTES
    elif value is UNDEFINED:
        out += _UNDEFINED_BYTES
    elif isinstance(value, bool):  # before int: bool is an int subclass
        out += _TRUE if value else _FALSE
    elif isinstance(value, int | float):
        out.append(NUMBER)
        out += _F64.pack(float(value))
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        if len(raw) <= 0xFFFF:
            out.append(STRING)
            out += _U16.pack(len(raw))
        else:
            out.append(LONG_STRING)
            out += _U32.pack(len(raw))
        out += raw
    elif isinstance(value, Mapping):
        _check_encode_depth(depth)
        if isinstance(value, EcmaArray):
            out.append(ECMA_ARRAY)
            out += _U32.pack(len(value))
        else:
            out.append(OBJECT)
        for key, item in value.items():
            _encode_key(out, key)
            _encode_value(out, item, depth + 1)
        out += _END
    elif isinstance(value, list | tuple):
        _check_encode_depth(depth)
        out.append(STRICT_ARRAY)
        out += _U32.pack(len(value))
        for item in value:
            _encode_value(out, item, depth + 1)
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # naive datetimes are taken as UTC
        ms = (value - _EPOCH) / timedelta(milliseconds=1)
        out.append(DATE)
        out += _DATE.pack(ms, 0)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as AMF0")


def encode(*values: object) -> bytes:
    """Encode ``values`` back to back, as in the body of an RTMP command message."""
    out = bytearray()
    for value in values:
        _encode_value(out, value, 0)
    return bytes(out)
