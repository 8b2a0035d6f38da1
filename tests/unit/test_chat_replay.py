"""Chat replay's query on a real SQLite database: a range of the VOD's timeline, oldest
first, bounded; deleted messages, banned users and other channels' streams left out; the
VOD timeline across a reconnect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from golive.config import Settings
from golive.db.channels import ChannelStore
from golive.db.chat_replay import MAX_MESSAGES, ChatReplay, ReplayRangeError
from golive.db.chat_store import ChatStore
from golive.db.engine import Database
from golive.db.recordings import RecordingStore, RecordingSummary
from golive.db.users import UserStore

T0 = 1_700_000_000.0  # the hub's (and the recording's) start
NOW = T0 + 3600.0
STREAM = "ab12cd34"
RID = "rec-aaaaaaaaaaaaaaaa"


@pytest.fixture(autouse=True)
def clean_env(golive_env_cleared: None) -> None:
    """No GOLIVE_* variable of the machine running the tests reaches these settings."""


@dataclass
class World:
    db: Database
    chat: ChatStore
    replay: ChatReplay
    recordings: RecordingStore
    channel_id: int
    other_channel_id: int
    users: dict[str, int]
    counter: int = 0

    def say(
        self, user: str, text: str, media_time: float | None, *, channel: int | None = None
    ) -> str:
        self.counter += 1
        mid = f"m{self.counter:04d}"
        self.chat.save_message(
            self.channel_id if channel is None else channel,
            self.users[user],
            {
                "id": mid,
                "text": text,
                "time": int((T0 + (media_time or 0)) * 1000),
                "stream_id": STREAM,
                "media_time": media_time,
            },
        )
        return mid

    async def vod(self) -> RecordingSummary:
        await self.chat.flush()
        found = await self.recordings.get(RID)
        assert found is not None
        return found

    async def texts(self, start: float, end: float) -> list[tuple[str, float]]:
        return [(m.text, m.t) for m in await self.replay.messages(await self.vod(), start, end)]


async def record(recordings: RecordingStore, segments: list[tuple[float, float]]) -> None:
    """A finished recording of STREAM whose source rendition has these (pdt, duration)."""
    await recordings.create(RID, channel="show", stream_id=STREAM, started_at=T0)
    for i, (pdt, duration) in enumerate(segments):
        await recordings.add_segment(
            RID,
            rendition="source",
            sequence=i,
            media_start=0,
            timescale=90_000,
            duration=duration,
            byte_size=100,
            program_date_time=pdt,
            storage_key=f"{RID}/source/{i}.m4s",
            init_key=f"{RID}/source/init-0.mp4",
            discontinuity=i == 3,
            gap_before=False,
        )
    await recordings.finish(RID, ended_at=None)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db = await Database.open(Settings(data_dir=tmp_path / "data"))
    users = UserStore(db.sessionmaker)
    ids = {name: (await users.add(name)).id for name in ("owner", "ann", "bob", "troll", "timed")}
    channels = ChannelStore(db.sessionmaker)
    show, _ = await channels.add("show", owner_id=ids["owner"])
    other, _ = await channels.add("other", owner_id=ids["owner"])
    recordings = RecordingStore(db.sessionmaker)
    # Published 1 s after the hub started: 3 segments of 2 s, the publisher away 10 s, then
    # 2 more (VOD time 0..6 is wall T0+1..T0+7, 6..10 is T0+17..T0+21).
    await record(
        recordings,
        [(T0 + 1, 2.0), (T0 + 3, 2.0), (T0 + 5, 2.0), (T0 + 17, 2.0), (T0 + 19, 2.0)],
    )
    try:
        yield World(
            db,
            ChatStore(db.sessionmaker),
            ChatReplay(db.sessionmaker, clock=lambda: NOW),
            recordings,
            show.id,
            other.id,
            ids,
        )
    finally:
        await db.close()


async def test_messages_come_at_their_vod_time_oldest_first(world: World) -> None:
    world.say("bob", "second", 2.5)  # wall T0+2.5: VOD 1.5
    world.say("ann", "first", 1.25)  # VOD 0.25
    world.say("ann", "before the picture", 0.4)  # before the first segment: VOD 0
    world.say("bob", "during the reconnect", 10.0)  # in the gap: where the picture is back, 6
    world.say("ann", "after the reconnect", 18.5)  # VOD 6 + 1.5
    world.say("ann", "no media time", None)
    assert await world.texts(0, 600) == [
        ("before the picture", 0.0),
        ("first", 0.25),
        ("second", 1.5),
        ("during the reconnect", 6.0),
        ("after the reconnect", 7.5),
    ]


async def test_a_range_is_half_open_and_takes_only_its_messages(world: World) -> None:
    for i in range(20):  # every half second of VOD time 0 .. 9.5
        vod_time = i * 0.5
        wall = vod_time + 1 if vod_time < 6 else vod_time + 11
        world.say("ann", f"at {vod_time}", wall)
    got = await world.texts(2.0, 6.5)
    assert [t for _, t in got] == [2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0]
    assert [t for _, t in await world.texts(6.5, 8.0)] == [6.5, 7.0, 7.5]
    # Consecutive windows cover everything once.
    windows = [await world.texts(a, a + 3) for a in (0.0, 3.0, 6.0, 9.0)]
    assert [t for w in windows for _, t in w] == [i * 0.5 for i in range(20)]


async def test_deleted_messages_and_banned_users_are_hidden(world: World) -> None:
    world.say("ann", "kept", 2.0)
    gone = world.say("bob", "deleted", 2.1)
    world.say("troll", "banned for good", 2.2)
    world.say("timed", "timed out now", 2.3)
    world.say("bob", "kept too", 2.4)
    await world.chat.flush()
    await world.chat.mark_deleted(world.channel_id, [gone])
    await world.chat.set_ban(world.channel_id, world.users["troll"], None, world.users["owner"])
    await world.chat.set_ban(world.channel_id, world.users["timed"], NOW + 60, world.users["owner"])
    assert [text for text, _ in await world.texts(0, 60)] == ["kept", "kept too"]
    # A timeout that has run out hides nothing; a ban in another channel neither.
    await world.chat.set_ban(world.channel_id, world.users["timed"], NOW - 1, world.users["owner"])
    await world.chat.set_ban(world.other_channel_id, world.users["ann"], None, world.users["owner"])
    assert [text for text, _ in await world.texts(0, 60)] == ["kept", "timed out now", "kept too"]


async def test_another_channels_stream_with_the_same_id_is_not_mixed_in(world: World) -> None:
    world.say("ann", "ours", 2.0)
    world.say("ann", "theirs", 2.0, channel=world.other_channel_id)
    assert [text for text, _ in await world.texts(0, 60)] == ["ours"]


async def test_an_answer_holds_at_most_the_limit_and_continues_from_the_last(
    world: World,
) -> None:
    for i in range(MAX_MESSAGES + 20):
        world.say("ann", f"n{i}", 1.0 + i * 0.01)  # VOD 0 .. 5.19
    first = await world.replay.messages(await world.vod(), 0, 60)
    assert len(first) == MAX_MESSAGES
    assert first[0].text == "n0" and first[-1].text == f"n{MAX_MESSAGES - 1}"
    rest = await world.replay.messages(await world.vod(), first[-1].t, 60)
    assert [m.text for m in rest][-20:] == [f"n{i}" for i in range(MAX_MESSAGES, MAX_MESSAGES + 20)]


@pytest.mark.parametrize(
    ("start", "end"),
    [(-1.0, 10.0), (10.0, 10.0), (20.0, 10.0), (0.0, 600.5), (float("nan"), 1.0)],
)
async def test_bad_ranges_are_refused(world: World, start: float, end: float) -> None:
    with pytest.raises(ReplayRangeError):
        await world.replay.messages(await world.vod(), start, end)


async def test_the_message_shape(world: World) -> None:
    world.say("ann", "<b>hi</b>", 1.5)
    (message,) = await world.replay.messages(await world.vod(), 0, 10)
    assert message.json() == {
        "id": "m0001",
        "user": "ann",
        "display_name": "ann",
        "text": "<b>hi</b>",
        "t": 0.5,
    }
