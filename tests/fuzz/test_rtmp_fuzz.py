"""RTMP ingest fed arbitrary bytes raises RtmpProtocolError (or HandshakeError), nothing else."""

from __future__ import annotations

import itertools
import struct

from hypothesis import example, given
from hypothesis import strategies as st

from golive.ingest.rtmp.chunk_stream import ChunkStreamReader, RtmpMessage, RtmpProtocolError
from golive.ingest.rtmp.handshake import HANDSHAKE_SIZE, ServerHandshake
from golive.ingest.rtmp.session import PublishRequested, RtmpServerSession
from golive.media import amf0
from tests.fuzz.profiles import fuzz_settings

# Small limits, so that the fuzzer reaches them.
LIMITS = {"max_message_size": 4096, "max_chunk_size": 8192, "max_chunk_streams": 8}


@st.composite
def chunk(draw: st.DrawFn, opened: set[int] | None = None) -> bytes:
    """One chunk whose fields are plausible or hostile: any fmt and chunk stream id form,
    extended timestamps, lengths that match the payload or not, control messages.

    With ``opened`` (the chunk streams begun so far), a new chunk stream mostly starts with
    a type 0 header, as it must, so that messages get through and the fuzzer goes deeper."""
    fmt = draw(st.sampled_from([0, 3, 1, 2]))
    low = draw(st.sampled_from([2, 3, 4, 0, 1, 63]) | st.integers(0, 63))
    if opened is not None:
        if low not in opened and draw(st.integers(0, 9)) > 0:
            fmt = 0
        opened.add(low)
    out = bytearray([fmt << 6 | low])
    if low == 0:
        out.append(draw(st.integers(0, 255)))
    elif low == 1:
        out += draw(st.binary(min_size=2, max_size=2))
    payload = draw(st.binary(max_size=300))
    type_id = draw(
        st.sampled_from([8, 9, 20, 18, 1, 2, 3, 4, 5, 6, 15, 17, 22]) | st.integers(0, 255)
    )
    if type_id == 1 and draw(st.booleans()):  # Set Chunk Size with an interesting value
        size = draw(st.sampled_from([0, 1, 2, 128, 4096, 0x7FFFFFFF, 0x80000000]))
        payload = struct.pack(">I", size)
    # Mostly the payload's own length (so messages complete), sometimes anything.
    length = len(payload)
    if draw(st.integers(0, 9)) == 0:
        length = draw(
            st.sampled_from([0, 1, 4, 4097, (1 << 24) - 1]) | st.integers(0, (1 << 24) - 1)
        )
    timestamp = draw(st.sampled_from([0, 33, 0xFFFFFF]) | st.integers(0, 0xFFFFFF))
    if fmt <= 2:
        out += timestamp.to_bytes(3, "big")
    if fmt <= 1:
        out += length.to_bytes(3, "big") + bytes([type_id])
    if fmt == 0:
        out += draw(st.sampled_from([0, 1]) | st.integers(0, 0xFFFFFFFF)).to_bytes(4, "little")
    if (fmt <= 2 and timestamp == 0xFFFFFF) or (fmt == 3 and draw(st.booleans())):
        out += draw(st.binary(min_size=4, max_size=4))
    out += payload
    return bytes(out)


@st.composite
def chunk_stream(draw: st.DrawFn, max_chunks: int = 12) -> bytes:
    opened: set[int] = set()
    count = draw(st.integers(0, max_chunks))
    return b"".join(draw(chunk(opened)) for _ in range(count))


chunk_streams = chunk_stream()
any_bytes = st.binary(max_size=2048)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    # No empty piece: to the session, b"" is the peer closing (as in h11), not a read.
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def feed_all(pieces: list[bytes]) -> list[RtmpMessage] | RtmpProtocolError:
    reader = ChunkStreamReader(**LIMITS)
    messages: list[RtmpMessage] = []
    try:
        for piece in pieces:
            messages += reader.feed(piece)
    except RtmpProtocolError as exc:
        return exc
    return messages


def _key(messages: list[RtmpMessage]) -> list[tuple[int, int, int, int, bytes]]:
    return [
        (m.chunk_stream_id, m.type_id, m.stream_id, m.timestamp, bytes(m.payload)) for m in messages
    ]


@fuzz_settings
@given(data=chunk_streams | any_bytes, cuts=st.lists(st.integers(0, 1 << 16), max_size=8))
@example(data=b"\x02" + b"\x00" * 6 + b"\x01" + b"\x00" * 4 + b"\x80\x00\x00\x00", cuts=[])
def test_chunk_reader_raises_only_protocol_errors(data: bytes, cuts: list[int]) -> None:
    whole = feed_all([data])
    pieces = feed_all(split(data, cuts))
    # How the bytes arrive must not change what they mean.
    if isinstance(whole, RtmpProtocolError):
        assert isinstance(pieces, RtmpProtocolError)
    else:
        assert not isinstance(pieces, RtmpProtocolError), pieces
        assert _key(pieces) == _key(whole)


C0_C1 = b"\x03" + bytes(HANDSHAKE_SIZE)


@fuzz_settings
@given(
    data=any_bytes | st.binary(min_size=1, max_size=1).map(lambda b: b + bytes(3100)),
    cuts=st.lists(st.integers(0, 1 << 12), max_size=4),
)
def test_handshake_raises_only_handshake_errors(data: bytes, cuts: list[int]) -> None:
    handshake = ServerHandshake(random_bytes=bytes)
    sent = b""
    rest = b""
    try:
        for piece in split(data, cuts):
            rest += handshake.receive_data(piece)
            sent += handshake.data_to_send()
    except RtmpProtocolError:
        return
    if handshake.complete:  # S0, S1 and S2 went out; what followed C2 comes back
        assert len(sent) == 1 + 2 * HANDSHAKE_SIZE
        assert rest == data[1 + 2 * HANDSHAKE_SIZE :]


def command(name: str, *args: object) -> bytes:
    body = amf0.encode(name, 1.0, *args)
    return b"\x03" + b"\x00\x00\x00" + len(body).to_bytes(3, "big") + b"\x14" + bytes(4) + body


CONNECT = command("connect", {"app": "live", "tcUrl": "rtmp://h/live", "type": "nonprivate"})
PUBLISH = command("createStream", None) + command("publish", None, "key", "live")

amf_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
commands = st.builds(
    lambda name, args: command(name, *args),
    st.sampled_from(
        ["connect", "createStream", "publish", "releaseStream", "FCPublish", "deleteStream"]
    )
    | st.text(max_size=12),
    st.lists(amf_values, max_size=4),
)


@fuzz_settings
@given(
    tail=st.lists(commands | chunk_stream(4), max_size=6).map(b"".join) | any_bytes,
    prefix=st.sampled_from([b"", CONNECT, CONNECT + PUBLISH]),
    accept=st.booleans(),
    cuts=st.lists(st.integers(0, 1 << 16), max_size=4),
)
def test_session_raises_only_protocol_errors(
    tail: bytes, prefix: bytes, accept: bool, cuts: list[int]
) -> None:
    session = RtmpServerSession(random_bytes=bytes, **LIMITS)
    stream = C0_C1 + bytes(HANDSHAKE_SIZE) + prefix + tail
    try:
        for piece in split(stream, cuts):
            for event in session.receive_data(piece):
                if isinstance(event, PublishRequested):
                    if accept:
                        session.accept_publish()
                    else:
                        session.reject_publish("NetStream.Publish.BadName", "no")
            session.data_to_send()
    except RtmpProtocolError:
        assert session.closed
