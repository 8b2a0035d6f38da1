"""A client's chat frame to a request object, refusing what is not one (sans-I/O).

Requests are flat JSON objects. Nesting is bounded before parsing, so a frame of thousands
of brackets is refused cheaply instead of exhausting the parser's recursion.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "MalformedRequest", "parse_request"]

MAX_DEPTH = 8


class MalformedRequest(ValueError):
    """The frame is not a JSON object (the connection is closed with 1007)."""


def _too_deep(text: str, limit: int) -> bool:
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def parse_request(text: str) -> dict[str, Any]:
    if _too_deep(text, MAX_DEPTH):
        raise MalformedRequest(f"nested deeper than {MAX_DEPTH} levels")
    try:
        request = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedRequest("not JSON") from exc
    if not isinstance(request, dict):
        raise MalformedRequest("not a JSON object")
    return request
