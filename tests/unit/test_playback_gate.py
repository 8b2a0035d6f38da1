"""The /p/<token>/ door: path tricks, tokens for another resource, the Cache-Control cap,
and rate-limited refusal logs."""

from __future__ import annotations

import logging

import pytest

from golive.accounts.playback_tokens import PlaybackKind, PlaybackTokens
from golive.http.channel_access import ChannelAccess
from golive.http.playback_gate import PlaybackGate, split

SECRET = b"0123456789abcdef0123456789abcdef"
NOW = 1_800_000_000.0


def gate(now: float = NOW) -> PlaybackGate:
    return PlaybackGate(PlaybackTokens(SECRET), clock=lambda: now)


def token(kind: PlaybackKind = PlaybackKind.LIVE, resource: str = "alice", ttl: int = 60) -> str:
    return PlaybackTokens(SECRET).issue(kind, resource, int(NOW) + ttl)


def test_split_takes_a_token_path_apart() -> None:
    t = token()
    found = split(f"/p/{t}/live/alice/source/index.m3u8")
    assert found is not None
    assert (found.token, found.rest, found.kind, found.resource) == (
        t,
        "/live/alice/source/index.m3u8",
        PlaybackKind.LIVE,
        "alice",
    )
    vod = split(f"/p/{t}/vod/AbCdEfGhIjKlMnOp/source/3.m4s")
    assert vod is not None and vod.kind is PlaybackKind.VOD
    clip = split(f"/p/{t}/clip/c1/index.m3u8")
    assert clip is not None and clip.kind is PlaybackKind.CLIP


@pytest.mark.parametrize(
    "rest",
    [
        "/live/alice/../bob/index.m3u8",
        "/live/alice/./index.m3u8",
        "/live/alice/source/..",
        "/live/alice%2F..%2Fbob/index.m3u8",
        "/live/alice/source%2Findex.m3u8",
        "/live/%61lice/index.m3u8",
        "/live/alice//index.m3u8",
        "/live/alice",
        "/other/alice/index.m3u8",
        "/live/../index.m3u8",
        "/vod/../../golive.db",
    ],
)
def test_split_refuses_path_tricks(rest: str) -> None:
    assert split(f"/p/{token()}{rest}") is None


def test_a_token_opens_only_what_it_names() -> None:
    g = gate()
    live = token()
    found = split(f"/p/{live}/live/alice/index.m3u8")
    assert found is not None and not isinstance(g.check(found), str)
    for path, reason in [
        (f"/p/{live}/live/bob/index.m3u8", "another resource"),
        (f"/p/{live}/vod/alice/index.m3u8", "another resource"),
        (f"/p/{token(PlaybackKind.VOD)}/live/alice/index.m3u8", "another resource"),
        # Another canonical last character (its 2 unused bits zero): another signature.
        (f"/p/{live[:-1]}{'E' if live.endswith('A') else 'A'}/live/alice/index.m3u8", "signature"),
        ("/p/nonsense/live/alice/index.m3u8", "malformed"),
    ]:
        found = split(path)
        assert found is not None, path
        refusal = g.check(found)
        assert isinstance(refusal, str) and reason in refusal, (path, refusal)
    found = split(f"/p/{live}/live/alice/index.m3u8")
    assert found is not None
    assert "expired" in str(gate(NOW + 60).check(found))


def test_cache_control_never_outlives_the_token() -> None:
    g = gate(NOW + 50)  # 10 s left
    found = split(f"/p/{token()}/live/alice/index.m3u8")
    assert found is not None
    claim = g.check(found)
    assert not isinstance(claim, str)
    assert g.cache_control("public, max-age=31536000, immutable", claim) == "public, max-age=10"
    assert g.cache_control("public, max-age=1", claim) == "public, max-age=1"
    assert g.cache_control("max-age=5", claim) == "public, max-age=5"
    assert g.cache_control("no-cache", claim) == "no-cache"
    assert g.cache_control("", claim) == "public, max-age=10"


def test_refusals_are_logged_at_a_bounded_rate(caplog: pytest.LogCaptureFixture) -> None:
    g = gate()
    found = split("/p/junk/live/alice/index.m3u8")
    assert found is not None
    with caplog.at_level(logging.WARNING, logger="golive.http"):
        for _ in range(50):
            g.check(found, "192.0.2.7")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "192.0.2.7" in lines[0] and "malformed" in lines[0]
    assert g.refused == 50


def test_channel_access() -> None:
    access = ChannelAccess({"hid": ("private", 7), "link": ("unlisted", 8)})
    assert access.is_private("hid") and not access.is_private("link")
    assert not access.is_listed("hid") and not access.is_listed("link")
    assert access.is_listed("open") and access.visibility("open") == "public"
    assert access.may_watch("hid", 7) and access.may_watch("hid", 1, is_admin=True)
    assert not access.may_watch("hid", 8) and not access.may_watch("hid", None)
    assert access.may_watch("link", None) and access.may_watch("open", None)
