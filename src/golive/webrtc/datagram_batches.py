"""Many UDP datagrams to one address in few system calls: Linux UDP segmentation (GSO).

A WHEP viewer's access unit is a run of RTP packets of one size (FU-A fragments) and a
shorter last one; after SRTP they are still all one size but the last. With the
``UDP_SEGMENT`` control message one ``sendmsg`` hands the kernel such a run concatenated,
and the kernel (or the network card) cuts it into the datagrams again: the receiver sees
the same datagrams as from one ``sendto`` each, at about a third of the CPU (one trip
through the socket layer instead of one per datagram).

``segment_runs`` is the pure part (which datagrams go together); ``DatagramWriter`` does the
writes, and falls back to a ``sendto`` per datagram for good when the kernel refuses GSO.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
from collections.abc import Sequence

__all__ = ["MAX_SEGMENTS", "DatagramWriter", "segment_runs"]

log = logging.getLogger("golive.webrtc")

UDP_SEGMENT = 103  # linux/udp.h: the segment size, as a cmsg at level SOL_UDP
MAX_SEGMENTS = 64  # UDP_MAX_SEGMENTS (Linux 4.18+)
MAX_BYTES = 65_000  # one UDP payload: under 65,535 less the UDP and IPv6 headers
_GSO_REFUSED = frozenset({errno.EINVAL, errno.EIO, errno.ENOPROTOOPT, errno.EOPNOTSUPP})


def segment_runs(
    sizes: Sequence[int], *, max_segments: int = MAX_SEGMENTS, max_bytes: int = MAX_BYTES
) -> list[tuple[int, int]]:
    """``[start, end)`` ranges covering ``sizes`` in order, each one write: every datagram
    of a range but the last has the first one's size, the last is no larger (the rule of
    ``UDP_SEGMENT``), and a range holds at most ``max_segments`` datagrams and ``max_bytes``."""
    runs = []
    i, n = 0, len(sizes)
    while i < n:
        size, total, j = sizes[i], sizes[i], i + 1
        while j < n and j - i < max_segments and total + sizes[j] <= max_bytes:
            if sizes[j] != size:
                if sizes[j] < size:
                    total += sizes[j]
                    j += 1  # a shorter datagram may end the run
                break
            total += sizes[j]
            j += 1
        runs.append((i, j))
        i = j
    return runs


class DatagramWriter:
    """Writes datagrams to ``address`` on a non-blocking UDP socket, in order."""

    gso = True  # for the process: cleared the first time the kernel refuses a segmented write

    def __init__(self, sock: socket.socket, address: tuple[str, int]) -> None:
        self._sock = sock
        self._address = address
        self.datagrams = 0  # written so far
        self.writes = 0  # system calls that wrote them

    def send(self, datagrams: Sequence[bytes]) -> int:
        """Write ``datagrams``; the number written before the socket's buffer filled (the
        caller queues the rest). A datagram the network refuses (unreachable, filtered) is
        dropped, as a UDP datagram lost on the way would be."""
        sock, address = self._sock, self._address
        sizes = [len(d) for d in datagrams]
        runs = (
            segment_runs(sizes) if DatagramWriter.gso else [(i, i + 1) for i in range(len(sizes))]
        )
        for start, end in runs:
            try:
                if end - start == 1:
                    sock.sendto(datagrams[start], address)
                else:
                    self._send_run(datagrams[start:end], sizes[start])
                self.datagrams += end - start
                self.writes += 1
            except BlockingIOError:
                return start
            except OSError as exc:
                if end - start > 1 and exc.errno in _GSO_REFUSED and DatagramWriter.gso:
                    DatagramWriter.gso = False
                    log.warning("UDP segmentation (GSO) refused (%s): one write per datagram", exc)
                    sent = self.send(datagrams[start:])
                    return start + sent
                log.debug("a UDP datagram to %s was refused: %s", address, exc)
        return len(datagrams)

    def _send_run(self, run: Sequence[bytes], segment: int) -> None:
        control = [(socket.SOL_UDP, UDP_SEGMENT, struct.pack("=H", segment))]
        self._sock.sendmsg([b"".join(run)], control, 0, self._address)
