"""Server side of the RTMP handshake (C0/C1 -> S0/S1/S2, then C2), sans-I/O.

Two variants exist in the wild:

* the plain handshake of the RTMP 1.0 specification (section 5.2): C1/S1 carry a time and
  1528 random bytes, and each side echoes the other's packet as C2/S2;
* the "digest" handshake of Flash Player 9+ clients (librtmp, ffmpeg, OBS): C1 bytes 4-7
  hold a non-zero version, and C1 carries an HMAC-SHA256 digest at an offset derived from
  four bytes of C1 ("scheme 0": bytes 8-11, "scheme 1": bytes 772-775). A server answering
  such a client puts its own digest in S1 (same scheme) and ends S2 with a digest keyed from
  the client's one. Clients that play streams check this; publishers mostly do not, but a
  proper answer costs nothing.

If a non-zero C1 version comes without a valid digest under either scheme, the server falls
back to the plain handshake, which is what such clients then accept.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable

from golive.ingest.rtmp.chunk_stream import RtmpProtocolError

__all__ = ["HANDSHAKE_SIZE", "RTMP_VERSION", "HandshakeError", "ServerHandshake"]

RTMP_VERSION = 3
HANDSHAKE_SIZE = 1536
_DIGEST_SIZE = 32

# Keys of the Flash Player 9 handshake: an ASCII name followed by the same 32 bytes for both
# sides. The digests in C1/S1 are keyed with the name part only; the S2/C2 keys are derived
# from the whole key.
_KEY_TAIL = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
_CLIENT_KEY_NAME = b"Genuine Adobe Flash Player 001"
_SERVER_KEY_NAME = b"Genuine Adobe Flash Media Server 001"
_SERVER_KEY = _SERVER_KEY_NAME + _KEY_TAIL

# Version we announce in S1 bytes 4-7 when answering a digest handshake; clients only check
# that it is non-zero.
_SERVER_VERSION = bytes([0x0D, 0x0E, 0x0A, 0x0D])


class HandshakeError(RtmpProtocolError):
    """The peer's handshake is not one we can answer."""


def _hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def digest_offset(packet: bytes | bytearray, scheme: int) -> int:
    """Offset of the 32-byte digest in a C1/S1 packet under ``scheme`` 0 or 1."""
    base = 8 if scheme == 0 else 772
    return sum(packet[base : base + 4]) % 728 + base + 4


def packet_digest(packet: bytes | bytearray, offset: int, key: bytes) -> bytes:
    """HMAC-SHA256 of a C1/S1 packet with its 32 digest bytes at ``offset`` left out."""
    return _hmac_sha256(key, bytes(packet[:offset]) + bytes(packet[offset + _DIGEST_SIZE :]))


def find_client_digest(c1: bytes) -> tuple[int, bytes] | None:
    """Return ``(scheme, digest)`` if C1 carries a valid Flash Player digest."""
    for scheme in (0, 1):
        off = digest_offset(c1, scheme)
        digest = c1[off : off + _DIGEST_SIZE]
        if hmac.compare_digest(packet_digest(c1, off, _CLIENT_KEY_NAME), digest):
            return scheme, digest
    return None


class ServerHandshake:
    """State machine of the server handshake.

    Feed received bytes to :meth:`receive_data`; send what :meth:`data_to_send` returns.
    Once C2 has arrived :attr:`complete` is true and :meth:`receive_data` returns the bytes
    that followed C2 (the start of the chunk stream).
    """

    def __init__(self, *, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self._random = random_bytes
        self._buf = bytearray()
        self._out = bytearray()
        self._state = 0  # 0: waiting for C0+C1, 1: waiting for C2, 2: done
        self.scheme: int | None = None  # digest scheme used, None for the plain handshake

    @property
    def complete(self) -> bool:
        """True once C2 has been received."""
        return self._state == 2

    def data_to_send(self) -> bytes:
        """Bytes to send to the peer (S0+S1+S2), emptied by the call."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def receive_data(self, data: bytes) -> bytes:
        """Consume handshake bytes; return the bytes after C2 once it is complete."""
        if self._state == 2:
            return data
        buf = self._buf
        buf += data
        if self._state == 0:
            if buf:
                self._check_version(buf[0])
            if len(buf) < 1 + HANDSHAKE_SIZE:
                return b""
            c1 = bytes(buf[1 : 1 + HANDSHAKE_SIZE])
            del buf[: 1 + HANDSHAKE_SIZE]
            self._out += self._answer(c1)
            self._state = 1
        if len(buf) < HANDSHAKE_SIZE:
            return b""
        # C2 is not verified: the spec's echo check protects the client, not us.
        rest = bytes(buf[HANDSHAKE_SIZE:])
        buf.clear()
        self._state = 2
        return rest

    @staticmethod
    def _check_version(version: int) -> None:
        if version == RTMP_VERSION:
            return
        if version in (6, 8, 9):
            raise HandshakeError(
                f"encrypted RTMP (RTMPE, handshake version {version}) is not supported; "
                "use plain rtmp://"
            )
        if version in (ord("G"), ord("P"), ord("H"), ord("O")):
            raise HandshakeError("not an RTMP handshake (looks like an HTTP request)")
        if version == 0x16:
            raise HandshakeError("not an RTMP handshake (looks like TLS; rtmps:// is not served)")
        raise HandshakeError(f"unsupported RTMP handshake version {version} (expected 3)")

    def _answer(self, c1: bytes) -> bytes:
        s0 = bytes([RTMP_VERSION])
        found = find_client_digest(c1) if c1[4:8] != b"\0\0\0\0" else None
        if found is None:
            # Plain handshake: S1 is a zero time (we have no clock), zeros and random bytes;
            # S2 echoes C1, which is all a plain client checks.
            return s0 + bytes(8) + self._random(HANDSHAKE_SIZE - 8) + c1
        scheme, client_digest = found
        self.scheme = scheme
        s1 = bytearray(bytes(4) + _SERVER_VERSION + self._random(HANDSHAKE_SIZE - 8))
        off = digest_offset(s1, scheme)
        s1[off : off + _DIGEST_SIZE] = packet_digest(s1, off, _SERVER_KEY_NAME)
        s2 = bytearray(self._random(HANDSHAKE_SIZE))
        end = HANDSHAKE_SIZE - _DIGEST_SIZE
        s2[end:] = _hmac_sha256(_hmac_sha256(_SERVER_KEY, client_digest), bytes(s2[:end]))
        return s0 + bytes(s1) + bytes(s2)
