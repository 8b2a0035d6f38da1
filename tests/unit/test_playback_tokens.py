"""Playback tokens: the format, the signature, expiry, the resource named, rotation, and
the secret kept in the data directory."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from golive.accounts.playback_secret import SECRET_FILE, playback_secret
from golive.accounts.playback_tokens import PlaybackKind, PlaybackTokens, TokenRefused

SECRET = b"0123456789abcdef0123456789abcdef"
NOW = 1_800_000_000.0


def test_a_token_names_its_resource_until_it_expires() -> None:
    tokens = PlaybackTokens(SECRET)
    token = tokens.issue(PlaybackKind.LIVE, "alice", int(NOW) + 60)
    claim = tokens.verify(token, NOW)
    assert (claim.kind, claim.resource, claim.expires) == (PlaybackKind.LIVE, "alice", NOW + 60)
    assert claim.covers(PlaybackKind.LIVE, "alice")
    assert not claim.covers(PlaybackKind.LIVE, "bob")
    assert not claim.covers(PlaybackKind.VOD, "alice")
    # One path segment of URL-safe characters, readable but not forgeable.
    assert all(c.isalnum() or c in "-_." for c in token) and token.count(".") == 1
    payload = token.split(".")[0]
    assert base64.urlsafe_b64decode(payload + "==") == f"l:alice:{int(NOW) + 60}".encode()
    with pytest.raises(TokenRefused, match="expired"):
        tokens.verify(token, NOW + 60)
    vod = tokens.issue(PlaybackKind.VOD, "AbC_d-0123456789xyz", int(NOW) + 5)
    assert tokens.verify(vod, NOW).covers(PlaybackKind.VOD, "AbC_d-0123456789xyz")
    clip = tokens.issue(PlaybackKind.CLIP, "clip42", int(NOW) + 5)
    assert tokens.verify(clip, NOW).kind is PlaybackKind.CLIP


def _forged(token: str, payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "." + token.split(".")[1]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: _forged(t, f"l:bob:{int(NOW) + 60}".encode()),  # another channel
        lambda t: _forged(t, f"l:alice:{int(NOW) + 99999}".encode()),  # a later expiry
        lambda t: _forged(t, f"v:alice:{int(NOW) + 60}".encode()),  # another kind
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: t.split(".")[0] + "." + "A" * 43,
    ],
)
def test_a_changed_token_is_refused(mangle: object) -> None:
    tokens = PlaybackTokens(SECRET)
    token = tokens.issue(PlaybackKind.LIVE, "alice", int(NOW) + 60)
    assert callable(mangle)
    with pytest.raises(TokenRefused, match=r"signature|malformed"):
        tokens.verify(mangle(token), NOW)


@pytest.mark.parametrize(
    "token",
    ["", ".", "abc", "a.b", "x" * 300, "bDphbGljZTox." + "A" * 42, "bDo6MQ." + "A" * 43, "é.é"],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenRefused):
        PlaybackTokens(SECRET).verify(token, NOW)


def test_only_the_canonical_spelling_of_a_token_verifies() -> None:
    """A 32-byte signature is 43 base64 characters, the last carrying 2 unused bits that a
    decoder ignores: the three other spellings of that character are refused."""
    tokens = PlaybackTokens(SECRET)
    token = tokens.issue(PlaybackKind.LIVE, "alice", int(NOW) + 60)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    assert last & 3 == 0
    for spare in (1, 2, 3):
        twin = token[:-1] + alphabet[last | spare]
        with pytest.raises(TokenRefused, match="malformed"):
            tokens.verify(twin, NOW)
    assert tokens.verify(token, NOW).resource == "alice"


def test_a_payload_without_the_expected_fields_is_refused_even_when_signed() -> None:
    tokens = PlaybackTokens(SECRET)
    good = tokens.issue(PlaybackKind.LIVE, "alice", int(NOW) + 60)
    # Re-sign odd payloads with the real key: the parser must still refuse them.
    for payload in (b"x:alice:1", b"l:alice", b"l:al/ice:99999999999", b"l:alice:soon"):
        mac = tokens._mac(0, payload)  # forged with the real key
        odd = (
            base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
            + "."
            + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        )
        with pytest.raises(TokenRefused, match="malformed"):
            tokens.verify(odd, NOW)
    assert tokens.verify(good, NOW).resource == "alice"


def test_rotation_keeps_old_tokens_valid_while_the_old_secret_is_listed() -> None:
    old = PlaybackTokens(SECRET)
    new_secret = b"fedcba9876543210fedcba9876543210"
    token = old.issue(PlaybackKind.LIVE, "alice", int(NOW) + 60)
    assert PlaybackTokens(new_secret, SECRET).verify(token, NOW).resource == "alice"
    with pytest.raises(TokenRefused, match="signature"):
        PlaybackTokens(new_secret).verify(token, NOW)
    # The new secret signs.
    fresh = PlaybackTokens(new_secret, SECRET).issue(PlaybackKind.LIVE, "alice", int(NOW) + 60)
    with pytest.raises(TokenRefused):
        old.verify(fresh, NOW)


def test_weak_secrets_and_bad_resources_are_refused() -> None:
    with pytest.raises(ValueError):
        PlaybackTokens(b"short")
    with pytest.raises(ValueError):
        PlaybackTokens(SECRET).issue(PlaybackKind.LIVE, "../etc", int(NOW))


def test_the_secret_is_generated_once_with_owner_only_permissions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = playback_secret("", data)
    assert len(first) == 32
    mode = stat.S_IMODE((data / SECRET_FILE).stat().st_mode)
    assert mode == 0o600
    assert playback_secret("", data) == first  # read back, not regenerated
    assert playback_secret("a configured secret!", data) == b"a configured secret!"
    (data / SECRET_FILE).write_text("not hex\n")
    with pytest.raises(ValueError, match="hex"):
        playback_secret("", data)
