"""Chat persistence on a real SQLite and PostgreSQL database: a refused row costs no other room its
messages, and moderation looks messages up in their own channel only."""

from __future__ import annotations

import logging

import pytest
from alembic import command
from sqlalchemy import Connection, select, text

from golive.db.channels import ChannelStore
from golive.db.chat_store import ChatStore
from golive.db.engine import Database, alembic_config, make_engine
from golive.db.models import ChatMessage
from golive.db.users import UserStore


@pytest.fixture(autouse=True)
def clean_env(golive_env_cleared: None) -> None:
    """No GOLIVE_* variable of the machine running the tests reaches these settings."""


def message(id_: str, text: str) -> dict[str, object]:
    return {"id": id_, "text": text, "time": 1_700_000_000_000, "media_time": None}


async def saved(db: Database) -> dict[str, tuple[int, bool]]:
    async with db.sessionmaker() as session:
        rows = await session.execute(
            select(ChatMessage.id, ChatMessage.channel_id, ChatMessage.deleted)
        )
    return {mid: (cid, deleted) for mid, cid, deleted in rows}


async def test_a_refused_message_loses_no_other_rooms_message(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: a message for a deleted channel failed the batched insert and took an
    unrelated message of another channel with it."""
    channels = ChannelStore(db.sessionmaker)
    alice = await UserStore(db.sessionmaker).add("alice")
    kept, _ = await channels.add("kept", owner_id=alice.id)
    gone, _ = await channels.add("gone", owner_id=alice.id)
    other, _ = await channels.add("other", owner_id=alice.id)
    store = ChatStore(db.sessionmaker)
    store.save_message(kept.id, alice.id, message("m1", "hello"))
    store.save_message(gone.id, alice.id, message("m2", "into a deleted channel"))
    store.save_message(other.id, alice.id, message("m3", "hello too"))
    store.save_message(gone.id, alice.id, message("m4", "again"))
    await channels.delete("gone")  # while its messages wait in the queue
    with caplog.at_level(logging.WARNING, "golive.chat"):
        await store.flush()
    assert await saved(db) == {"m1": (kept.id, False), "m3": (other.id, False)}
    assert store.unsaved == 2
    refused = [r.getMessage() for r in caplog.records]
    assert any("m2" in line for line in refused) and any("m4" in line for line in refused)
    # A batch of good messages still goes in one piece.
    store.save_message(kept.id, alice.id, message("m5", "more"))
    await store.flush()
    assert "m5" in await saved(db)


async def test_message_lookups_and_deletes_stay_in_their_channel(db: Database) -> None:
    channels = ChannelStore(db.sessionmaker)
    alice = await UserStore(db.sessionmaker).add("alice")
    mine, _ = await channels.add("mine", owner_id=alice.id)
    theirs, _ = await channels.add("theirs")
    store = ChatStore(db.sessionmaker)
    store.save_message(theirs.id, alice.id, message("t1", "over there"))
    assert await store.message_author(mine.id, "t1") is None
    assert await store.message_author(theirs.id, "t1") == alice.id
    await store.mark_deleted(mine.id, ["t1"])
    assert (await saved(db))["t1"] == (theirs.id, False)
    await store.mark_deleted(theirs.id, ["t1"])
    assert (await saved(db))["t1"] == (theirs.id, True)
    assert await store.message_author(theirs.id, "t1") is None
    refs = await store.channel_refs([mine.id, theirs.id, 999])
    assert set(refs) == {mine.id, theirs.id} and refs[mine.id].owner_id == alice.id
    assert await store.channel_ref("mine") == refs[mine.id]


async def test_migration_0005_gives_old_log_rows_the_channel_that_held_the_name(
    database_url: str,
) -> None:
    """Rows logged before a channel of that name existed stay for administrators only."""
    engine = make_engine(database_url)

    def upgrade(conn: Connection, to: str) -> None:
        command.upgrade(alembic_config(conn), to)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade, "0003")
            await conn.execute(
                text(
                    "INSERT INTO channels (id, name, stream_key_hash, stream_key_hint, "
                    "created_at, key_rotated_at) VALUES "
                    "(5, 'reborn', 'h', 'x', '2026-02-01 00:00:00', '2026-02-01 00:00:00')"
                )
            )
            for event_id, when in (("old", "2026-01-01 00:00:00"), ("new", "2026-03-01 00:00:00")):
                await conn.execute(
                    text(
                        "INSERT INTO webhook_deliveries (event_id, event, channel, url, payload, "
                        "status, attempts, created_at) VALUES "
                        f"('{event_id}', 'stream.started', 'reborn', 'u', '{{}}', 'delivered', "
                        f"1, '{when}')"
                    )
                )
        async with engine.begin() as conn:
            await conn.run_sync(upgrade, "head")
            result = await conn.execute(text("SELECT event_id, channel_id FROM webhook_deliveries"))
            rows = {event_id: channel_id for event_id, channel_id in result}
        assert rows == {"old": None, "new": 5}
    finally:
        await engine.dispose()
