"""Cleaning one-line text a user typed (titles, categories, display names)."""

from __future__ import annotations

import unicodedata

__all__ = ["clean_line"]

_KEEP_FORMAT = {"\u200d"}  # zero-width joiner: part of many emoji


def clean_line(value: str, max_length: int) -> str:
    """NFC-normalised, without control or format characters (bidirectional overrides could
    make a name read as someone else's), whitespace runs collapsed to one space, trimmed and
    cut to ``max_length`` characters."""
    text = unicodedata.normalize("NFC", value)
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in ("Zs", "Zl", "Zp") or ch in "\t\n\r":
            kept.append(" ")
        elif category.startswith("C") and ch not in _KEEP_FORMAT:
            continue
        else:
            kept.append(ch)
    return " ".join("".join(kept).split())[:max_length].strip()
