"""What a chat message may say: normalised text within limits, or a refusal with a code.

Text is only ever text: golive never interprets it as markup (the page inserts it with
``textContent``), so HTML needs no escaping here. What is removed is what could mislead a
reader or break a layout: control characters, and the invisible bidirectional overrides and
isolates that can reorder what others see.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_MESSAGE_LENGTH", "ChatRejected", "normalize_message"]

MAX_MESSAGE_LENGTH = 500

# C0/C1 controls (tab and newline included: a message is one line), DEL, bidi embeddings,
# overrides and isolates, and the line/paragraph separators.
_UNWANTED = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_SPACES = re.compile(r"\s+")


class ChatRejected(Exception):
    """A chat action that is refused, with a stable ``code`` for clients."""

    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


def normalize_message(text: object) -> str:
    """NFC, unwanted characters replaced by spaces, runs of whitespace made one, stripped."""
    if not isinstance(text, str):
        raise ChatRejected("bad_request", "text must be a string")
    if len(text) > 4 * MAX_MESSAGE_LENGTH:
        raise ChatRejected("too_long", f"messages are limited to {MAX_MESSAGE_LENGTH} characters")
    cleaned = _SPACES.sub(" ", _UNWANTED.sub(" ", unicodedata.normalize("NFC", text))).strip()
    if not cleaned:
        raise ChatRejected("empty", "the message is empty")
    if len(cleaned) > MAX_MESSAGE_LENGTH:
        raise ChatRejected("too_long", f"messages are limited to {MAX_MESSAGE_LENGTH} characters")
    return cleaned
