"""A viewer's direct SRTP path: protected packets on the nominated pair's socket, and the
cases that go through aiortc instead (no pair yet, a TURN relay, datagrams queued in the
loop's transport), or fail (DTLS closed). aiortc's objects are faked; the sockets are real."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from golive.webrtc.srtp_udp_path import SrtpUdpPath
from tests.support.udp_pair import udp_pair


class FakeSrtp:
    def protect(self, packet: bytes) -> bytes:
        return packet + b"+tag"


@dataclass
class FakeTransport:
    """The event loop's datagram transport of the pair's socket."""

    sock: socket.socket | None
    queued: int = 0
    sent: list[bytes] = field(default_factory=list)

    def get_extra_info(self, name: str) -> Any:
        assert name == "socket"
        return self.sock

    def get_write_buffer_size(self) -> int:
        return self.queued

    def sendto(self, data: bytes, address: tuple[str, int]) -> None:
        self.sent.append(data)


def fake_dtls(transport: FakeTransport, address: tuple[str, int], kind: str = "host") -> Any:
    pair = SimpleNamespace(
        local_candidate=SimpleNamespace(type=kind),
        protocol=SimpleNamespace(transport=transport),
        remote_addr=address,
    )
    connection = SimpleNamespace(_nominated={1: pair})
    return SimpleNamespace(
        state="connected", _tx_srtp=FakeSrtp(), transport=SimpleNamespace(_connection=connection)
    )


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    with udp_pair() as sockets:
        yield sockets


def test_packets_are_protected_and_written_on_the_pairs_socket(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = sockets
    transport = FakeTransport(sender)
    path = SrtpUdpPath(fake_dtls(transport, receiver.getsockname()))
    packets = [b"a" * 1200, b"b" * 1200, b"c" * 300]
    assert path.send(packets)
    got = [receiver.recvfrom(2048) for _ in packets]
    assert [data for data, _ in got] == [p + b"+tag" for p in packets]
    assert {source for _, source in got} == {sender.getsockname()}  # the pair's own port
    assert (path.datagrams, path.writes) == (3, 1)
    assert transport.sent == []
    path.close()
    assert sender.fileno() >= 0  # the loop's socket stays open: the path closed its duplicate
    assert not path.send(packets)


def test_a_turn_relayed_pair_goes_through_aiortc(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = sockets
    path = SrtpUdpPath(fake_dtls(FakeTransport(sender), receiver.getsockname(), kind="relay"))
    assert not path.send([b"x"])
    assert path.datagrams == 0


def test_no_pair_yet_or_no_socket_goes_through_aiortc(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    _sender, receiver = sockets
    dtls = fake_dtls(FakeTransport(None), receiver.getsockname())
    assert not SrtpUdpPath(dtls).send([b"x"])
    dtls.transport._connection._nominated.clear()
    assert not SrtpUdpPath(dtls).send([b"x"])


def test_datagrams_queued_in_the_loop_go_first(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = sockets
    transport = FakeTransport(sender, queued=1500)
    path = SrtpUdpPath(fake_dtls(transport, receiver.getsockname()))
    assert not path.send([b"x"])  # behind them, through aiortc, in order
    transport.queued = 0
    assert path.send([b"y"])
    assert receiver.recv(100) == b"y+tag"


def test_a_full_socket_buffer_queues_the_rest_in_the_loop(
    sockets: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    sender, receiver = sockets
    transport = FakeTransport(sender)
    path = SrtpUdpPath(fake_dtls(transport, receiver.getsockname()))
    monkeypatch.setattr("golive.webrtc.datagram_batches.DatagramWriter.send", lambda self, d: 1)
    assert path.send([b"a", b"bb", b"ccc"])
    assert transport.sent == [b"bb+tag", b"ccc+tag"]
    assert path.datagrams == 1


def test_a_closed_dtls_transport_is_a_connection_error(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = sockets
    dtls = fake_dtls(FakeTransport(sender), receiver.getsockname())
    dtls.state = "closed"
    with pytest.raises(ConnectionError):
        SrtpUdpPath(dtls).send([b"x"])


def test_a_new_nominated_pair_gets_a_new_socket(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = sockets
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    try:
        dtls = fake_dtls(FakeTransport(sender), receiver.getsockname())
        path = SrtpUdpPath(dtls)
        assert path.send([b"1"])
        assert receiver.recvfrom(100)[1] == sender.getsockname()
        dtls.transport._connection._nominated[1] = fake_dtls(
            FakeTransport(other), receiver.getsockname()
        ).transport._connection._nominated[1]
        assert path.send([b"2"])
        assert receiver.recvfrom(100) == (b"2+tag", other.getsockname())
    finally:
        other.close()
