"""Chat across two nodes: two chat services, each with its own Redis chat bus and node id,
on one real redis-server and one database (SQLite on disk, as a cluster shares PostgreSQL).

Cross-node delivery is real time over loopback, so these tests poll for the state they
expect, within the bound the design promises (moderation within 1 s), and never sleep a
guessed amount.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from golive.chat.chat_room import ChatRoom, ChatUser
from golive.chat.chat_service import ChatService
from golive.chat.message_text import ChatRejected
from golive.cluster.redis_chat_bus import RedisChatBus
from golive.cluster.redis_client import redis_client
from golive.config import Settings
from golive.db.channels import ChannelStore
from golive.db.chat_store import ChatStore
from golive.db.engine import Database
from golive.db.users import UserStore
from tests.support.redis_server import RedisServer, running_redis_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

WAIT = 10.0


@dataclass
class Reader:
    """A member of a room on one node, keeping every frame it was sent."""

    frames: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, text: str) -> None:
        self.frames.append(json.loads(text))

    def texts(self) -> list[str]:
        return [m["text"] for f in self.frames if f["type"] == "messages" for m in f["messages"]]

    def notices(self) -> list[str]:
        return [f["code"] for f in self.frames if f["type"] == "notice"]


@dataclass
class Cluster:
    owner: ChatUser
    alice: ChatUser
    troll: ChatUser
    services: list[ChatService]
    clients: list[Redis]

    async def close(self) -> None:
        for service in self.services:
            await service.close()  # closes its bus
        for client in self.clients:
            await client.aclose()

    async def room(self, node: int) -> ChatRoom:
        room = await self.services[node].room("demo")
        assert room is not None
        return room

    async def reader(self, node: int, user: ChatUser | None = None) -> Reader:
        reader = Reader()
        await (await self.room(node)).join(user).start(reader.send)
        return reader


async def eventually(check: Callable[[], bool], within: float = WAIT) -> float:
    """Seconds until ``check`` held; fails after ``within``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < within, "not within the time allowed"
        await asyncio.sleep(0.01)
    return time.monotonic() - start


@pytest.fixture(autouse=True)
def clean_env(golive_env_cleared: None) -> None:
    """No GOLIVE_* variable of the machine running the tests reaches these settings."""


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await Database.open(Settings(data_dir=tmp_path / "data"))
    try:
        yield db
    finally:
        await db.close()


async def two_nodes(db: Database, redis_url: str) -> Cluster:
    users = UserStore(db.sessionmaker)
    owner, alice, troll = (
        await users.add("owner"),
        await users.add("alice"),
        await users.add("troll"),
    )
    await ChannelStore(db.sessionmaker).add("demo", owner_id=owner.id)
    services = []
    clients = []
    for node in ("a", "b"):
        store = ChatStore(db.sessionmaker)  # each node its own store over the shared database
        client = redis_client(redis_url)  # as a node's composition root makes it
        clients.append(client)
        bus = RedisChatBus(client, node_id=node, retry_delay=0.1)
        services.append(
            ChatService(
                store,
                channel=store.channel_ref,
                channels_by_id=store.channel_refs,
                room_state=store.room_state,
                bus=bus,
            )
        )

    def user(u: Any) -> ChatUser:
        return ChatUser(u.id, u.username)

    return Cluster(user(owner), user(alice), user(troll), services, clients)


@pytest.fixture
async def cluster(database: Database, redis_server: RedisServer) -> AsyncIterator[Cluster]:
    redis_server.flush()
    nodes = await two_nodes(database, redis_server.url)
    try:
        yield nodes
    finally:
        await nodes.close()


async def test_a_message_sent_on_one_node_reaches_members_on_the_other(cluster: Cluster) -> None:
    on_a, on_b = await cluster.reader(0), await cluster.reader(1)
    (await cluster.room(0)).send(cluster.alice, "hello from a")
    await eventually(lambda: on_b.texts() == ["hello from a"])
    assert on_a.texts() == ["hello from a"]  # once on its own node, not echoed back
    (await cluster.room(1)).send(cluster.troll, "and from b")
    await eventually(lambda: on_a.texts() == ["hello from a", "and from b"])
    await asyncio.sleep(0)
    assert on_b.texts() == ["hello from a", "and from b"]


async def test_a_ban_on_one_node_refuses_the_next_message_on_the_other_within_a_second(
    cluster: Cluster,
) -> None:
    room_a, room_b = await cluster.room(0), await cluster.room(1)
    on_a = await cluster.reader(0)
    room_a.send(cluster.troll, "before the ban")
    await eventually(lambda: bool(room_b.history))
    await room_b.ban(cluster.owner, "troll")

    def refused() -> bool:
        try:
            room_a.send(cluster.troll, f"still here {time.monotonic()}")
        except ChatRejected as exc:
            return exc.code == "banned"
        return False

    assert await eventually(refused, within=1.0) < 1.0
    assert list(room_a.history) == []  # the ban cleared the troll's messages on a too
    await eventually(lambda: "cleared_user" in [f["type"] for f in on_a.frames])
    moderated = [f for f in on_a.frames if f["type"] == "moderated"]
    assert moderated[-1]["action"] == "ban" and moderated[-1]["user"] == "troll"


async def test_history_on_join_on_one_node_holds_the_other_nodes_messages(
    cluster: Cluster,
) -> None:
    room_a = await cluster.room(0)
    room_a.send(cluster.alice, "first")
    room_a.send(cluster.troll, "second")
    on_a = await cluster.reader(0)
    await eventually(lambda: len(on_a.texts()) == 2)
    assert cluster.services[1].rooms == {}  # b's room opens on this join, reading the stream
    on_b = await cluster.reader(1)
    history = next(f for f in on_b.frames if f["type"] == "history")["messages"]
    assert [m["text"] for m in history] == ["first", "second"]


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with running_redis_server() as server:
        yield server


async def test_without_redis_chat_stays_on_each_node_and_comes_back(
    database: Database, own_redis: RedisServer
) -> None:
    cluster = await two_nodes(database, own_redis.url)
    try:
        on_a, on_b = await cluster.reader(0), await cluster.reader(1)
        room_a, room_b = await cluster.room(0), await cluster.room(1)
        own_redis.stop()
        await eventually(lambda: on_a.notices() == ["local_only"])
        await eventually(lambda: on_b.notices() == ["local_only"])
        room_a.send(cluster.alice, "only here")
        await eventually(lambda: on_a.texts() == ["only here"])
        late = await cluster.reader(0)  # joining during the outage: told at once
        assert late.notices() == ["local_only"]
        own_redis.start()
        await eventually(lambda: on_a.notices() == ["local_only", "shared"])
        await eventually(lambda: on_b.notices() == ["local_only", "shared"])
        room_a.send(cluster.alice, "everywhere again")
        await eventually(lambda: on_b.texts() == ["everywhere again"])
        room_b.send(cluster.troll, "back to a")
        await eventually(lambda: on_a.texts() == ["only here", "everywhere again", "back to a"])
    finally:
        await cluster.close()
