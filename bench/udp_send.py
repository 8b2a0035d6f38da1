"""What one WHEP packet costs to send, in parts: SRTP (pylibsrtp, AES-CM-128 + HMAC-SHA1-80),
a ``sendto`` per datagram, and a segmented write (UDP GSO, golive's DatagramWriter) per
datagram, on loopback to a receiver that drains nothing until the end (its buffer holds all).

Usage: .venv/bin/python bench/udp_send.py [--packets 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import time

from pylibsrtp import Policy, Session

from golive.webrtc.datagram_batches import DatagramWriter

SIZE = 1200  # an FU-A fragment's RTP packet (golive's packetizer)
BATCH = 11  # packets of a 3 Mbps 30 fps access unit


def one_run(count: int) -> tuple[float, float, float]:
    policy = Policy(
        key=os.urandom(30),
        ssrc_type=Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    )
    srtp = Session(policy=policy)
    packets = [
        bytes([0x80, 96]) + struct.pack("!HII", i % 65536, i // BATCH, 1) + os.urandom(SIZE - 12)
        for i in range(count)
    ]
    started = time.perf_counter()
    protected = [srtp.protect(p) for p in packets]
    protect_us = (time.perf_counter() - started) / count * 1e6

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE (root)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    address = receiver.getsockname()
    try:
        started = time.perf_counter()
        for datagram in protected:
            sender.sendto(datagram, address)
        sendto_us = (time.perf_counter() - started) / count * 1e6
        writer = DatagramWriter(sender, address)
        batches = [protected[i : i + BATCH] for i in range(0, count, BATCH)]
        started = time.perf_counter()
        for batch in batches:
            writer.send(batch)
        gso_us = (time.perf_counter() - started) / count * 1e6
    finally:
        sender.close()
        receiver.close()
    return protect_us, sendto_us, gso_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run(args.packets) for _ in range(args.runs)]
    for i, name in enumerate(("SRTP protect", "sendto", f"segmented write ({BATCH} a call)")):
        values = [r[i] for r in runs]
        print(
            f"{name}: {statistics.median(values):.2f} us a packet "
            f"({min(values):.2f}-{max(values):.2f}, {args.runs} runs of {args.packets})"
        )


if __name__ == "__main__":
    main()
