"""The chat socket's wire: text frames read back by the websockets library's own frame
parser, and the direct write path offered only through a checked uvicorn."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from websockets.frames import Opcode
from websockets.protocol import Protocol, Side, State

from golive.http import websocket_wire
from golive.http.websocket_text_frame import encode_text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_frames_of_every_length_form_decode_as_one_text_frame(size: int) -> None:
    text = ("é" * size)[:size] if size % 2 else "x" * size
    client = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    client.receive_data(encode_text_frame(text))
    events = client.events_received()
    assert len(events) == 1
    assert events[0].opcode is Opcode.TEXT and events[0].fin
    assert events[0].data.decode() == text
    assert client.parser_exc is None


@pytest.fixture
def fresh_version_check() -> Iterator[None]:
    websocket_wire._uvicorn_protocol_class.cache_clear()
    yield
    websocket_wire._uvicorn_protocol_class.cache_clear()


async def _asgi_send(message: Any) -> None:
    pass


@pytest.mark.usefixtures("fresh_version_check")
def test_no_direct_path_but_through_a_checked_uvicorns_own_connection() -> None:
    assert websocket_wire.direct_writer({"type": "websocket"}) is None
    scope = {"type": "websocket", websocket_wire.SCOPE_KEY: _asgi_send}
    assert websocket_wire.direct_writer(scope) is None  # another server's send


@pytest.mark.usefixtures("fresh_version_check")
def test_an_unchecked_uvicorn_gets_plain_asgi_sends(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    low, high = websocket_wire.CHECKED_UVICORN
    assert low <= tuple(int(p) for p in uvicorn.__version__.split(".")[:2]) < high
    monkeypatch.setattr(uvicorn, "__version__", f"{high[0]}.{high[1]}.0")
    protocol = websocket_wire._uvicorn_protocol_class
    assert protocol() is None
    assert "not one checked" in caplog.text
    assert websocket_wire.direct_writer({"type": "websocket"}) is None
