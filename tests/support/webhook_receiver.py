"""A webhook receiver on 127.0.0.1 for tests: records requests, answers as told."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    # path -> (status, json body) for each request in turn; the last one repeats.
    answers: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    delay: Callable[[str], float] = lambda path: 0.0
    received: list[Received] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    _socket: socket.socket | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        assert self._socket is not None
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}{path}"

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        body = await request.body()
        self.received.append(
            Received(path, dict(request.headers), body, asyncio.get_running_loop().time())
        )
        self._arrived.set()
        self._arrived = asyncio.Event()
        pause = self.delay(path)
        if pause:
            await asyncio.sleep(pause)
        plan = self.answers.get(path, [(200, {"ok": True})])
        status, payload = plan.pop(0) if len(plan) > 1 else plan[0]
        return JSONResponse(payload, status_code=status)

    async def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 10
    ) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self.received):
                await self._arrived.wait()

    async def __aenter__(self) -> WebhookReceiver:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.setblocking(False)
        self._socket = sock
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, 5)
