"""Viewer counting: one viewer per session id, gone after the expiry, bounded, peak kept."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from golive.store.viewer_sessions import ViewerSessions, session_id


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cmcd_session_id_from_query_or_header_else_address_and_agent() -> None:
    assert session_id('bl=2100,sid="6e2fb550-c457",su', None, "1.2.3.4", "x") == "c:6e2fb550-c457"
    assert session_id(None, 'sid="abc"', "1.2.3.4", "x") == "c:abc"
    a = session_id(None, None, "1.2.3.4", "VLC/3.0")
    assert a.startswith("a:") and a == session_id("br=300", None, "1.2.3.4", "VLC/3.0")
    assert a != session_id(None, None, "1.2.3.4", "Lavf/61")
    assert a != session_id(None, None, "1.2.3.5", "VLC/3.0")


@given(st.text(max_size=300), st.text(max_size=300))
def test_session_ids_are_bounded_whatever_the_client_sends(query: str, header: str) -> None:
    sid = session_id(query, header, "::1", "agent")
    assert len(sid) <= 2 + 64


def test_each_session_counts_once_and_leaves_after_the_expiry() -> None:
    clock = Clock()
    viewers = ViewerSessions(expiry=30, clock=clock)
    for _ in range(5):
        viewers.seen("demo", "t1", "c:a")
        viewers.seen("demo", "t1", "c:b")
        clock.now += 1
    viewers.seen("other", "t9", "c:a")
    assert viewers.count("demo") == 2 and viewers.count("other") == 1
    clock.now += 20
    viewers.seen("demo", "t1", "c:a")  # b stops playing
    clock.now += 15
    assert viewers.count("demo") == 1
    assert viewers.peak("demo") == 2
    clock.now += 31
    assert viewers.count("demo") == 0 and viewers.peak("demo") == 2


def test_a_new_stream_counts_from_zero() -> None:
    clock = Clock()
    viewers = ViewerSessions(clock=clock)
    viewers.seen("demo", "t1", "c:a")
    viewers.seen("demo", "t1", "c:b")
    viewers.seen("demo", "t2", "c:a")
    assert viewers.count("demo") == 1 and viewers.peak("demo") == 1
    viewers.forget("demo")
    assert viewers.count("demo") == 0


def test_sessions_per_channel_are_capped() -> None:
    clock = Clock()
    viewers = ViewerSessions(max_sessions=100, clock=clock)
    for i in range(1000):
        viewers.seen("demo", "t1", f"c:{i}")
    assert viewers.count("demo") == 100
    clock.now += 31  # they all expire; new ones are counted again
    viewers.seen("demo", "t1", "c:new")
    assert viewers.count("demo") == 1
