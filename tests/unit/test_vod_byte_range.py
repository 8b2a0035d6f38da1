"""The Range header of VOD segment requests (RFC 9110 14): what part of an object is sent."""

from __future__ import annotations

import pytest

from golive.http.vod_media import byte_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 100)),
        ("bytes=100-", (100, 1000)),
        ("bytes=900-5000", (900, 1000)),  # past the end: cut to the object
        ("bytes=-10", (990, 1000)),
        ("bytes=-5000", (0, 1000)),
        ("bytes=999-999", (999, 1000)),
        ("bytes=1000-", "unsatisfiable"),
        ("bytes=-0", "unsatisfiable"),
        ("bytes=5-4", None),  # last before first: invalid, ignored
        ("bytes=0-1,5-9", None),  # several ranges: the whole object
        ("items=0-1", None),
        ("bytes=-", None),
        ("bytes=abc", None),
    ],
)
def test_byte_range(header: str | None, expected: object) -> None:
    assert byte_range(header, 1000) == expected


def test_an_empty_object_satisfies_no_range() -> None:
    assert byte_range("bytes=0-", 0) == "unsatisfiable"
    assert byte_range("bytes=-1", 0) == "unsatisfiable"
