"""Server handshake: plain and digest (Flash Player 9) variants, byte by byte."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.ingest.rtmp.chunk_stream import RtmpProtocolError
from golive.ingest.rtmp.handshake import HANDSHAKE_SIZE, HandshakeError, ServerHandshake

# The published Flash Player / Flash Media Server handshake keys, written out here
# independently of the module so the test checks the module's constants too.
_TAIL = bytes(
    [
        0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1,
        0x02, 0x9E, 0x7E, 0x57, 0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB,
        0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
    ]
)  # fmt: skip
FP_KEY = b"Genuine Adobe Flash Player 001" + _TAIL
FMS_KEY = b"Genuine Adobe Flash Media Server 001" + _TAIL


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _offset(packet: bytes, scheme: int) -> int:
    if scheme == 0:
        return (packet[8] + packet[9] + packet[10] + packet[11]) % 728 + 12
    return (packet[772] + packet[773] + packet[774] + packet[775]) % 728 + 776


def _signed(packet: bytearray, scheme: int, key: bytes) -> bytes:
    off = _offset(bytes(packet), scheme)
    packet[off : off + 32] = _hmac(key, bytes(packet[:off] + packet[off + 32 :]))
    return bytes(packet)


def _rng_bytes(seed: int) -> bytes:
    return random.Random(seed).randbytes(HANDSHAKE_SIZE)


def _digest_c1(scheme: int, seed: int = 1) -> bytes:
    c1 = bytearray(_rng_bytes(seed))
    c1[0:4] = b"\0\0\0\0"
    c1[4:8] = bytes([9, 0, 124, 2])  # a Flash Player version, as ffmpeg sends
    return _signed(c1, scheme, FP_KEY[:30])


def _plain_c1(seed: int = 2) -> bytes:
    c1 = bytearray(_rng_bytes(seed))
    c1[0:4] = (1234).to_bytes(4, "big")
    c1[4:8] = b"\0\0\0\0"
    return bytes(c1)


def test_plain_handshake() -> None:
    hs = ServerHandshake()
    c1 = _plain_c1()
    assert hs.receive_data(b"\x03" + c1) == b""
    out = hs.data_to_send()
    assert len(out) == 1 + 2 * HANDSHAKE_SIZE
    assert out[0] == 3
    s1, s2 = out[1 : 1 + HANDSHAKE_SIZE], out[1 + HANDSHAKE_SIZE :]
    assert s1[4:8] == b"\0\0\0\0"  # the spec's zero field
    assert s2 == c1  # S2 echoes C1
    assert not hs.complete
    assert hs.scheme is None
    rest = hs.receive_data(s1 + b"chunk data")
    assert hs.complete
    assert rest == b"chunk data"
    assert hs.data_to_send() == b""
    assert hs.receive_data(b"more") == b"more"


def test_byte_by_byte_feeding() -> None:
    hs = ServerHandshake()
    data = b"\x03" + _plain_c1() + bytes(HANDSHAKE_SIZE) + b"xy"
    rest = b""
    for i in range(len(data)):
        rest += hs.receive_data(data[i : i + 1])
        if i < 1 + HANDSHAKE_SIZE - 1:
            assert hs.data_to_send() == b""
    assert hs.complete
    assert rest == b"xy"
    assert len(hs.data_to_send()) == 1 + 2 * HANDSHAKE_SIZE


@pytest.mark.parametrize("scheme", [0, 1])
def test_digest_handshake(scheme: int) -> None:
    hs = ServerHandshake()
    c1 = _digest_c1(scheme, seed=10 + scheme)
    hs.receive_data(b"\x03" + c1)
    assert hs.scheme == scheme
    out = hs.data_to_send()
    s1 = out[1 : 1 + HANDSHAKE_SIZE]
    s2 = out[1 + HANDSHAKE_SIZE :]
    # S1: non-zero version and a server digest at the client's scheme offset.
    assert s1[4:8] != b"\0\0\0\0"
    off = _offset(s1, scheme)
    assert s1[off : off + 32] == _hmac(FMS_KEY[:36], s1[:off] + s1[off + 32 :])
    # S2: last 32 bytes keyed from the client's digest, as a player verifies.
    c_off = _offset(c1, scheme)
    client_digest = c1[c_off : c_off + 32]
    key = _hmac(FMS_KEY, client_digest)
    assert s2[-32:] == _hmac(key, s2[:-32])
    # C2 of a digest client: random bytes ending in its own digest; not verified.
    assert hs.receive_data(bytes(HANDSHAKE_SIZE)) == b""
    assert hs.complete


def test_nonzero_version_without_valid_digest_falls_back_to_plain() -> None:
    hs = ServerHandshake()
    c1 = bytearray(_digest_c1(0))
    c1[_offset(bytes(c1), 0)] ^= 0xFF  # break the digest
    hs.receive_data(b"\x03" + bytes(c1))
    assert hs.scheme is None
    assert hs.data_to_send()[1 + HANDSHAKE_SIZE :] == bytes(c1)


def test_random_source_is_injectable() -> None:
    hs = ServerHandshake(random_bytes=lambda n: b"\xab" * n)
    hs.receive_data(b"\x03" + _plain_c1())
    assert hs.data_to_send()[9 : 1 + HANDSHAKE_SIZE] == b"\xab" * (HANDSHAKE_SIZE - 8)


@pytest.mark.parametrize(
    ("first", "message"),
    [
        (b"\x06", "encrypted RTMP"),
        (b"\x08", "encrypted RTMP"),
        (b"GET / HTTP/1.1\r\n", "HTTP"),
        (b"\x16\x03\x01", "TLS"),
        (b"\x00", "unsupported RTMP handshake version 0"),
        (b"\x04", "unsupported RTMP handshake version 4"),
    ],
)
def test_bad_version_is_refused_at_once(first: bytes, message: str) -> None:
    hs = ServerHandshake()
    with pytest.raises(HandshakeError, match=message):
        hs.receive_data(first)
    assert issubclass(HandshakeError, RtmpProtocolError)


@settings(max_examples=200)
@given(st.binary(max_size=4000), st.integers(1, 4000))
def test_arbitrary_bytes_only_raise_handshake_error(data: bytes, step: int) -> None:
    hs = ServerHandshake()
    try:
        for i in range(0, len(data), step):
            hs.receive_data(data[i : i + step])
            hs.data_to_send()
    except HandshakeError:
        assert data[0] != 3
