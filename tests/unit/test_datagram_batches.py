"""Segmented UDP writes: which datagrams go together, and that a receiver gets exactly the
datagrams it would have got from one sendto each (real loopback sockets)."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from golive.webrtc.datagram_batches import DatagramWriter, segment_runs
from tests.support.udp_pair import udp_pair


def test_equal_sizes_and_a_shorter_last_go_in_one_run() -> None:
    assert segment_runs([1210, 1210, 1210, 400]) == [(0, 4)]


def test_a_larger_datagram_starts_a_new_run() -> None:
    assert segment_runs([30, 1210, 1210, 600, 1210]) == [(0, 1), (1, 4), (4, 5)]


def test_a_shorter_datagram_ends_its_run_and_the_next_starts_another() -> None:
    assert segment_runs([100, 100, 50, 50, 50]) == [(0, 3), (3, 5)]


def test_runs_respect_the_segment_and_byte_limits() -> None:
    assert segment_runs([10] * 150) == [(0, 64), (64, 128), (128, 150)]
    assert segment_runs([1200] * 60, max_bytes=6000) == [(i, i + 5) for i in range(0, 60, 5)]
    assert segment_runs([]) == []


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with udp_pair() as sockets:
        yield sockets


def received(receiver: socket.socket, count: int) -> list[bytes]:
    return [receiver.recv(65536) for _ in range(count)]


def datagrams() -> list[bytes]:
    # An access unit's SRTP packets: small ones, fragments of one size, a shorter last.
    sizes = [30, 18, *[1210] * 70, 333, 1210, 700, 90]
    return [bytes([i % 256]) * size for i, size in enumerate(sizes)]


def test_the_receiver_gets_the_same_datagrams_in_fewer_writes(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = pair
    out = datagrams()
    writer = DatagramWriter(sender, receiver.getsockname())
    assert DatagramWriter.gso
    assert writer.send(out) == len(out)
    assert received(receiver, len(out)) == out
    assert writer.datagrams == len(out)
    # 30 and 18 | 53 of 1210 (65,000 bytes) | 17 of 1210 and 333 | 1210 and 700 | 90
    assert writer.writes == 5


class RefusingSocket:
    """A socket whose kernel has no UDP segmentation: sendmsg with UDP_SEGMENT fails."""

    def __init__(self, inner: socket.socket, error: int) -> None:
        self.inner = inner
        self.error = error
        self.refused = 0

    def sendmsg(self, *args: Any) -> int:
        self.refused += 1
        raise OSError(self.error, "refused")

    def sendto(self, data: bytes, address: tuple[str, int]) -> int:
        return self.inner.sendto(data, address)


@pytest.mark.parametrize("error", [errno.EIO, errno.EINVAL])
def test_a_kernel_refusing_segmentation_gets_one_write_per_datagram_from_then_on(
    pair: tuple[socket.socket, socket.socket],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: int,
) -> None:
    monkeypatch.setattr(DatagramWriter, "gso", True)
    sender, receiver = pair
    refusing = RefusingSocket(sender, error)
    out = datagrams()
    writer = DatagramWriter(refusing, receiver.getsockname())  # type: ignore[arg-type]
    assert writer.send(out) == len(out)
    assert received(receiver, len(out)) == out
    assert refusing.refused == 1 and not DatagramWriter.gso
    assert "UDP segmentation (GSO) refused" in caplog.text
    assert writer.send(out) == len(out)  # no second try
    assert refusing.refused == 1


class FullSocket:
    """A socket whose send buffer fills after ``room`` writes."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.written: list[bytes] = []

    def _write(self, data: bytes) -> int:
        if self.room == 0:
            raise BlockingIOError(errno.EAGAIN, "full")
        self.room -= 1
        self.written.append(data)
        return len(data)

    def sendmsg(self, buffers: list[bytes], *args: Any) -> int:
        return self._write(buffers[0])

    def sendto(self, data: bytes, address: tuple[str, int]) -> int:
        return self._write(data)


def test_a_full_send_buffer_returns_how_many_were_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DatagramWriter, "gso", True)
    full = FullSocket(room=2)
    out = datagrams()
    writer = DatagramWriter(full, ("127.0.0.1", 9))  # type: ignore[arg-type]
    assert writer.send(out) == 55  # two writes: 30 and 18, 53 of 1210; the caller queues the rest
    assert full.written == [out[0] + out[1], b"".join(out[2:55])]


def test_a_refused_datagram_is_dropped_and_the_rest_sent(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = pair
    calls: list[int] = []

    class Unreachable:
        def sendto(self, data: bytes, address: tuple[str, int]) -> int:
            calls.append(len(data))
            if len(calls) == 1:
                raise OSError(errno.ENETUNREACH, "unreachable")
            return sender.sendto(data, address)

    writer = DatagramWriter(Unreachable(), receiver.getsockname())  # type: ignore[arg-type]
    out = [b"a", b"bb", b"ccc"]  # growing sizes: one write each
    assert writer.send(out) == 3
    assert received(receiver, 2) == out[1:]
    assert writer.datagrams == 2
