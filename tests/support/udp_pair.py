"""Two UDP sockets on loopback: a non-blocking sender (as an event loop's) and a receiver
that waits at most 2 s, for tests that check the datagrams that really arrive."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def udp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(2)
        sender.bind(("127.0.0.1", 0))
        sender.setblocking(False)
        yield sender, receiver
    finally:
        sender.close()
        receiver.close()
