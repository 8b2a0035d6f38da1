"""moto's S3-compatible server as a child process on loopback, for the S3 storage tests.

`running_s3_server()` starts `python -m moto.server` on 127.0.0.1 and a free port, waits
until it answers, creates a bucket and stops the process on exit; `stop()` and `start()`
let a test take storage away and bring it back (moto keeps everything in memory, so a
restarted server has lost its buckets: `start()` creates the bucket again). The session
fixture `s3_server` in tests/conftest.py yields the `s3://` URL of one such server.

Without moto the tests skip locally and fail under `CI=true` (`require_moto`).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.loopback import ServiceProcess, free_port, missing_dependency

BUCKET = "golive-test"
ACCESS_KEY_ID = "golive-test-key"
SECRET_ACCESS_KEY = "golive-test-secret"  # moto accepts any credentials
START_TIMEOUT = 30.0


def moto_available() -> bool:
    return importlib.util.find_spec("moto") is not None and (
        importlib.util.find_spec("moto.server") is not None
    )


def require_moto() -> None:
    """Skip without moto's server; under CI=true, fail (a CI run must test S3)."""
    if moto_available():
        return
    message = "moto[server] is not installed (pip install -e '.[test]')"
    missing_dependency(message)


class S3Server(ServiceProcess):
    """One moto server process; the port stays the same across stop() and start()."""

    def __init__(self, log: Path, bucket: str = BUCKET) -> None:
        super().__init__()
        self.port = free_port()
        self.bucket = bucket
        self._log = log

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, prefix: str = "", **parameters: str) -> str:
        """The `recording_storage` URL of the bucket (test credentials in the query)."""
        query = {
            "endpoint": self.endpoint,
            "region": "us-east-1",
            "access_key_id": ACCESS_KEY_ID,
            "secret_access_key": SECRET_ACCESS_KEY,
            **parameters,
        }
        path = f"/{prefix.strip('/')}" if prefix.strip("/") else ""
        return f"s3://{self.bucket}{path}?" + "&".join(f"{k}={v}" for k, v in query.items())

    def start(self) -> None:
        assert self._proc is None, "already running"
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._proc.poll() is not None:
                self._proc = None
                raise RuntimeError(f"moto server exited at start; see {self._log}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto server not answering; see {self._log}") from None
                time.sleep(0.1)
        request = urllib.request.Request(f"{self.endpoint}/{self.bucket}", method="PUT")
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200


@contextmanager
def running_s3_server(bucket: str = BUCKET) -> Iterator[S3Server]:
    require_moto()
    with tempfile.TemporaryDirectory(prefix="golive-moto-") as folder:
        server = S3Server(Path(folder) / "moto.log", bucket)
        server.start()
        try:
            yield server
        finally:
            server.stop()
