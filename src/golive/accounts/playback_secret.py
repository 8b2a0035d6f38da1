"""The secret that signs playback tokens: the ``playback_token_secret`` setting, else a
random one generated into the data directory on first start (``playback_token_secret``,
mode 0600) and read back on every later start, so tokens outlive restarts.

Blocking file I/O: call it from a thread.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["SECRET_FILE", "playback_secret"]

SECRET_FILE = "playback_token_secret"
_BYTES = 32


def playback_secret(configured: str, data_dir: Path) -> bytes:
    """The signing secret: ``configured`` (UTF-8) if set, else the data directory's file."""
    if configured:
        return configured.encode("utf-8")
    path = data_dir / SECRET_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        text = ""
    if not text:
        data_dir.mkdir(parents=True, exist_ok=True)
        text = secrets.token_hex(_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile: theirs counts
            return playback_secret("", data_dir)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(text + "\n")
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise ValueError(
            f"{path} does not hold a hex secret: delete it to make a new one"
        ) from None
    if len(secret) < 16:
        raise ValueError(f"{path} holds a secret shorter than 16 bytes: delete it")
    return secret
