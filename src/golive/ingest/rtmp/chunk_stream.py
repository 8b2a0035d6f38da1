"""RTMP chunk stream (Adobe RTMP specification 1.0, section 5.3), sans-I/O.

:class:`ChunkStreamReader` is fed the bytes that follow the handshake and returns complete
messages; :class:`ChunkStreamWriter` turns outgoing messages into chunks.

The reader sits on the hot path of every publisher, so it works on the ``bytes`` objects it
is fed without first copying them into a buffer: chunk payloads are kept as ``memoryview``
slices of those objects and joined once when their message is complete, so a payload is
copied exactly once. Runs of continuation chunks (format 3) of one message, which is what a
large video frame is, are located and sliced with C-level operations (extended slicing,
``map``) rather than one Python iteration per chunk, so even the default 128-byte chunks
stay cheap.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MSG_ABORT",
    "MSG_ACKNOWLEDGEMENT",
    "MSG_AGGREGATE",
    "MSG_AMF0_COMMAND",
    "MSG_AMF0_DATA",
    "MSG_AMF3_COMMAND",
    "MSG_AMF3_DATA",
    "MSG_AUDIO",
    "MSG_SET_CHUNK_SIZE",
    "MSG_SET_PEER_BANDWIDTH",
    "MSG_USER_CONTROL",
    "MSG_VIDEO",
    "MSG_WINDOW_ACK_SIZE",
    "ChunkStreamReader",
    "ChunkStreamWriter",
    "RtmpMessage",
    "RtmpProtocolError",
]

DEFAULT_CHUNK_SIZE = 128  # both directions start with it (spec 5.4.1)

MSG_SET_CHUNK_SIZE = 1
MSG_ABORT = 2
MSG_ACKNOWLEDGEMENT = 3
MSG_USER_CONTROL = 4
MSG_WINDOW_ACK_SIZE = 5
MSG_SET_PEER_BANDWIDTH = 6
MSG_AUDIO = 8
MSG_VIDEO = 9
MSG_AMF3_DATA = 15
MSG_AMF3_COMMAND = 17
MSG_AMF0_DATA = 18
MSG_AMF0_COMMAND = 20
MSG_AGGREGATE = 22

# Message types whose size the media limit governs; everything else is a command, data or
# control message and gets the (much smaller) command limit.
_MEDIA_TYPES = frozenset((MSG_AUDIO, MSG_VIDEO, MSG_AGGREGATE))

_TS_MASK = 0xFFFFFFFF
_EXTENDED = 0xFFFFFF  # a 24-bit timestamp field of this value means "see extended timestamp"
_MAX_HEADER = 3 + 11 + 4  # basic header + type-0 message header + extended timestamp
# An in-progress message keeps a view of the fed bytes object only if it took at least this
# fraction of it; otherwise its part is copied, so that a peer cannot pin many large read
# buffers with a few payload bytes each (memory stays proportional to the limits).
_RETAIN_DIVISOR = 4

_U32 = struct.Struct(">I")
_U32LE = struct.Struct("<I")
_FMT0 = struct.Struct(">HBHBB")  # timestamp (16+8 bits), length (16+8 bits), type id
_FMT1 = _FMT0
_U24 = struct.Struct(">HB")


class RtmpProtocolError(Exception):
    """The peer broke the RTMP protocol or a configured limit; the connection must end."""


@dataclass(slots=True)
class RtmpMessage:
    """One complete RTMP message as reassembled from its chunks."""

    type_id: int
    stream_id: int
    timestamp: int  # absolute, uint32 milliseconds (wraps after ~49.7 days)
    payload: bytes
    chunk_stream_id: int = 0


class _ChunkStream:
    """What the reader remembers about one chunk stream id between chunks."""

    __slots__ = (
        "csid",
        "delta",
        "ext",
        "fmt3",
        "length",
        "mark",
        "mark_bytes",
        "mark_index",
        "msg_timestamp",
        "pieces",
        "remaining",
        "stream_id",
        "timestamp",
        "type_id",
    )

    def __init__(self, csid: int) -> None:
        self.csid = csid
        self.timestamp = 0
        self.delta = 0
        self.length = 0
        self.type_id = 0
        self.stream_id = 0
        self.ext = False  # did the last type 0/1/2 header carry an extended timestamp?
        self.remaining = 0  # payload bytes still expected for the message in progress
        self.msg_timestamp = 0
        self.pieces: list[bytes | memoryview] = []
        # Which feed() call the newest pieces come from, where they start, how many bytes.
        self.mark = -1
        self.mark_index = 0
        self.mark_bytes = 0
        self.fmt3 = _basic_header(3, csid)


def _basic_header(fmt: int, csid: int) -> bytes:
    if 2 <= csid <= 63:
        return bytes([(fmt << 6) | csid])
    if 64 <= csid <= 319:
        return bytes([fmt << 6, csid - 64])
    if 320 <= csid <= 65599:
        return bytes([(fmt << 6) | 1, (csid - 64) & 0xFF, (csid - 64) >> 8])
    raise ValueError(f"chunk stream id {csid} outside 2..65599")


class ChunkStreamReader:
    """Reassembles RTMP messages from the chunk stream a peer sends (sans-I/O).

    Feed it bytes with :meth:`feed`; it returns the messages completed by them. Set Chunk
    Size and Abort messages are applied here and not returned. Limits bound memory: at most
    ``max_chunk_streams`` chunk streams, each holding at most one partial message, and all
    partial messages together announcing at most ``max_pending_size`` bytes (default: twice
    the largest message allowed, room for a maximal video message with audio interleaved).

    Audio, video and aggregate messages may be up to ``max_message_size`` bytes; every
    other type (commands, metadata, control) up to ``max_command_size`` bytes (default:
    ``max_message_size``). Both are checked at the chunk header that announces a message,
    before any of its body is buffered. ``max_message_size`` may be changed between feeds
    (the session keeps it small until a publish is accepted).

    Two limits bound the work an unauthenticated peer can cause, since the cost of reading
    grows with the number of chunks and messages, not bytes: Set Chunk Size below
    ``min_chunk_size`` is refused, and once ``max_messages`` (if not None; it may be changed
    between feeds) messages have been completed the next one is a protocol error.
    """

    def __init__(
        self,
        *,
        max_message_size: int = 16 * 1024 * 1024,
        max_command_size: int | None = None,
        max_chunk_size: int = 1024 * 1024,
        min_chunk_size: int = 1,
        max_chunk_streams: int = 64,
        max_pending_size: int | None = None,
        max_messages: int | None = None,
    ) -> None:
        self.max_message_size = max_message_size
        self.max_command_size = max_message_size if max_command_size is None else max_command_size
        self.max_chunk_size = max_chunk_size
        self.min_chunk_size = min_chunk_size
        self.max_messages = max_messages
        self.messages = 0  # messages completed so far, Set Chunk Size and Abort included
        self.max_chunk_streams = max_chunk_streams
        self._max_pending_size = max_pending_size
        self._pending = 0  # announced lengths of the messages in progress
        self._chunk_size = DEFAULT_CHUNK_SIZE
        self._streams: dict[int, _ChunkStream] = {}
        self._cur: _ChunkStream | None = None  # chunk stream whose chunk payload is being read
        self._chunk_left = 0  # payload bytes of the current chunk not yet received
        self._head = b""  # an incomplete chunk header carried over to the next feed()
        self._feeds = 0

    @property
    def max_pending_size(self) -> int:
        """Bytes all incomplete messages together may announce."""
        if self._max_pending_size is not None:
            return self._max_pending_size
        return 2 * max(self.max_message_size, self.max_command_size)

    @property
    def chunk_size(self) -> int:
        """The peer's current outgoing chunk size (changed by its Set Chunk Size)."""
        return self._chunk_size

    @property
    def buffered_bytes(self) -> int:
        """Payload bytes held for incomplete messages (for tests and accounting)."""
        return sum(st.length - st.remaining for st in self._streams.values() if st.remaining)

    def feed(self, data: bytes) -> list[RtmpMessage]:
        """Consume ``data`` and return the messages it completes, in arrival order."""
        if not isinstance(data, bytes):
            data = bytes(data)  # we keep views into it: it must not change under us
        out: list[RtmpMessage] = []
        end = len(data)
        self._feeds += 1
        pos = 0
        if self._head:
            head = self._head
            joined = head + data[:_MAX_HEADER]
            p = self._header(joined, 0, len(joined), out)
            if p < 0:
                self._head = joined
                return out
            self._head = b""
            pos = p - len(head)
        mv = memoryview(data)
        touched: list[_ChunkStream] = []
        try:
            while True:
                cur = self._cur
                if cur is not None:
                    left = self._chunk_left
                    avail = end - pos
                    if avail < left:
                        if avail:
                            self._take(cur, mv[pos:end], avail, touched)
                            cur.remaining -= avail
                            self._chunk_left = left - avail
                        pos = end
                        break
                    self._take(cur, mv[pos : pos + left], left, touched)
                    pos += left
                    cur.remaining -= left
                    self._cur = None
                    if cur.remaining == 0:
                        self._complete(cur, out)
                    else:
                        pos = self._continuation_run(cur, data, mv, pos, end, out)
                if pos >= end:
                    break
                p = self._header(data, pos, end, out)
                if p < 0:
                    self._head = data[pos:end]
                    break
                pos = p
        finally:
            self._release(touched, end)
        return out

    def _take(
        self, st: _ChunkStream, piece: memoryview, n: int, touched: list[_ChunkStream]
    ) -> None:
        if st.mark != self._feeds:
            st.mark = self._feeds
            st.mark_index = len(st.pieces)
            st.mark_bytes = 0
            touched.append(st)
        st.pieces.append(piece)
        st.mark_bytes += n

    def _release(self, touched: list[_ChunkStream], fed: int) -> None:
        # Messages still incomplete hold views of this feed's bytes object; copy the small
        # ones out so the object can be freed (see _RETAIN_DIVISOR).
        for st in touched:
            if st.remaining and st.mark_bytes * _RETAIN_DIVISOR < fed and st.pieces:
                i = st.mark_index
                st.pieces[i:] = [b"".join(st.pieces[i:])]

    def _continuation_run(
        self,
        st: _ChunkStream,
        data: bytes,
        mv: memoryview,
        pos: int,
        end: int,
        out: list[RtmpMessage],
    ) -> int:
        """Take the full type-3 chunks of ``st``'s message that follow at ``pos`` in bulk."""
        cs = self._chunk_size
        hb = st.fmt3
        hlen = len(hb) + (4 if st.ext else 0)
        stride = hlen + cs
        k = min(st.remaining // cs, (end - pos) // stride)
        if k < 2:
            return pos  # nothing to gain over the general path
        # The basic header bytes of the next k chunks, gathered with extended slicing; the
        # run ends at the first chunk that belongs to another chunk stream.
        for i, byte in enumerate(hb):
            col = data[pos + i : pos + k * stride : stride]
            if col.count(byte) != k:
                k = len(col) - len(col.lstrip(hb[i : i + 1]))
                if k == 0:
                    return pos
        start = pos + hlen
        stop = pos + k * stride
        pieces = list(
            map(
                mv.__getitem__,
                map(slice, range(start, stop, stride), range(start + cs, stop + cs, stride)),
            )
        )
        # _take() has just marked st for this feed, so the retention accounting holds.
        st.pieces.extend(pieces)
        st.mark_bytes += k * cs
        st.remaining -= k * cs
        if st.remaining == 0:
            self._complete(st, out)
        return stop

    def _header(self, buf: bytes, pos: int, end: int, out: list[RtmpMessage]) -> int:
        """Parse one chunk header at ``pos``; return the payload offset, or -1 if incomplete.

        Nothing is changed unless the whole header is present.
        """
        b0 = buf[pos]  # callers guarantee pos < end
        fmt = b0 >> 6
        csid = b0 & 0x3F
        p = pos + 1
        if csid == 0:
            if p + 1 > end:
                return -1
            csid = buf[p] + 64
            p += 1
        elif csid == 1:
            if p + 2 > end:
                return -1
            csid = buf[p] + (buf[p + 1] << 8) + 64
            p += 2
        st = self._streams.get(csid)
        if fmt == 3:
            if st is None:
                raise RtmpProtocolError(
                    f"type 3 chunk header on chunk stream {csid}, which no type 0 header opened"
                )
            if st.ext:
                # The extended timestamp is repeated in type 3 chunks; its value adds nothing.
                if p + 4 > end:
                    return -1
                p += 4
            if st.remaining == 0:
                st.timestamp = (st.timestamp + st.delta) & _TS_MASK
                self._start(st)
        else:
            if fmt == 0:
                if p + 11 > end:
                    return -1
                t_hi, t_lo, l_hi, l_lo, type_id = _FMT0.unpack_from(buf, p)
                (stream_id,) = _U32LE.unpack_from(buf, p + 7)
                p += 11
            elif fmt == 1:
                if p + 7 > end:
                    return -1
                t_hi, t_lo, l_hi, l_lo, type_id = _FMT1.unpack_from(buf, p)
                p += 7
            else:
                if p + 3 > end:
                    return -1
                t_hi, t_lo = _U24.unpack_from(buf, p)
                p += 3
            ts = (t_hi << 8) | t_lo
            ext = ts == _EXTENDED
            if ext:
                if p + 4 > end:
                    return -1
                (ts,) = _U32.unpack_from(buf, p)
                p += 4
            # The whole header is here: from now on state may change.
            if st is None:
                if fmt != 0:
                    raise RtmpProtocolError(
                        f"type {fmt} chunk header on chunk stream {csid}, "
                        "which no type 0 header opened"
                    )
                if len(self._streams) >= self.max_chunk_streams:
                    raise RtmpProtocolError(
                        f"more than {self.max_chunk_streams} chunk streams in use"
                    )
                st = self._streams[csid] = _ChunkStream(csid)
            if st.remaining:
                raise RtmpProtocolError(
                    f"type {fmt} chunk header on chunk stream {csid} while its message "
                    f"still lacks {st.remaining} of {st.length} bytes"
                )
            if fmt <= 1:
                length = (l_hi << 8) | l_lo
                media = type_id in _MEDIA_TYPES
                limit = self.max_message_size if media else self.max_command_size
                if length > limit:
                    kind = "media" if media else "command/data/control"
                    raise RtmpProtocolError(
                        f"message of {length} bytes (type {type_id}) on chunk stream {csid} "
                        f"exceeds the {limit}-byte limit for {kind} messages"
                    )
                st.length = length
                st.type_id = type_id
            if fmt == 0:
                st.stream_id = stream_id
                st.timestamp = ts
            else:
                st.timestamp = (st.timestamp + ts) & _TS_MASK
            # After a type 0 header the delta a following type 3 header implies is the
            # type 0 timestamp itself (spec 5.3.1.2.4).
            st.delta = ts
            st.ext = ext
            self._start(st)
        if st.remaining == 0:
            self._complete(st, out)  # zero-length message: nothing follows the header
        else:
            self._cur = st
            self._chunk_left = min(self._chunk_size, st.remaining)
        return p

    def _start(self, st: _ChunkStream) -> None:
        length = st.length
        # Reserve the whole announced length now, so that a peer cannot grow many partial
        # messages at once past the limit, and the check costs nothing per chunk.
        pending = self._pending + length
        if pending > self.max_pending_size:
            raise RtmpProtocolError(
                f"a {length}-byte message on chunk stream {st.csid} would put "
                f"{pending} bytes in incomplete messages (limit {self.max_pending_size})"
            )
        self._pending = pending
        st.remaining = length
        st.msg_timestamp = st.timestamp

    def _complete(self, st: _ChunkStream, out: list[RtmpMessage]) -> None:
        pieces = st.pieces
        payload = bytes(pieces[0]) if len(pieces) == 1 else b"".join(pieces)
        st.pieces = []
        st.mark = -1
        self._pending -= st.length
        self.messages += 1
        if self.max_messages is not None and self.messages > self.max_messages:
            raise RtmpProtocolError(f"more than {self.max_messages} messages before publish")
        type_id = st.type_id
        if type_id == MSG_SET_CHUNK_SIZE:
            self._set_chunk_size(payload)
        elif type_id == MSG_ABORT:
            self._abort(payload)
        else:
            out.append(RtmpMessage(type_id, st.stream_id, st.msg_timestamp, payload, st.csid))

    def _set_chunk_size(self, payload: bytes) -> None:
        if len(payload) < 4:
            raise RtmpProtocolError(f"Set Chunk Size message of {len(payload)} bytes, expected 4")
        (size,) = _U32.unpack_from(payload)
        if size & 0x80000000:
            raise RtmpProtocolError(f"Set Chunk Size 0x{size:08x} has the reserved top bit set")
        if size == 0:
            raise RtmpProtocolError("Set Chunk Size 0")
        if size < self.min_chunk_size:
            raise RtmpProtocolError(
                f"Set Chunk Size {size} is below the {self.min_chunk_size}-byte minimum"
            )
        if size > self.max_chunk_size:
            raise RtmpProtocolError(
                f"Set Chunk Size {size} exceeds the {self.max_chunk_size}-byte limit"
            )
        self._chunk_size = size

    def _abort(self, payload: bytes) -> None:
        if len(payload) < 4:
            raise RtmpProtocolError(f"Abort message of {len(payload)} bytes, expected 4")
        (csid,) = _U32.unpack_from(payload)
        st = self._streams.get(csid)
        if st is not None and st.remaining:
            self._pending -= st.length
            st.remaining = 0
            st.pieces = []
            st.mark = -1


class ChunkStreamWriter:
    """Serialises outgoing messages into chunks at the current outgoing chunk size.

    Every message starts with a type 0 header: the server sends few messages, so header
    compression would save nothing worth its state.
    """

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self._chunk_size = DEFAULT_CHUNK_SIZE
        self.chunk_size = chunk_size

    @property
    def chunk_size(self) -> int:
        """Outgoing chunk size; change it only right after sending Set Chunk Size."""
        return self._chunk_size

    @chunk_size.setter
    def chunk_size(self, size: int) -> None:
        if not 1 <= size <= 0x7FFFFFFF:
            raise ValueError(f"chunk size {size} outside 1..2147483647")
        self._chunk_size = size

    def write(
        self, csid: int, type_id: int, stream_id: int, timestamp: int, payload: bytes
    ) -> bytes:
        """Return the chunks carrying one message."""
        timestamp &= _TS_MASK
        length = len(payload)
        if length > 0xFFFFFF:
            raise ValueError(f"message of {length} bytes does not fit the 24-bit length field")
        ext = timestamp >= _EXTENDED
        ext_bytes = _U32.pack(timestamp) if ext else b""
        parts = [
            _basic_header(0, csid),
            (_EXTENDED if ext else timestamp).to_bytes(3, "big"),
            length.to_bytes(3, "big"),
            bytes([type_id]),
            _U32LE.pack(stream_id),
            ext_bytes,
        ]
        cs = self._chunk_size
        parts.append(payload[:cs])
        if length > cs:
            cont = _basic_header(3, csid) + ext_bytes
            for off in range(cs, length, cs):
                parts.append(cont)
                parts.append(payload[off : off + cs])
        return b"".join(parts)
