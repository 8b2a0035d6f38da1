"""Where a wall-clock moment of a live session falls on its VOD's timeline (chat replay)."""

from __future__ import annotations

import math

import pytest

from golive.db.vod_timeline import VodTimeline

T0 = 1_700_000_000.0


def reconnected() -> VodTimeline:
    """Two timelines: 3 segments of 2 s from T0, then (the publisher was away 10 s) 2
    segments of 2 s from T0 + 16; VOD length 10 s."""
    return VodTimeline.of([(T0, 2.0), (T0 + 2, 2.0), (T0 + 4, 2.0), (T0 + 16, 2.0), (T0 + 18, 2.0)])


def test_a_moment_inside_a_segment_is_its_offset_plus_the_time_since_its_start() -> None:
    line = reconnected()
    assert line.duration == 10.0
    assert line.vod_time(T0) == 0.0
    assert line.vod_time(T0 + 3.5) == pytest.approx(3.5)
    # After the reconnect: the second timeline continues where the first ended (6 s).
    assert line.vod_time(T0 + 16) == pytest.approx(6.0)
    assert line.vod_time(T0 + 17.25) == pytest.approx(7.25)


def test_the_gap_of_a_reconnect_maps_to_where_the_picture_comes_back() -> None:
    line = reconnected()
    for wall in (T0 + 6, T0 + 9, T0 + 15.999):
        assert line.vod_time(wall) == pytest.approx(6.0)


def test_before_the_first_and_after_the_last_segment() -> None:
    line = reconnected()
    assert line.vod_time(T0 - 30) == 0.0
    assert line.vod_time(T0 + 500) == 10.0
    assert VodTimeline.of([]).vod_time(T0) == 0.0


def test_wall_from_is_the_first_moment_at_or_after_a_position() -> None:
    line = reconnected()
    assert line.wall_from(0.0) == -math.inf
    assert line.wall_from(1.0) == pytest.approx(T0 + 1)
    # 6.0 is the end of the first timeline: the gap starts there, and maps to 6.0 too.
    assert line.wall_from(6.0) == pytest.approx(T0 + 6)
    assert line.wall_from(6.5) == pytest.approx(T0 + 16.5)
    assert line.wall_from(10.0) == pytest.approx(T0 + 20)
    assert line.wall_from(10.01) == math.inf


@pytest.mark.parametrize("position", [0.5, 2.0, 3.3, 5.99, 6.0, 6.01, 8.0, 9.5, 10.0])
def test_wall_from_and_vod_time_agree(position: float) -> None:
    """The messages whose VOD time is in [a, b) are those sent in [wall_from(a),
    wall_from(b)): the mapping is monotonic and wall_from its least inverse."""
    line = reconnected()
    wall = line.wall_from(position)
    assert line.vod_time(wall) == pytest.approx(position)
    assert line.vod_time(wall - 0.001) < position


def test_program_date_times_that_run_backwards_are_held_at_the_previous_end() -> None:
    line = VodTimeline.of([(T0, 2.0), (T0 + 1.5, 2.0)])
    assert line.starts == (T0, T0 + 2.0)
    assert line.vod_time(T0 + 3.0) == pytest.approx(3.0)
