"""A real ``redis-server`` as a child process on loopback, for the scale-out tests.

`running_redis_server()` starts Debian's redis-server on 127.0.0.1 and a free port with no
persistence, in a temporary folder, waits until it answers PING and stops it on exit;
`stop()` and `start()` take it away and bring it back on the same port (an outage: the data
is gone, as after a restart with no persistence), `pause()`/`resume()` freeze it (SIGSTOP:
connections are accepted by the kernel and never answered). The session fixture
`redis_server` in tests/conftest.py yields one such server; tests that need an empty one
call `flush()`.

Without redis-server the tests skip locally and fail under `CI=true` (`require_redis`);
`make test` installs it when run as root.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.loopback import ServiceProcess, free_port, missing_dependency

START_TIMEOUT = 15.0


def redis_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


def require_redis() -> str:
    """The redis-server binary; skip without it, and under CI=true fail (CI must test it)."""
    binary = redis_binary()
    if binary is not None:
        return binary
    message = "redis-server is not installed (apt-get install redis-server; make test does)"
    missing_dependency(message)


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(ServiceProcess):
    """One redis-server process; the port stays the same across stop() and start()."""

    def __init__(self, binary: str, folder: Path) -> None:
        super().__init__()
        self.binary = binary
        self.folder = folder
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self._proc is None, "already running"
        log = self.folder / "redis.log"
        self._proc = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
                "--logfile",
                str(log),
                "--protected-mode",
                "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not _ping(self.port):
            if self._proc.poll() is not None:
                self._proc = None
                raise RuntimeError(f"redis-server exited at start; see {log}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server not answering; see {log}")
            time.sleep(0.05)

    def flush(self) -> None:
        """Empty every database (FLUSHALL), for a test that needs a clean server."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            assert sock.recv(16).startswith(b"+OK")


@contextmanager
def running_redis_server() -> Iterator[RedisServer]:
    binary = require_redis()
    with tempfile.TemporaryDirectory(prefix="golive-redis-") as folder:
        server = RedisServer(binary, Path(folder))
        server.start()
        try:
            yield server
        finally:
            server.stop()
