"""What every test service started on loopback needs: a free port, and the rule for a
missing binary (skipped locally, a failure under CI=true: a CI run must test it)."""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing_dependency(message: str) -> NoReturn:
    """Skip the test for want of ``message``'s dependency; under CI=true, fail it."""
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)
