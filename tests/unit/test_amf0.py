"""AMF0 encoder/decoder: byte layouts from the AMF0 specification, errors, round trips."""

from __future__ import annotations

import contextlib
import math
import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.media import amf0
from golive.media.amf0 import UNDEFINED, Amf0DecodeError, EcmaArray, decode, decode_all, encode


def _number(x: float) -> bytes:
    return b"\x00" + struct.pack(">d", x)


def _key(name: str) -> bytes:
    raw = name.encode()
    return struct.pack(">H", len(raw)) + raw


END = b"\x00\x00\x09"


# -- byte layouts -------------------------------------------------------------------------


def test_number_boolean_string_null_undefined_layout() -> None:
    assert encode(1.5) == _number(1.5)
    assert encode(3) == _number(3.0)
    assert encode(True, False) == b"\x01\x01\x01\x00"
    assert encode("live") == b"\x02\x00\x04live"
    assert encode(None, UNDEFINED) == b"\x05\x06"
    assert decode_all(_number(-2.25) + b"\x01\x07\x02\x00\x00\x05\x06") == [
        -2.25,
        True,
        "",
        None,
        UNDEFINED,
    ]


def test_object_layout_and_decode() -> None:
    data = b"\x03" + _key("app") + b"\x02\x00\x04live" + _key("n") + _number(1) + END
    assert encode({"app": "live", "n": 1}) == data
    assert decode_all(data) == [{"app": "live", "n": 1.0}]


def test_ecma_array_layout_and_decode() -> None:
    data = b"\x08\x00\x00\x00\x01" + _key("width") + _number(1280) + END
    assert encode(EcmaArray(width=1280)) == data
    (value,) = decode_all(data)
    assert value == {"width": 1280.0}
    assert isinstance(value, EcmaArray)


def test_ecma_array_count_is_only_a_hint() -> None:
    # Encoders are known to write 0 here; the object-end marker is authoritative.
    data = b"\x08\x00\x00\x00\x00" + _key("a") + _number(1) + _key("b") + b"\x05" + END
    assert decode_all(data) == [{"a": 1.0, "b": None}]


def test_strict_array_layout_and_decode() -> None:
    data = b"\x0a\x00\x00\x00\x02" + _number(1) + b"\x02\x00\x01x"
    assert encode([1, "x"]) == data
    assert encode((1, "x")) == data
    assert decode_all(data) == [[1.0, "x"]]


def test_date_layout_and_decode() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    ms = when.timestamp() * 1000
    data = b"\x0b" + struct.pack(">dh", ms, 0)
    assert encode(when) == data
    assert decode_all(data) == [when]
    # A naive datetime is taken as UTC.
    assert encode(when.replace(tzinfo=None)) == data


def test_long_string_both_ways() -> None:
    text = "é" * 40000  # 80000 UTF-8 bytes: does not fit a 16-bit length
    data = encode(text)
    assert data[:5] == b"\x0c" + struct.pack(">I", 80000)
    assert decode_all(data) == [text]
    assert decode_all(b"\x0c\x00\x00\x00\x02hi") == ["hi"]


def test_xml_document_typed_object_and_unsupported_decode() -> None:
    assert decode_all(b"\x0f\x00\x00\x00\x03<a>") == ["<a>"]
    typed = b"\x10" + _key("Klass") + _key("x") + _number(2) + END
    assert decode_all(typed) == [{"x": 2.0}]
    assert decode_all(b"\x0d") == [UNDEFINED]


def test_nested_values() -> None:
    value = {"a": [1.0, {"b": EcmaArray(c=[None, True])}], "d": "e"}
    assert decode_all(encode(value)) == [value]


def test_connect_command_round_trip() -> None:
    values: list[object] = [
        "connect",
        1.0,
        {"app": "live", "tcUrl": "rtmp://h/live", "fpad": False, "objectEncoding": 0.0},
    ]
    assert decode_all(encode(*values)) == values


def test_decode_with_offset() -> None:
    data = encode("a", 2.0)
    value, pos = decode(data, 0)
    assert value == "a"
    assert decode(data, pos) == (2.0, len(data))
    with pytest.raises(Amf0DecodeError):
        decode(data, len(data) + 1)


def test_accepts_bytearray_and_memoryview() -> None:
    data = encode({"k": [1, "v"]}, None)
    assert decode_all(bytearray(data)) == decode_all(data)
    assert decode_all(memoryview(data)) == decode_all(data)


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert decode_all(b"\x02\x00\x02\xff\xfe") == ["\ufffd\ufffd"]


def test_empty_key_without_end_marker_is_a_property() -> None:
    data = b"\x03" + _key("") + _number(1) + END
    assert decode_all(data) == [{"": 1.0}]


# -- errors --------------------------------------------------------------------------------


def test_every_truncation_raises_decode_error() -> None:
    first = encode(
        {"a": [1.0, "text", EcmaArray(b=True)], "when": datetime(2020, 1, 1, tzinfo=UTC)}
    )
    data = first + encode("x" * 70000)
    cuts = [*range(1, 300), *range(300, len(data), 97)]
    for cut in cuts:
        if cut == len(first):
            continue  # a complete first value
        with pytest.raises(Amf0DecodeError, match="truncated"):
            decode_all(data[:cut])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x07\x00\x01", "references are not supported"),
        (b"\x11\x06", "AMF3"),
        (b"\x04", "unknown AMF0 type marker 0x04"),
        (b"\x0e", "unknown AMF0 type marker 0x0e"),
        (b"\x42", "unknown AMF0 type marker 0x42"),
        (b"\x09", "unexpected AMF0 object-end"),
        (b"\x0a\xff\xff\xff\xff\x05", "strict array"),
        (b"\x03" + _key("a"), "truncated"),
        (b"\x03" + _key(""), "missing object-end"),
        (b"\x0b" + struct.pack(">dh", 1e300, 0), "out of range"),
        (b"\x0b" + struct.pack(">dh", math.nan, 0), "out of range"),
    ],
)
def test_malformed_input_messages(data: bytes, message: str) -> None:
    with pytest.raises(Amf0DecodeError, match=message):
        decode_all(data)


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(Amf0DecodeError, ValueError)


def test_nesting_depth_is_bounded() -> None:
    ok = b"\x0a\x00\x00\x00\x01" * amf0.MAX_DEPTH + b"\x05"
    assert decode_all(ok)
    too_deep = b"\x0a\x00\x00\x00\x01" * (amf0.MAX_DEPTH + 1) + b"\x05"
    with pytest.raises(Amf0DecodeError, match="nested deeper"):
        decode_all(too_deep)
    objects = (b"\x03" + _key("k")) * 1000 + b"\x05"
    with pytest.raises(Amf0DecodeError, match="nested deeper"):
        decode_all(objects)


def test_encode_refuses_unknown_types_and_bad_keys() -> None:
    with pytest.raises(TypeError):
        encode(object())
    with pytest.raises(TypeError):
        encode({1: "x"})
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="nested deeper"):
        encode(loop)
    nested: object = None
    for _ in range(amf0.MAX_DEPTH):
        nested = [nested]
    assert decode_all(encode(nested)) == [nested]
    with pytest.raises(ValueError, match="nested deeper"):
        encode([nested])


# -- property tests ----------------------------------------------------------------------

_scalars = (
    st.none()
    | st.just(UNDEFINED)
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
)
_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=10), children, max_size=5)
        | st.dictionaries(st.text(max_size=10), children, max_size=5).map(EcmaArray)
    ),
    max_leaves=30,
)


@given(st.lists(_values, max_size=4))
def test_round_trip(values: list[object]) -> None:
    assert decode_all(encode(*values)) == values


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(Amf0DecodeError):
        decode_all(data)


@settings(max_examples=300)
@given(st.lists(_values, min_size=1, max_size=3), st.data())
def test_mutated_encodings_only_raise_decode_error(
    values: list[object], data: st.DataObject
) -> None:
    raw = bytearray(encode(*values))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    with contextlib.suppress(Amf0DecodeError):
        decode_all(bytes(raw[:cut]))


def test_value_count_is_bounded() -> None:
    # A command made of null markers: one value per byte without a bound.
    assert amf0.decode_all(b"\x05" * amf0.MAX_VALUES) == [None] * amf0.MAX_VALUES
    with pytest.raises(amf0.Amf0DecodeError, match=f"more than {amf0.MAX_VALUES} AMF0 values"):
        amf0.decode_all(b"\x05" * (amf0.MAX_VALUES + 1))


def test_value_count_includes_nested_values() -> None:
    nested = amf0.encode({"a": [None] * 10, "b": {"c": 1.0}})  # 1 + 1 + 10 + 1 + 1 values
    assert amf0.decode_all(nested, max_values=14)
    with pytest.raises(amf0.Amf0DecodeError, match="more than 13 AMF0 values"):
        amf0.decode_all(nested, max_values=13)
    with pytest.raises(amf0.Amf0DecodeError, match="more than 13 AMF0 values"):
        amf0.decode(nested, max_values=13)
