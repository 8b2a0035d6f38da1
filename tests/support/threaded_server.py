"""golive running on its own event loop in a thread, for synchronous callers (schemathesis)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from golive.app import GoliveServer
from golive.config import Settings

T = TypeVar("T")


class ThreadedServer:
    def __init__(self, data_dir: Path, **overrides: Any) -> None:
        settings = Settings(
            host="127.0.0.1", rtmp_port=0, http_port=0, data_dir=data_dir, **overrides
        )
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.server = GoliveServer(settings)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> ThreadedServer:
        self.call(self.server.start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self.server.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.http_port}"
