"""What every test service started on loopback needs: a free port, the rule for a missing
binary (skipped locally, a failure under CI=true: a CI run must test it), and the control of
its process (freeze it to play an outage, thaw it, stop it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
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


class ServiceProcess:
    """A test service's process: ``_proc`` is set by the subclass's ``start``."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections are accepted by the kernel, never answered."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGCONT)  # a paused process would not see SIGTERM
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
