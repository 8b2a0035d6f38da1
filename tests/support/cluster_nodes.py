"""Real `golive serve` nodes of a cluster for the tests that stop, pause or kill one: each
node its own process, all sharing one Redis, one PostgreSQL database and one file recording
storage; and a publisher that comes back the way OBS does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.support.publisher import finish, start_publisher
from tests.support.redis_server import RedisServer
from tests.support.serve_process import ServeProcess, start_serve

__all__ = ["publish_until_accepted", "start_node"]

_CONFIG = """\
host = "127.0.0.1"
rtmp_port = 0
http_port = 0
data_dir = "{data}"
redis_url = "{redis}"
database_url = "{database}"
recording_storage = "file://{storage}"
node_id = "{node}"
reconnect_grace = 15.0
public_url = "http://127.0.0.1"
{extra}
[channel_ladders]
demo = "passthrough"
"""


async def start_node(
    tmp_path: Path, name: str, redis: RedisServer, database: str, *, extra: str = ""
) -> tuple[ServeProcess, Path]:
    """Node ``name`` (its data under ``tmp_path/name``); ``extra``: more top-level settings
    (TOML lines). Returns the process and the file its log goes to."""
    config = tmp_path / f"{name}.toml"
    config.write_text(
        _CONFIG.format(
            data=tmp_path / name,
            redis=redis.url,
            database=database,
            storage=tmp_path / "recordings",
            node=name,
            extra=extra,
        )
    )
    stderr = tmp_path / f"{name}.log"
    return await start_serve(config, stderr), stderr


async def publish_until_accepted(
    url: str, seconds: float, within: float
) -> tuple[asyncio.subprocess.Process, float]:
    """Publish as OBS reconnects: again every second while refused; returns the publisher
    and when it was accepted (it was still publishing 3 s after it started)."""
    deadline = time.monotonic() + within
    while True:
        publisher = await start_publisher(url, seconds=seconds)
        try:
            await asyncio.wait_for(publisher.wait(), 3.0)
        except TimeoutError:
            return publisher, time.monotonic()  # still publishing: accepted
        _, err = await finish(publisher)
        assert "already live" in err or "Connection refused" in err, err
        assert time.monotonic() < deadline, "the publisher was never accepted by node B"
        await asyncio.sleep(1.0)
