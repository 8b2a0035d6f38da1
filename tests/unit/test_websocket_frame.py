"""Room-encoded text frames, read back by the websockets library's own frame parser."""

from __future__ import annotations

import pytest
from websockets.frames import Opcode
from websockets.protocol import Protocol, Side, State

from golive.chat.websocket_frame import encode_text_frame


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
