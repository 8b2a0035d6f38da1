"""The shape of an object key, checked the same way by every storage backend.

A key is a relative, '/'-separated path: non-empty segments, none starting with '.' (so no
'.' or '..', and room for a backend's own hidden temporary files), no backslash, no NUL and
no other control character. The local disk backend also checks, on disk, that the key does
not lead out of its root through a symbolic link.
"""

from __future__ import annotations

__all__ = ["check_key", "check_prefix"]

_MAX_KEY_LENGTH = 1024


def _check_segment(segment: str, text: str) -> None:
    if not segment:
        raise ValueError(f"object key {text!r}: empty path segment")
    if segment.startswith("."):
        raise ValueError(f"object key {text!r}: a segment starts with '.'")


def _check_characters(text: str) -> None:
    if len(text) > _MAX_KEY_LENGTH:
        raise ValueError(f"object key of {len(text)} characters (at most {_MAX_KEY_LENGTH})")
    if "\\" in text:
        raise ValueError(f"object key {text!r}: backslash")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise ValueError(f"object key {text!r}: control character")
    if text.startswith("/"):
        raise ValueError(f"object key {text!r}: absolute path")


def check_key(key: str) -> str:
    """``key`` when it is a valid object key; ValueError saying why otherwise."""
    if not isinstance(key, str) or not key:
        raise ValueError("object key: empty")
    _check_characters(key)
    for segment in key.split("/"):
        _check_segment(segment, key)
    return key


def check_prefix(prefix: str) -> str:
    """``prefix`` when keys may start with it (``""``, ``"a/"``, ``"a/b"``); ValueError if not."""
    if not isinstance(prefix, str):
        raise ValueError("object key prefix: not a string")
    if not prefix:
        return prefix
    _check_characters(prefix)
    directories, _, partial = prefix.rpartition("/")
    if directories:
        for segment in directories.split("/"):
            _check_segment(segment, prefix)
    if partial.startswith("."):
        raise ValueError(f"object key prefix {prefix!r}: a segment starts with '.'")
    return prefix
