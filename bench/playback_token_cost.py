"""CPU cost of checking a signed playback token, what every ``/p/<token>/live/...`` request
pays on the lean path before its plain answer: taking the raw path apart
(``playback_gate.split``), the HMAC-SHA256 of the payload, the constant-time compare, the
expiry and the resource check (``PlaybackGate.check``), and the Cache-Control cap.

Cases: a valid token; a forged one (the MAC differs: the same work, then a refusal, its log
line rate-limited); with one previous secret kept for rotation (two HMACs). Each figure is
the best of ``--runs`` runs of ``--number`` checks (the minimum is the cost; the rest is other
processes on a shared machine), in microseconds per request.

Usage: .venv/bin/python bench/playback_token_cost.py [--runs 7] [--number 20000]
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

from golive.accounts.playback_tokens import PlaybackKind, PlaybackTokens
from golive.http.playback_gate import PlaybackGate, split

SECRET = b"0123456789abcdef0123456789abcdef"
OLD = b"fedcba9876543210fedcba9876543210"
PART = "/live/demo/source/1a2b3c4d/123.4.m4s"


def _case(tokens: PlaybackTokens, forged: bool) -> Callable[[], object]:
    gate = PlaybackGate(tokens, log_interval=3600.0)
    token = tokens.issue(PlaybackKind.LIVE, "demo", int(time.time()) + 3600)
    if forged:
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    path = f"/p/{token}{PART}"

    def once() -> object:
        found = split(path)
        assert found is not None
        claim = gate.check(found, "127.0.0.1")
        if isinstance(claim, str):
            return claim
        return gate.cache_control("public, max-age=31536000, immutable", claim)

    return once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the refusals' (rate-limited) log lines
    cases = {
        "valid token": _case(PlaybackTokens(SECRET), forged=False),
        "forged token (403)": _case(PlaybackTokens(SECRET), forged=True),
        "valid, with a previous secret": _case(PlaybackTokens(SECRET, OLD), forged=False),
    }
    print(f"{'case':32} {'best us':>8} {'median us':>10}")
    for name, once in cases.items():
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            for _ in range(args.number):
                once()
            times.append((time.perf_counter() - start) / args.number * 1e6)
        times.sort()
        print(f"{name:32} {times[0]:8.2f} {times[len(times) // 2]:10.2f}")


if __name__ == "__main__":
    main()
