"""AMF0 decoding of arbitrary bytes raises Amf0DecodeError, nothing else."""

from __future__ import annotations

import struct

from hypothesis import example, given
from hypothesis import strategies as st

from golive.media import amf0
from golive.media.amf0 import Amf0DecodeError
from tests.fuzz.profiles import fuzz_settings

# Pieces that look like AMF0: every marker, lengths, object ends, numbers, short strings.
_piece = st.one_of(
    st.integers(0, 0x12).map(lambda m: bytes([m])),
    st.integers(0, 0xFFFF).map(lambda n: struct.pack(">H", n)),
    st.sampled_from([0, 1, 2, 0xFFFFFFFF]).map(lambda n: struct.pack(">I", n)),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: struct.pack(">d", f)),
    st.just(b"\x00\x00\x09"),
    st.binary(max_size=8),
)
amf0_like = st.lists(_piece, max_size=40).map(b"".join)


@fuzz_settings
@given(data=amf0_like | st.binary(max_size=512))
@example(data=b"\x03\x00\x01a" * 5000)  # objects nested far past the depth limit
@example(data=b"\x0a\x00\x00\x00\x01" * 5000)  # strict arrays likewise
@example(data=b"\x0a\xff\xff\xff\xff")  # a strict array announcing 4 billion items
@example(data=b"\x0b" + struct.pack(">d", 1e300) + b"\x00\x00")  # a date out of range
def test_decode_raises_only_amf0_errors(data: bytes) -> None:
    try:
        values = amf0.decode_all(data)
    except Amf0DecodeError:
        return
    # What decodes encodes again, and means the same (NaN aside, which is not equal to itself).
    again = amf0.decode_all(amf0.encode(*values))
    assert repr(again) == repr(values)


@fuzz_settings
@given(data=amf0_like | st.binary(max_size=256), offset=st.integers(-4, 300))
def test_decode_at_any_offset(data: bytes, offset: int) -> None:
    try:
        _, end = amf0.decode(data, offset)
    except Amf0DecodeError:
        return
    assert offset < end <= len(data)
