"""The SRT stream id forms golive takes, and a clear error for everything else."""

from __future__ import annotations

import pytest

from golive.ingest.srt.stream_id import StreamIdError, parse_stream_id

KEY = "live_0123456789abcdef"


@pytest.mark.parametrize(
    "stream_id",
    [
        f"publish:{KEY}",
        f"#!::r=live/{KEY},m=publish",
        f"#!::m=publish,r=live/{KEY}",
        f"#!::r={KEY},m=publish",
        f"#!::u=someone,r=app/live/{KEY},m=publish,s=session",
        f"#!:: r=live/{KEY} , m=publish",
    ],
)
def test_key_is_found(stream_id: str) -> None:
    assert parse_stream_id(stream_id) == KEY


@pytest.mark.parametrize(
    ("stream_id", "message", "wrong_mode"),
    [
        (None, "no stream id", False),
        ("", "no stream id", False),
        ("publish:", "empty stream key", False),
        (f"read:{KEY}", "mode 'read' is not publish", True),
        (f"play:{KEY}", "is not publish", True),
        (f"#!::r=live/{KEY}", "m=request is not publish", True),
        (f"#!::r=live/{KEY},m=request", "m=request is not publish", True),
        (f"#!::r=live/{KEY},m=bidirectional", "is not publish", True),
        ("#!::m=publish", "no resource", False),
        ("#!::r=live/,m=publish", "empty stream key", False),
        ("#!::r=live/x,m=publish,m=publish", "repeats 'm'", False),
        ("#!::r", "is not key=value", False),
        (f"#!::{KEY},m=publish", "is not key=value", False),
        (KEY, "form not recognised", False),
        (f"live/{KEY}", "form not recognised", False),
        (f"publish:{KEY}:user:pass", "is not supported", False),
        ("publish:a b", "spaces or control characters", False),
        ("publish:" + "k" * 600, "longer than SRT's 512 bytes", False),
    ],
)
def test_refused_with_a_reason(stream_id: str | None, message: str, wrong_mode: bool) -> None:
    with pytest.raises(StreamIdError) as caught:
        parse_stream_id(stream_id)
    assert message in str(caught.value)
    assert caught.value.problem.wrong_mode is wrong_mode
    # The key itself is not echoed (the listener logs the message).
    assert KEY not in str(caught.value)
