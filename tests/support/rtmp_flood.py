"""Hostile RTMP clients and a /healthz prober, in their own process (so that their work does
not run on the event loop of the server under test).

``python -m tests.support.rtmp_flood RTMP_PORT HTTP_PORT SECONDS ATTACKERS`` runs
ATTACKERS threads, each from its own loopback address (127.0.0.20, .21, ...): connect, do
the RTMP handshake, send one ``connect`` command announcing 16 MiB of AMF0 null markers,
read until the server closes, repeat ten times a second. Meanwhile the main thread times ``GET /healthz``
every 20 ms (unless HTTP_PORT is 0; run the prober with ATTACKERS 0 in a process of its own,
so that the attackers' threads do not delay its timing). Prints one JSON object: healthz latencies (s), attacks sent, attacks the
server closed, errors.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

import httpx

from golive.ingest.rtmp.chunk_stream import ChunkStreamWriter
from golive.media import amf0

HANDSHAKE = 1536


def huge_connect() -> bytes:
    head = amf0.encode("connect", 1.0)
    body = head + b"\x05" * (0xFFFFFF - len(head))
    # Set Chunk Size 4096 first, as ffmpeg and OBS do; then the connect in 4096-byte chunks.
    set_chunk_size = ChunkStreamWriter().write(2, 1, 0, 0, (4096).to_bytes(4, "big"))
    return set_chunk_size + ChunkStreamWriter(4096).write(3, 20, 0, 0, body)


def attacker(port: int, source: str, until: float, payload: bytes, stats: dict[str, int]) -> None:
    while time.monotonic() < until:
        try:
            sock = socket.create_connection(("127.0.0.1", port), 5, source_address=(source, 0))
        except OSError:
            stats["errors"] += 1
            time.sleep(0.05)
            continue
        with sock:
            try:
                sock.sendall(b"\x03" + bytes(HANDSHAKE))
                got = b""
                while len(got) < 1 + 2 * HANDSHAKE:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("closed during the handshake")
                    got += chunk
                sock.sendall(got[1 : 1 + HANDSHAKE])  # C2 echoes S1
            except OSError:
                stats["errors"] += 1
                continue
            stats["sent"] += 1
            try:
                sock.sendall(payload)
                sock.settimeout(10)
                while sock.recv(65536):
                    pass
            except OSError:
                pass  # reset: the server closed on us, as it should
            stats["closed"] += 1
        # Ten attempts a second per attacker: a sustained flood, short of saturating the
        # 2 shared cores with loopback copies of payloads the server never reads.
        time.sleep(0.1)


def main() -> None:
    rtmp_port, http_port, seconds, attackers = map(int, sys.argv[1:5])
    payload = huge_connect()
    until = time.monotonic() + seconds
    stats = [{"sent": 0, "closed": 0, "errors": 0} for _ in range(attackers)]
    threads = [
        threading.Thread(
            target=attacker, args=(rtmp_port, f"127.0.0.{20 + i}", until, payload, stats[i])
        )
        for i in range(attackers)
    ]
    for t in threads:
        t.start()
    latencies: list[float] = []
    with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as client:
        while http_port and time.monotonic() < until:
            start = time.perf_counter()
            r = client.get("/healthz")
            latencies.append(time.perf_counter() - start)
            assert r.status_code == 200
            time.sleep(0.02)
    for t in threads:
        t.join()
    totals = {k: sum(s[k] for s in stats) for k in ("sent", "closed", "errors")}
    print(json.dumps({"latencies": latencies, "per_attacker": stats, **totals}))


if __name__ == "__main__":
    main()
