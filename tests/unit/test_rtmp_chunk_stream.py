"""Chunk stream reader/writer against hand-built chunks (RTMP spec 5.3) and random streams."""

from __future__ import annotations

import contextlib
import itertools
import struct
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.ingest.rtmp.chunk_stream import (
    ChunkStreamReader,
    ChunkStreamWriter,
    RtmpMessage,
    RtmpProtocolError,
)

# -- an independent chunk encoder for the tests ---------------------------------------------


def basic(fmt: int, csid: int) -> bytes:
    if csid < 64:
        return bytes([fmt << 6 | csid])
    if csid < 320:
        return bytes([fmt << 6, csid - 64])
    return bytes([fmt << 6 | 1]) + (csid - 64).to_bytes(2, "little")


def _ts_field(ts: int) -> tuple[bytes, bytes]:
    if ts >= 0xFFFFFF:
        return b"\xff\xff\xff", ts.to_bytes(4, "big")
    return ts.to_bytes(3, "big"), b""


def fmt0(csid: int, ts: int, length: int, type_id: int, msid: int) -> bytes:
    field, ext = _ts_field(ts)
    return (
        basic(0, csid)
        + field
        + length.to_bytes(3, "big")
        + bytes([type_id])
        + msid.to_bytes(4, "little")
        + ext
    )


def fmt1(csid: int, delta: int, length: int, type_id: int) -> bytes:
    field, ext = _ts_field(delta)
    return basic(1, csid) + field + length.to_bytes(3, "big") + bytes([type_id]) + ext


def fmt2(csid: int, delta: int) -> bytes:
    field, ext = _ts_field(delta)
    return basic(2, csid) + field + ext


def fmt3(csid: int, ext: int | None = None) -> bytes:
    return basic(3, csid) + (b"" if ext is None else ext.to_bytes(4, "big"))


def set_chunk_size(size: int) -> bytes:
    return fmt0(2, 0, 4, 1, 0) + size.to_bytes(4, "big")


def feed_all(reader: ChunkStreamReader, data: bytes, step: int | None = None) -> list[RtmpMessage]:
    if step is None:
        return reader.feed(data)
    out: list[RtmpMessage] = []
    for i in range(0, len(data), step):
        out += reader.feed(data[i : i + step])
    return out


def summary(messages: list[RtmpMessage]) -> list[tuple[int, int, int, bytes]]:
    return [(m.type_id, m.stream_id, m.timestamp, m.payload) for m in messages]


# -- spec examples ----------------------------------------------------------------------


def test_spec_example_1_audio_with_type_2_and_3_headers() -> None:
    # Spec 5.3.2.1: four 32-byte audio messages 20 ms apart.
    p = [bytes([i]) * 32 for i in range(4)]
    data = fmt0(3, 1000, 32, 8, 12345) + p[0] + fmt2(3, 20) + p[1] + fmt3(3) + p[2] + fmt3(3) + p[3]
    for step in (None, 1, 5, 33):
        msgs = feed_all(ChunkStreamReader(), data, step)
        assert summary(msgs) == [(8, 12345, 1000 + 20 * i, p[i]) for i in range(4)]
        assert all(m.chunk_stream_id == 3 for m in msgs)


def test_spec_example_2_message_split_into_chunks() -> None:
    # Spec 5.3.2.2: a 307-byte video message in 128-byte chunks.
    payload = bytes(range(256)) + bytes(51)
    data = (
        fmt0(4, 1000, 307, 9, 12346)
        + payload[:128]
        + fmt3(4)
        + payload[128:256]
        + fmt3(4)
        + payload[256:]
    )
    for step in (None, 1, 2, 3, 100, 129, 130):
        assert summary(feed_all(ChunkStreamReader(), data, step)) == [(9, 12346, 1000, payload)]


def test_type_1_header_changes_length_and_type() -> None:
    data = fmt0(5, 100, 3, 9, 1) + b"abc" + fmt1(5, 40, 2, 8) + b"de" + fmt3(5) + b"fg"
    assert summary(ChunkStreamReader().feed(data)) == [
        (9, 1, 100, b"abc"),
        (8, 1, 140, b"de"),
        (8, 1, 180, b"fg"),
    ]


def test_type_3_after_type_0_reuses_its_timestamp_as_delta() -> None:
    # Spec 5.3.1.2.4: a type 3 chunk that follows a type 0 chunk has a delta equal to the
    # type 0 chunk's timestamp.
    data = fmt0(6, 33, 1, 9, 1) + b"a" + fmt3(6) + b"b" + fmt3(6) + b"c"
    assert [m.timestamp for m in ChunkStreamReader().feed(data)] == [33, 66, 99]


def test_zero_length_message() -> None:
    data = fmt0(3, 5, 0, 20, 0) + fmt0(3, 6, 1, 20, 0) + b"x"
    assert summary(ChunkStreamReader().feed(data)) == [(20, 0, 5, b""), (20, 0, 6, b"x")]


@pytest.mark.parametrize("csid", [2, 63, 64, 65, 319, 320, 321, 1000, 65599])
def test_basic_header_sizes(csid: int) -> None:
    payload = bytes(300)
    data = fmt0(csid, 7, 300, 9, 1) + payload[:128] + fmt3(csid) + payload[128:256]
    data += fmt3(csid) + payload[256:]
    for step in (None, 1, 2):
        (msg,) = feed_all(ChunkStreamReader(), data, step)
        assert (msg.chunk_stream_id, msg.payload) == (csid, payload)


def test_interleaved_chunk_streams() -> None:
    video = bytes(range(200)) * 2  # 400 bytes: 4 chunks
    audio = b"A" * 150  # 2 chunks
    data = (
        fmt0(6, 0, 400, 9, 1)
        + video[:128]
        + fmt0(4, 0, 150, 8, 1)
        + audio[:128]
        + fmt3(6)
        + video[128:256]
        + fmt3(4)
        + audio[128:]
        + fmt3(6)
        + video[256:384]
        + fmt3(6)
        + video[384:]
    )
    for step in (None, 1, 7, 129, 500):
        assert summary(feed_all(ChunkStreamReader(), data, step)) == [
            (8, 1, 0, audio),
            (9, 1, 0, video),
        ]


# -- extended timestamps --------------------------------------------------------------------


def test_extended_timestamp_type_0_repeated_in_type_3_chunks() -> None:
    ts = 0x01234567
    payload = bytes(range(200))
    data = fmt0(6, ts, 200, 9, 1) + payload[:128] + fmt3(6, ext=ts) + payload[128:]
    for step in (None, 1, 3):
        assert summary(feed_all(ChunkStreamReader(), data, step)) == [(9, 1, ts, payload)]


def test_extended_timestamp_exactly_0xffffff() -> None:
    data = fmt0(6, 0xFFFFFF, 1, 9, 1) + b"x"
    assert data[1:4] == b"\xff\xff\xff"
    assert ChunkStreamReader().feed(data)[0].timestamp == 0xFFFFFF


def test_extended_delta_in_type_1_and_2_and_following_type_3() -> None:
    delta = 0x01000000
    data = (
        fmt0(6, 10, 1, 9, 1)
        + b"a"
        + fmt1(6, delta, 1, 9)
        + b"b"
        + fmt3(6, ext=delta)  # a new message: the extended delta applies again
        + b"c"
        + fmt2(6, 5)  # no extension any more: type 3 chunks carry none
        + b"d"
        + fmt3(6)
        + b"e"
    )
    ts = [m.timestamp for m in ChunkStreamReader().feed(data)]
    assert ts == [10, 10 + delta, 10 + 2 * delta, 15 + 2 * delta, 20 + 2 * delta]


def test_timestamp_wraps_at_32_bits() -> None:
    data = fmt0(6, 0xFFFFFFF0, 1, 9, 1) + b"a" + fmt2(6, 0x20) + b"b"
    assert [m.timestamp for m in ChunkStreamReader().feed(data)] == [0xFFFFFFF0, 0x10]


# -- protocol control handled by the reader -----------------------------------------------


def test_set_chunk_size_applies_to_following_chunks() -> None:
    payload = bytes(range(256)) * 20  # 5120 bytes
    data = set_chunk_size(4096) + fmt0(6, 0, 5120, 9, 1) + payload[:4096] + fmt3(6)
    data += payload[4096:]
    reader = ChunkStreamReader()
    for step in (None, 1000):
        reader = ChunkStreamReader()
        assert summary(feed_all(reader, data, step)) == [(9, 1, 0, payload)]
        assert reader.chunk_size == 4096


def test_set_chunk_size_mid_message_applies_to_its_next_chunks() -> None:
    payload = bytes(range(200))
    data = (
        fmt0(6, 0, 200, 9, 1)
        + payload[:128]
        + set_chunk_size(10)
        + fmt3(6)
        + payload[128:138]
        + fmt3(6)
        + payload[138:148]
    )
    for i in range(148, 200, 10):
        data += fmt3(6) + payload[i : i + 10]
    assert ChunkStreamReader().feed(data)[0].payload == payload


def test_abort_discards_the_partial_message() -> None:
    data = (
        fmt0(6, 0, 200, 9, 1)
        + bytes(128)
        + fmt0(2, 0, 4, 2, 0)
        + (6).to_bytes(4, "big")  # Abort chunk stream 6
        + fmt3(6)  # a new message with the same header
        + b"n" * 128
        + fmt3(6)
        + b"m" * 72
    )
    reader = ChunkStreamReader()
    (msg,) = reader.feed(data)
    assert msg.payload == b"n" * 128 + b"m" * 72
    assert reader.buffered_bytes == 0


def test_control_messages_are_passed_on_except_chunk_size_and_abort() -> None:
    data = fmt0(2, 0, 4, 5, 0) + (2_500_000).to_bytes(4, "big")
    (msg,) = ChunkStreamReader().feed(data)
    assert (msg.type_id, msg.payload) == (5, (2_500_000).to_bytes(4, "big"))


# -- errors and limits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (fmt1(9, 0, 1, 9), "type 1 chunk header on chunk stream 9, which no type 0"),
        (fmt2(9, 0), "type 2 chunk header on chunk stream 9, which no type 0"),
        (fmt3(9), "type 3 chunk header on chunk stream 9, which no type 0"),
        (fmt3(400), "chunk stream 400, which no type 0"),
    ],
)
def test_header_on_unopened_chunk_stream(header: bytes, message: str) -> None:
    with pytest.raises(RtmpProtocolError, match=message):
        ChunkStreamReader().feed(header + b"x")


def test_message_larger_than_limit() -> None:
    reader = ChunkStreamReader(max_message_size=1000)
    reader.feed(fmt0(6, 0, 1000, 9, 1) + bytes(128))  # exactly the limit is fine
    with pytest.raises(RtmpProtocolError, match=r"1001 bytes \(type 9\) on chunk stream 7 exceeds"):
        ChunkStreamReader(max_message_size=1000).feed(fmt0(7, 0, 1001, 9, 1))
    reader = ChunkStreamReader(max_message_size=1000)
    reader.feed(fmt0(7, 0, 10, 9, 1) + bytes(10))
    with pytest.raises(RtmpProtocolError, match="exceeds"):
        reader.feed(fmt1(7, 0, 5000, 9))


@pytest.mark.parametrize("type_id", [1, 4, 5, 15, 17, 18, 20])
def test_command_data_and_control_messages_have_their_own_limit(type_id: int) -> None:
    reader = ChunkStreamReader(max_message_size=1 << 20, max_command_size=1000)
    # The refusal comes from the header alone: no byte of the body is needed or kept.
    with pytest.raises(RtmpProtocolError, match="exceeds the 1000-byte limit for command"):
        reader.feed(fmt0(3, 0, 16 * 1024 * 1024 - 1, type_id, 0))
    assert reader.buffered_bytes == 0
    # A type 1 header cannot turn a small media message into a large command either.
    reader = ChunkStreamReader(max_message_size=1 << 20, max_command_size=1000)
    reader.feed(fmt0(6, 0, 5000, 9, 1) + bytes(128))
    reader = ChunkStreamReader(max_message_size=1 << 20, max_command_size=1000)
    reader.feed(fmt0(6, 0, 10, 9, 1) + bytes(10))
    with pytest.raises(RtmpProtocolError, match="limit for command"):
        reader.feed(fmt1(6, 0, 5000, type_id))


@pytest.mark.parametrize("type_id", [8, 9, 22])
def test_media_messages_get_the_media_limit(type_id: int) -> None:
    reader = ChunkStreamReader(max_message_size=1 << 20, max_command_size=1000)
    reader.feed(fmt0(6, 0, 1 << 20, type_id, 1) + bytes(128))
    reader.max_message_size = 1000  # changed between feeds: the next message sees it
    reader = ChunkStreamReader(max_message_size=1000, max_command_size=1000)
    with pytest.raises(RtmpProtocolError, match="limit for media"):
        reader.feed(fmt0(6, 0, 1001, type_id, 1))
    assert reader.max_pending_size == 2000


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (0, "Set Chunk Size 0"),
        (0x80000000 | 4096, "reserved top bit"),
        (1024 * 1024 + 1, "exceeds the 1048576-byte limit"),
    ],
)
def test_bad_set_chunk_size(size: int, message: str) -> None:
    with pytest.raises(RtmpProtocolError, match=message):
        ChunkStreamReader().feed(set_chunk_size(size))


def test_short_control_payloads() -> None:
    with pytest.raises(RtmpProtocolError, match="Set Chunk Size message of 2 bytes"):
        ChunkStreamReader().feed(fmt0(2, 0, 2, 1, 0) + b"\0\1")
    with pytest.raises(RtmpProtocolError, match="Abort message of 1 bytes"):
        ChunkStreamReader().feed(fmt0(2, 0, 1, 2, 0) + b"\0")


def test_max_chunk_size_accepted() -> None:
    reader = ChunkStreamReader(max_chunk_size=65536)
    reader.feed(set_chunk_size(65536))
    assert reader.chunk_size == 65536


def test_too_many_chunk_streams() -> None:
    reader = ChunkStreamReader(max_chunk_streams=3)
    reader.feed(b"".join(fmt0(c, 0, 1, 9, 1) + b"x" for c in (3, 4, 5)))
    reader.feed(fmt0(3, 0, 1, 9, 1) + b"x")  # reusing one is fine
    with pytest.raises(RtmpProtocolError, match="more than 3 chunk streams"):
        reader.feed(fmt0(6, 0, 1, 9, 1) + b"x")


def test_incomplete_messages_are_bounded_together() -> None:
    reader = ChunkStreamReader(max_message_size=1000)  # default: 2000 bytes in progress
    reader.feed(fmt0(4, 0, 1000, 9, 1) + bytes(128))
    reader.feed(fmt0(5, 0, 1000, 9, 1) + bytes(128))
    with pytest.raises(RtmpProtocolError, match="2001 bytes in incomplete messages"):
        reader.feed(fmt0(6, 0, 1, 9, 1))
    # Completed and aborted messages give their reservation back.
    reader = ChunkStreamReader(max_message_size=1000, max_pending_size=1500)
    reader.feed(fmt0(4, 0, 1000, 9, 1) + bytes(128))
    reader.feed(fmt0(2, 0, 4, 2, 0) + (4).to_bytes(4, "big"))
    reader.feed(fmt0(5, 0, 1000, 9, 1) + bytes(128))
    for _ in range(6):
        assert reader.feed(fmt3(5) + bytes(128)) == []
    assert [m.type_id for m in reader.feed(fmt3(5) + bytes(104))] == [9]
    reader.feed(fmt0(6, 0, 1000, 9, 1))


def test_new_header_while_message_incomplete() -> None:
    reader = ChunkStreamReader()
    reader.feed(fmt0(6, 0, 300, 9, 1) + bytes(128))
    with pytest.raises(RtmpProtocolError, match="still lacks 172 of 300 bytes"):
        reader.feed(fmt1(6, 0, 10, 9))


# -- memory --------------------------------------------------------------------------------


def test_partial_message_does_not_pin_a_large_read_buffer() -> None:
    reader = ChunkStreamReader()
    reader.feed(set_chunk_size(65536))
    big = bytes(60000)
    data = fmt0(6, 0, 60000, 9, 1) + big + fmt0(4, 0, 1000, 8, 1) + b"a" * 10
    (msg,) = reader.feed(data)
    assert msg.payload == big
    st_ = reader._streams[4]
    # The 10 bytes of the incomplete audio message were copied out of the 60 KB object.
    assert all(not isinstance(p, memoryview) for p in st_.pieces)
    assert reader.buffered_bytes == 10
    # A partial message that took most of a read keeps a view (no second copy).
    data2 = b"b" * 990
    assert reader.feed(data2[:900]) == []
    assert isinstance(reader._streams[4].pieces[-1], memoryview)
    (msg,) = reader.feed(data2[900:])
    assert msg.payload == b"a" * 10 + data2


def test_mutable_input_is_copied() -> None:
    reader = ChunkStreamReader()
    data = bytearray(fmt0(6, 0, 200, 9, 1) + bytes(100))
    assert reader.feed(data) == []  # type: ignore[arg-type]
    data[-50:] = b"x" * 50  # the caller reuses its buffer
    (msg,) = reader.feed(bytes(128 - 100) + fmt3(6) + bytes(72))
    assert msg.payload == bytes(200)


def test_incomplete_header_is_carried_over() -> None:
    reader = ChunkStreamReader()
    header = fmt0(400, 0x01020304, 3, 9, 7)  # 3-byte basic header + extended timestamp
    assert len(header) == 18
    for i in range(len(header)):
        assert reader.feed(header[i : i + 1]) == []
    (msg,) = reader.feed(b"xyz")
    assert (msg.timestamp, msg.stream_id, msg.payload) == (0x01020304, 7, b"xyz")


# -- writer --------------------------------------------------------------------------------


def test_writer_layout() -> None:
    w = ChunkStreamWriter()
    payload = bytes(range(200))
    assert w.write(3, 20, 0, 1000, payload) == (
        fmt0(3, 1000, 200, 20, 0) + payload[:128] + fmt3(3) + payload[128:]
    )
    w.chunk_size = 4096
    assert w.write(5, 20, 1, 0, payload) == fmt0(5, 0, 200, 20, 1) + payload
    ts = 0x01000000
    w.chunk_size = 100
    assert w.write(70, 9, 1, ts, payload) == (
        fmt0(70, ts, 200, 9, 1) + payload[:100] + fmt3(70, ext=ts) + payload[100:]
    )
    with pytest.raises(ValueError):
        w.chunk_size = 0


# -- property tests -----------------------------------------------------------------------


@dataclass
class _Msg:
    csid: int
    type_id: int
    msid: int
    ts: int
    payload: bytes


_csids = st.sampled_from([2, 3, 4, 6, 63, 64, 319, 320, 65599])
_messages = st.lists(
    st.builds(
        _Msg,
        _csids,
        st.sampled_from([8, 9, 18, 20, 4]),
        st.sampled_from([0, 1, 0x01020304]),
        st.integers(0, 0x1_0000_0000 - 1),
        st.binary(max_size=700),
    ),
    max_size=12,
)


def _compressing_encode(messages: list[_Msg], chunk_size: int, interleave: bool) -> bytes:
    """Encode with the most compact header per message and optionally interleaved chunks.

    Timestamps go through deltas (mod 2**32) as a real encoder's would.
    """
    prev: dict[int, tuple[int, int, int, int, bool]] = {}  # csid -> msid, len, type, delta, ext
    last_ts: dict[int, int] = {}
    queues: dict[int, list[bytes]] = {}
    order: list[int] = []
    for m in messages:
        chunks: list[bytes] = []
        p = prev.get(m.csid)
        if p is None or p[0] != m.msid:
            header = fmt0(m.csid, m.ts, len(m.payload), m.type_id, m.msid)
            delta, ext = m.ts, m.ts >= 0xFFFFFF
        else:
            delta = (m.ts - last_ts[m.csid]) & 0xFFFFFFFF
            ext = delta >= 0xFFFFFF
            if (len(m.payload), m.type_id) != (p[1], p[2]):
                header = fmt1(m.csid, delta, len(m.payload), m.type_id)
            elif delta != p[3]:
                header = fmt2(m.csid, delta)
            else:
                header = fmt3(m.csid, delta if p[4] else None)
                ext = p[4]
        prev[m.csid] = (m.msid, len(m.payload), m.type_id, delta, ext)
        last_ts[m.csid] = m.ts
        cont = fmt3(m.csid, delta if ext else None)
        body = m.payload
        chunks.append(header + body[:chunk_size])
        for off in range(chunk_size, len(body), chunk_size):
            chunks.append(cont + body[off : off + chunk_size])
        # Messages on one chunk stream must not interleave with each other.
        queues.setdefault(m.csid, []).extend(chunks)
        order.append(m.csid)
    if not interleave:
        out: list[bytes] = []
        for m in messages:
            q = queues[m.csid]
            n = 1 + max(0, (len(m.payload) - 1) // chunk_size)
            out += q[:n]
            del q[:n]
        return b"".join(out)
    out = []
    active = list(dict.fromkeys(order))
    while active:
        for c in list(active):
            out.append(queues[c].pop(0))
            if not queues[c]:
                active.remove(c)
    return b"".join(out)


def _expected(messages: list[_Msg], interleave: bool) -> list[tuple[int, int, int, bytes]]:
    rows = [(m.type_id, m.msid, m.ts, m.payload) for m in messages]
    if not interleave:
        return rows
    # With interleaving, messages complete in a different order; compare per chunk stream.
    return sorted(rows, key=lambda r: (r[0], r[1], r[2], r[3]))


@settings(max_examples=300, deadline=None)
@given(
    _messages,
    st.sampled_from([1, 2, 7, 128, 4096]),
    st.booleans(),
    st.lists(st.integers(1, 3000), min_size=1, max_size=8),
)
def test_random_streams_round_trip(
    messages: list[_Msg], chunk_size: int, interleave: bool, steps: list[int]
) -> None:
    data = set_chunk_size(chunk_size) + _compressing_encode(messages, chunk_size, interleave)
    reader = ChunkStreamReader()
    got: list[RtmpMessage] = []
    pos = 0
    for step in itertools.cycle(steps):
        if pos >= len(data):
            break
        got += reader.feed(data[pos : pos + step])
        pos += step
    rows = summary(got)
    if interleave:
        rows.sort(key=lambda r: (r[0], r[1], r[2], r[3]))
    assert rows == _expected(messages, interleave)
    assert reader.buffered_bytes == 0


@settings(max_examples=200, deadline=None)
@given(_messages, st.sampled_from([1, 128, 4096]), st.integers(1, 2000))
def test_writer_reader_round_trip(messages: list[_Msg], chunk_size: int, step: int) -> None:
    w = ChunkStreamWriter()
    data = w.write(2, 1, 0, 0, struct.pack(">I", chunk_size))
    w.chunk_size = chunk_size
    for m in messages:
        if m.type_id in (1, 2):
            continue
        data += w.write(m.csid, m.type_id, m.msid, m.ts, m.payload)
    got = feed_all(ChunkStreamReader(), data, step)
    assert summary(got) == [(m.type_id, m.msid, m.ts, m.payload) for m in messages]


@settings(max_examples=1000)
@given(st.binary(max_size=600), st.integers(1, 600))
def test_arbitrary_bytes_only_raise_protocol_error(data: bytes, step: int) -> None:
    reader = ChunkStreamReader(max_message_size=4096, max_chunk_streams=8)
    with contextlib.suppress(RtmpProtocolError):
        feed_all(reader, data, step)


@settings(max_examples=300)
@given(_messages, st.data())
def test_mutated_streams_only_raise_protocol_error(
    messages: list[_Msg], data: st.DataObject
) -> None:
    raw = bytearray(_compressing_encode(messages, 128, True))
    if not raw:
        return
    for _ in range(data.draw(st.integers(1, 6))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    reader = ChunkStreamReader(max_message_size=100_000)
    with contextlib.suppress(RtmpProtocolError):
        feed_all(reader, bytes(raw), data.draw(st.integers(1, 500)))


def test_chunk_size_below_the_minimum_is_refused() -> None:
    reader = ChunkStreamReader(min_chunk_size=128)
    reader.feed(set_chunk_size(128))
    with pytest.raises(RtmpProtocolError, match="Set Chunk Size 1 is below the 128-byte minimum"):
        reader.feed(set_chunk_size(1))


def test_message_count_limit_stops_a_zero_length_message_flood() -> None:
    reader = ChunkStreamReader(max_messages=100)
    # One header, then one-byte type 3 headers: each completes a zero-length message.
    data = fmt0(3, 0, 0, 3, 0) + fmt3(3) * 99
    assert len(reader.feed(data)) == 100
    with pytest.raises(RtmpProtocolError, match="more than 100 messages before publish"):
        reader.feed(fmt3(3) * 100_000)
    reader = ChunkStreamReader(max_messages=1)
    reader.max_messages = None  # lifted between feeds
    assert len(reader.feed(data)) == 100
