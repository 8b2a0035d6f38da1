"""Users, API tokens, invite codes and the webhook delivery log, on SQLite and PostgreSQL:
what the stores promise (unique names, detached rows, UTC times, cascades on delete, newest
first) holds on both."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta

import pytest

from golive.db.api_tokens import ApiTokenStore, InvalidScopes, TokenNotFound, normalize_scopes
from golive.db.channels import ChannelStore
from golive.db.engine import Database
from golive.db.invites import InviteStore
from golive.db.models import utcnow
from golive.db.users import UserExists, UserNotFound, UserStore
from golive.db.webhook_deliveries import DELIVERED, FAILED, PENDING, WebhookDeliveryLog


@pytest.fixture(autouse=True)
def clean_env(golive_env_cleared: None) -> None:
    """No GOLIVE_* variable of the machine running the tests reaches these settings."""


async def test_users_are_unique_listed_by_name_and_deleted_with_their_tokens(
    db: Database,
) -> None:
    users = UserStore(db.sessionmaker)
    tokens = ApiTokenStore(db.sessionmaker)
    bob = await users.add("bob")
    alice = await users.add("alice", display_name="Alice", is_admin=True)
    assert alice.id != bob.id and alice.is_admin is True and bob.is_admin is False
    assert alice.created_at.tzinfo is UTC
    with pytest.raises(UserExists):
        await users.add("alice")
    # Only one of racing sign-ups of one name gets it.
    results = await asyncio.gather(*(users.add("carol") for _ in range(4)), return_exceptions=True)
    assert sum(isinstance(r, UserExists) for r in results) == 3
    assert [u.username for u in await users.list()] == ["alice", "bob", "carol"]
    found = await users.by_name("alice")
    assert found is not None and found.display_name == "Alice"
    assert await users.by_name("Alice") is None  # names are lowercase: no case folding

    _, secret = await tokens.create(bob, ["read"])
    channel, _ = await ChannelStore(db.sessionmaker).add("bobs", owner_id=bob.id)
    await users.delete(bob.id)
    assert await tokens.authenticate(secret) is None
    assert await tokens.list() == []
    kept = await ChannelStore(db.sessionmaker).get("bobs")
    assert kept is not None and kept.id == channel.id and kept.owner_id is None
    with pytest.raises(UserNotFound):
        await users.delete(bob.id)


async def test_tokens_authenticate_record_use_and_revoke(db: Database) -> None:
    users = UserStore(db.sessionmaker)
    tokens = ApiTokenStore(db.sessionmaker)
    admin = await users.add("root", is_admin=True)
    plain = await users.add("plain")
    with pytest.raises(InvalidScopes):
        await tokens.create(plain, ["admin"])
    token, secret = await tokens.create(admin, ["write", "read", "admin"], name="ops")
    assert token.scopes == " ".join(normalize_scopes(["admin", "read", "write"]))
    assert secret not in (token.token_hash, token.token_hint)
    principal = await tokens.authenticate(secret)
    assert principal is not None and principal.is_admin and principal.token_id == token.id
    assert principal.user.username == "root"
    used = await tokens.get(token.id)
    assert used is not None and used.last_used_at is not None
    assert used.last_used_at.tzinfo is UTC
    assert abs(used.last_used_at - utcnow()) < timedelta(minutes=1)
    assert await tokens.authenticate(secret + "x") is None
    second, _ = await tokens.create(plain, ["read"])
    assert [t.id for t in await tokens.list()] == [second.id, token.id]
    assert [t.id for t in await tokens.list(plain.id)] == [second.id]
    revoked = await tokens.revoke(token.id)
    assert revoked.revoked_at is not None and revoked.revoked_at.tzinfo is UTC
    assert (await tokens.revoke(token.id)).revoked_at == revoked.revoked_at  # idempotent
    assert await tokens.authenticate(secret) is None
    with pytest.raises(TokenNotFound):
        await tokens.revoke(10**6)


async def test_an_invite_is_claimed_once(db: Database) -> None:
    invites = InviteStore(db.sessionmaker)
    user = await UserStore(db.sessionmaker).add("newcomer")
    code = await invites.create()
    claims = await asyncio.gather(*(invites.claim(code) for _ in range(4)))
    assert sorted(claims) == [False, False, False, True]
    await invites.release(code)  # the sign-up failed: usable again
    assert await invites.claim(code)
    await invites.used_by(code, user.id)
    assert not await invites.claim(code)
    [info] = await invites.list()
    assert info.used and info.created_at.tzinfo is UTC
    assert not await invites.claim("no-such-code")


async def test_the_delivery_log_ties_events_to_channels_and_pages_newest_first(
    db: Database,
) -> None:
    log = WebhookDeliveryLog(db.sessionmaker)
    channel, _ = await ChannelStore(db.sessionmaker).add("hooked")
    first = await log.record(
        event_id="e1", event="stream.started", channel="hooked", url="http://h/", payload="{}"
    )
    second = await log.record(
        event_id="e2", event="stream.ended", channel="gone", url="http://h/", payload="{}"
    )
    third = await log.record(
        event_id="e3", event="stream.started", channel=None, url="http://h/", payload="{}"
    )
    assert (first.channel_id, second.channel_id, third.channel_id) == (channel.id, None, None)
    assert first.created_at.tzinfo is UTC and first.status == PENDING
    retry_at = utcnow() + timedelta(seconds=30)
    await log.attempted(
        first.id,
        status=FAILED,
        attempts=3,
        response_status=503,
        error="x" * 2000,  # cut to the column's 500 characters
        next_attempt_at=retry_at,
    )
    await log.attempted(
        second.id,
        status=DELIVERED,
        attempts=1,
        response_status=200,
        error=None,
        next_attempt_at=None,
    )
    assert [d.event_id for d in await log.list()] == ["e3", "e2", "e1"]
    assert [d.event_id for d in await log.list(limit=2)] == ["e3", "e2"]
    assert [d.event_id for d in await log.list(before_id=second.id)] == ["e1"]
    assert [d.event_id for d in await log.list(channel_ids=[channel.id])] == ["e1"]
    assert [d.event_id for d in await log.list(channels=["gone", "hooked"])] == ["e2", "e1"]
    assert [d.event_id for d in await log.list(event="stream.started")] == ["e3", "e1"]
    [failed] = await log.list(status=FAILED)
    assert (failed.attempts, failed.response_status, failed.error) == (3, 503, "x" * 500)
    assert failed.next_attempt_at is not None
    assert abs(failed.next_attempt_at - retry_at) < timedelta(milliseconds=1)
    assert [d.event_id for d in await log.unfinished()] == ["e3"]
    # The channel deleted: its events stay, for administrators, tied to no channel.
    await ChannelStore(db.sessionmaker).delete("hooked")
    [orphan] = await log.list(status=FAILED)
    assert orphan.channel_id is None and orphan.channel == "hooked"
