"""Children that die with the server: PR_SET_PDEATHSIG, set in the child before exec.

A server killed with SIGKILL runs no cleanup; without this its ffmpeg children would live on
as orphans (re-parented to init) and keep encoding. Linux delivers the signal when the thread
that forked the child exits, which for asyncio is the event loop's thread, the main thread.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["child_preexec"]

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Looked up once in the parent: after fork the child only makes the call.
_PRCTL = _load_prctl()


def _die_with_parent(parent: int) -> None:
    assert _PRCTL is not None
    _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:
        # The parent died between fork and prctl: the signal will never come.
        os.kill(os.getpid(), signal.SIGKILL)


def child_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` that ties the child's life to this process, or None off Linux."""
    if _PRCTL is None:
        return None
    return functools.partial(_die_with_parent, os.getpid())
