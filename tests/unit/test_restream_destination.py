"""Restream destinations without I/O: the backoff, the status transitions on a fake clock,
the redaction of ffmpeg's output and the progress it reports."""

from __future__ import annotations

from golive.restream.destination import (
    Backoff,
    DestinationConfig,
    DestinationState,
    DestinationTracker,
)
from golive.restream.ffmpeg_output import ProgressParser, failure_reason, redact


def test_backoff_doubles_from_one_second_to_a_minute() -> None:
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_tracker_transitions_and_retry_delays_on_a_fake_clock() -> None:
    tracker = DestinationTracker(Backoff(initial=1, maximum=8, reset_after=60))
    assert tracker.status(0).state is DestinationState.IDLE
    assert tracker.due(0)
    tracker.connecting()
    assert tracker.status(0).state is DestinationState.CONNECTING
    delays = []
    now = 0.0
    for _ in range(5):
        delays.append(tracker.failed("Connection refused", now))
        status = tracker.status(now + 0.25)
        assert status.state is DestinationState.FAILED
        assert status.reason == "Connection refused"
        assert status.retry_in == delays[-1] - 0.25
        assert not tracker.due(now + delays[-1] - 0.01)
        now += delays[-1]
        assert tracker.due(now)
        tracker.connecting()
    assert delays == [1, 2, 4, 8, 8]


def test_a_minute_live_resets_the_backoff() -> None:
    tracker = DestinationTracker(Backoff(initial=1, maximum=60, reset_after=60))
    for _ in range(4):
        tracker.connecting()
        tracker.failed("refused", 0)
    tracker.connecting()
    tracker.live(100.0)
    tracker.bitrate_bps = 2_000_000
    status = tracker.status(101.0)
    assert status.state is DestinationState.LIVE and status.reason == ""
    assert status.bitrate_bps == 2_000_000
    # Live for less than a minute: the failures before still count.
    assert tracker.failed("destination stalled", 130.0) == 16
    tracker.connecting()
    tracker.live(200.0)
    assert tracker.failed("destination stalled", 261.0) == 1


def test_config_target_and_repr_hide_nothing_but_the_key() -> None:
    config = DestinationConfig(3, "rtmp://live.example/app/", "sk_live_SECRET", "yt")
    assert config.target == "rtmp://live.example/app/sk_live_SECRET"
    assert "SECRET" not in repr(config)


def test_redact_removes_keys_and_the_url_path_after_the_app() -> None:
    key = "abcd-SECRET-1234"
    target = f"rtmp://127.0.0.1:1935/live2/{key}"
    line = f"[tcp @ 0x55] Connection to tcp://127.0.0.1:1935 failed: {target}: I/O error"
    out = redact(line, [target, key])
    assert key not in out and "SECRET" not in out
    assert "rtmp://127.0.0.1:1935/live2/…" in out
    # A URL-shaped key that is not among the secrets is still cut after the app name.
    assert redact("rtmps://a.example/app/other-key?x=1 refused", []) == (
        "rtmps://a.example/app/… refused"
    )
    assert redact("rtmp://host/onlykey: refused", []) == "rtmp://host/…: refused"
    assert redact("Error opening output", [key]) == "Error opening output"


def test_progress_parser_reports_blocks_with_the_bytes_written() -> None:
    parser = ProgressParser()
    assert parser.feed(b"frame=0\ntotal_size=N/A\nprogr") == []
    blocks = parser.feed(b"ess=continue\nframe=30\ntotal_size=120000\nprogress=continue\n")
    assert [(b.total_size, b.ended) for b in blocks] == [(0, False), (120000, False)]
    assert [(b.total_size, b.ended) for b in parser.feed(b"total_size=9\nprogress=end\n")] == [
        (120000, True)
    ]


def test_failure_reason_is_the_cause_not_the_summary() -> None:
    refused = [
        "[tcp @ 0x557da6423080] Connection to tcp://127.0.0.1:1?tcp_nodelay=0 failed: "
        "Connection refused",
        "[rtmp @ 0x557da642ad80] Cannot open connection tcp://127.0.0.1:1?tcp_nodelay=0",
        "[out#0/flv @ 0x557da6424080] Error opening output rtmp://127.0.0.1:1/live/…: "
        "Connection refused",
        "Error opening output file rtmp://127.0.0.1:1/live/….",
        "Error opening output files: Connection refused",
    ]
    assert failure_reason(refused) == (
        "Connection to tcp://127.0.0.1:1?tcp_nodelay=0 failed: Connection refused"
    )
    tls = ["[tls @ 0x56093f120300] error:0A000086:SSL routines::certificate verify failed"]
    assert failure_reason(tls) == "error:0A000086:SSL routines::certificate verify failed"
    assert failure_reason(["Error opening output files: End of file"]) == (
        "Error opening output files: End of file"
    )
    assert failure_reason([]) == ""
