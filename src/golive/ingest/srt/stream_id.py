"""The stream key in an SRT stream id (SRTO_STREAMID), as publishers write it.

Two forms are taken, both naming the publishing direction explicitly:

* ``publish:<key>`` (MediaMTX's form);
* the SRT access-control syntax (SRT's AccessControl.md, as SRS uses it):
  ``#!::`` followed by comma-separated ``k=v`` pairs, where ``r`` is the resource and
  ``m`` the mode, e.g. ``#!::r=live/<key>,m=publish``. The resource's last path segment is the
  key (so ``r=<key>`` works too); the mode must be ``publish`` (it is ``request``, i.e. read,
  when absent, as the access-control document says, and golive serves no SRT readers).

Anything else (no stream id, another form, a read request, an empty key) is a
``StreamIdError`` saying what to send instead. No I/O here: a pure function of the string.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_STREAM_ID", "StreamIdError", "StreamIdProblem", "parse_stream_id"]

# SRT carries at most 512 bytes of stream id in the handshake.
MAX_STREAM_ID = 512

_PUBLISH_PREFIX = "publish:"
_ACCESS_CONTROL_PREFIX = "#!::"
_EXAMPLE = "publish:<stream key> or #!::r=live/<stream key>,m=publish"


@dataclass(frozen=True)
class StreamIdProblem:
    """Why a stream id names no stream key to publish to."""

    message: str
    # The mode was understood but is not publishing (SRT answers that with its "bad mode").
    wrong_mode: bool = False


class StreamIdError(ValueError):
    def __init__(self, problem: StreamIdProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _fail(message: str, *, wrong_mode: bool = False) -> StreamIdError:
    return StreamIdError(StreamIdProblem(message, wrong_mode))


def _check_key(key: str) -> str:
    if not key:
        raise _fail(f"the stream id names an empty stream key (send {_EXAMPLE})")
    if not key.isprintable() or any(c.isspace() for c in key):
        raise _fail("the stream key in the stream id has spaces or control characters")
    return key


def _parse_access_control(body: str) -> str:
    values: dict[str, str] = {}
    for item in body.split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            # The item is not echoed: it may hold the key.
            raise _fail(f"a stream id item is not key=value (send {_EXAMPLE})")
        if name in values:
            raise _fail(f"stream id repeats {name!r}")
        values[name] = value.strip()
    mode = values.get("m", "request")
    if mode != "publish":
        raise _fail(
            f"stream id mode m={mode} is not publish: golive takes SRT publishers only "
            f"(send {_EXAMPLE})",
            wrong_mode=True,
        )
    resource = values.get("r")
    if resource is None:
        raise _fail(f"the stream id has no resource r=… (send {_EXAMPLE})")
    return _check_key(resource.rpartition("/")[2])


def parse_stream_id(stream_id: str | None) -> str:
    """The stream key a publisher's stream id names, or StreamIdError."""
    if not stream_id:
        raise _fail(f"no stream id: set one naming the stream key ({_EXAMPLE})")
    if len(stream_id.encode()) > MAX_STREAM_ID:
        raise _fail("the stream id is longer than SRT's 512 bytes")
    if stream_id.startswith(_ACCESS_CONTROL_PREFIX):
        return _parse_access_control(stream_id[len(_ACCESS_CONTROL_PREFIX) :])
    mode, sep, rest = stream_id.partition(":")
    if sep and mode in ("read", "request", "play"):
        raise _fail(
            f"stream id mode {mode!r} is not publish: golive takes SRT publishers only "
            f"(send {_EXAMPLE})",
            wrong_mode=True,
        )
    if not stream_id.startswith(_PUBLISH_PREFIX):
        raise _fail(f"stream id form not recognised (send {_EXAMPLE})")
    key = rest
    if ":" in key:
        raise _fail(
            "publish:<key>:<user>:<pass> is not supported: the stream key alone authorises "
            f"(send {_EXAMPLE})"
        )
    return _check_key(key)
