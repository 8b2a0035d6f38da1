"""The live streams as the API sees them (its LiveStreams protocol), wired by app/server.py:
this node's registry, and in a cluster every other node's streams too.

A channel is live on the one node holding its publish lease, but the API and the watch
page may ask any node. So each node shares its streams through a `SharedLiveDirectory`
(Redis: cluster/redis_live_directory.py) and `SharedLiveStreams` keeps a copy of the
others' that the synchronous `list()`/`get()` read; a stop for a stream live elsewhere is
sent to its node. Why this shape: docs/scale-out.md, "Live streams across nodes".
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from golive.http.api.services import LiveStreamInfo, LiveStreams
from golive.live.hub import StreamHub, StreamState
from golive.live.registry import StreamRegistry
from golive.store.live_window import LiveStore
from golive.store.viewer_sessions import ViewerSessions

log = logging.getLogger("golive.cluster")


def _transcoder_state(hub: StreamHub) -> str:
    t = getattr(hub.health, "transcode", None)
    if t is not None and t.capped:
        return f"passthrough: {t.capped}"
    if t is None or not (t.renditions or t.failed or t.shed):
        return "passthrough"
    if t.failed:
        return f"failed: {t.failed}"
    speed = f"{t.speed:.2f}x" if t.speed is not None else "starting"
    state = f"{'running' if t.running else 'restarting'} {speed}: {', '.join(t.renditions)}"
    if t.shed:
        state += f" (shed: {', '.join(t.shed)})"
    return state


def stream_info(
    hub: StreamHub, viewers: ViewerSessions | None = None, media: LiveStore | None = None
) -> LiveStreamInfo:
    h = hub.health.snapshot()
    served = media.get(hub.channel) if media is not None else None
    dvr = (
        served.dvr
        if served is not None and served.stream_token == hub.stream_id and served.has_dvr
        else None
    )
    return LiveStreamInfo(
        channel=hub.channel,
        stream_id=hub.stream_id,
        state=str(hub.state),
        started_at=hub.started_at,
        publishes=hub.publishes,
        viewers=None if viewers is None else viewers.count(hub.channel),
        peak_viewers=None if viewers is None else viewers.peak(hub.channel),
        health={
            "bitrate_bps": h.bitrate_bps,
            "fps": h.fps,
            "keyframe_interval": h.keyframe_interval,
            "video_codec": h.video_codec,
            "audio_codec": h.audio_codec,
            "width": h.width,
            "height": h.height,
            "audio_sample_rate": h.audio_sample_rate,
            "frames": h.frames,
            "bytes": h.bytes,
            "uptime": h.uptime,
            "transcoder": _transcoder_state(hub),
        },
        dvr=dvr is not None,
        dvr_from=None if dvr is None else dvr.listed_from,
    )


# -- a stream's fields as the directory carries them (plain JSON) --------------------------------


def info_fields(info: LiveStreamInfo) -> dict[str, Any]:
    return dataclasses.asdict(info)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional_int(value: object) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def info_from_fields(fields: Mapping[str, Any]) -> LiveStreamInfo | None:
    """The stream another node shared; None if the fields are not one (unknown fields are
    ignored, so a newer node may add some)."""
    health = fields.get("health")
    dvr_from = fields.get("dvr_from")
    if not (
        isinstance(fields.get("channel"), str)
        and isinstance(fields.get("stream_id"), str)
        and isinstance(fields.get("state"), str)
        and _number(fields.get("started_at"))
        and isinstance(fields.get("publishes"), int)
        and _optional_int(fields.get("viewers"))
        and _optional_int(fields.get("peak_viewers"))
        and isinstance(health, dict)
        and all(v is None or isinstance(v, str | int | float) for v in health.values())
        and isinstance(fields.get("dvr", False), bool)
        and (dvr_from is None or _number(dvr_from))
    ):
        return None
    return LiveStreamInfo(
        channel=fields["channel"],
        stream_id=fields["stream_id"],
        state=fields["state"],
        started_at=float(fields["started_at"]),
        publishes=fields["publishes"],
        viewers=fields.get("viewers"),
        peak_viewers=fields.get("peak_viewers"),
        health=dict(health),
        dvr=fields.get("dvr", False),
        dvr_from=None if dvr_from is None else float(dvr_from),
    )


# -- the shared part ----------------------------------------------------------------------------


class LiveDirectoryListener(Protocol):
    """What a node's subscription to the directory hands on."""

    def subscribed(self) -> None:
        """The subscription is (again) in place: what was announced before may be missed."""
        ...

    def stop_requested(self, channel: str, reason: str, end: bool) -> None:
        """Another node asks this one to stop ``channel`` (``LiveStreams.stop``)."""
        ...

    def node_changed(self, node_id: str) -> None:
        """Another node's streams changed: read them again now."""
        ...


class SharedLiveDirectory(Protocol):
    """Every node's live streams, and commands to one node (cluster/redis_live_directory.py).

    Every method raises ``ConnectionError`` when the shared store cannot be reached.
    """

    @property
    def ttl(self) -> float:
        """Seconds a node's entries outlive its last publish."""
        ...

    async def publish(
        self, node_id: str, entries: Mapping[str, Mapping[str, Any]], *, announce: bool
    ) -> None:
        """Replace the node's entries (channel -> `info_fields`); with ``announce``, tell
        the other nodes' `LiveDirectoryListener.node_changed`."""
        ...

    async def withdraw(self, node_id: str) -> None:
        """Remove the node's entries now, and tell the others."""
        ...

    async def read(self) -> dict[str, dict[str, dict[str, Any]]]:
        """node id -> channel -> fields, for every node whose entries have not expired."""
        ...

    async def send_stop(self, node_id: str, channel: str, reason: str, end: bool) -> bool:
        """Send a stop to ``node_id``; False: that node is not listening."""
        ...

    async def listen(self, node_id: str, listener: LiveDirectoryListener) -> None:
        """Hand the node's commands and the others' changes to ``listener`` until cancelled;
        raises ConnectionError when the subscription breaks."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteStream:
    node_id: str  # the node it is live on
    info: LiveStreamInfo


class SharedLiveStreams:
    """This node's streams in the shared directory, and a copy of every other node's.

    One task publishes this node's streams and reads everyone's every ``interval`` seconds,
    and at once after `changed()` (a stream started, ended or was stopped) or when another
    node announces a change; a second task receives this node's commands. While the store
    cannot be reached the copy is kept for at most the directory's ttl after the last good
    read, then dropped (remote channels read as offline; this node's are always right),
    with one warning per outage.
    """

    def __init__(
        self,
        directory: SharedLiveDirectory,
        node_id: str,
        local: LiveStreams,
        *,
        interval: float = 1.0,
        retry_delay: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``local``: this node's streams alone (a `RegistryLiveStreams` without ``shared``);
        ``retry_delay``: seconds between subscription attempts while the store is away."""
        self._directory = directory
        self.node_id = node_id
        self._local = local
        self._interval = interval
        self._retry_delay = retry_delay
        self._clock = clock
        self._sleep = sleep
        self._remote: dict[str, RemoteStream] = {}
        self._read_at: float | None = None  # clock() of the last good read
        # channel -> (stream id, state) as last published: a difference is announced.
        self._published: dict[str, tuple[str, str]] | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sends: set[asyncio.Task[None]] = set()
        self._closed = False
        self.reachable = True

    # -- run by the composition root ------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run_ticks()), loop.create_task(self._listen())]

    async def close(self) -> None:
        """Stop both tasks and remove this node's entries (the others drop them at once)."""
        self._closed = True
        tasks, self._tasks = self._tasks, []
        pending = {*tasks, *self._sends}
        while pending:
            # Cancelled again until done: on 3.11 a wait_for deep in the client can swallow a
            # cancellation that lands as its wait completes.
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.1)
        with contextlib.suppress(ConnectionError):
            await self._directory.withdraw(self.node_id)

    def changed(self) -> None:
        """This node's streams changed (call it from the stream started/ended listeners):
        publish now rather than at the next tick."""
        self._wake.set()

    async def tick(self) -> None:
        """One round: publish this node's streams, then read every other node's."""
        local = self._local.list()
        entries = {info.channel: info_fields(info) for info in local}
        shape = {info.channel: (info.stream_id, info.state) for info in local}
        try:
            await self._directory.publish(self.node_id, entries, announce=shape != self._published)
            self._published = shape
            nodes = await self._directory.read()
        except ConnectionError as exc:
            self._unreachable(exc)
            return
        if not self.reachable:
            log.info("live directory of node %s: Redis reachable again", self.node_id)
        self.reachable = True
        self._remote = self._remote_streams(nodes)
        self._read_at = self._clock()

    # -- what RegistryLiveStreams reads ---------------------------------------------------------

    def remote(self, channel: str) -> RemoteStream | None:
        return self._fresh().get(channel)

    def remote_streams(self) -> list[RemoteStream]:
        return list(self._fresh().values())

    def send_stop(self, node_id: str, channel: str, reason: str, end: bool) -> None:
        """Send a stop to the node ``channel`` is live on (in the background: the caller is
        synchronous)."""
        task = asyncio.get_running_loop().create_task(
            self._send_stop(node_id, channel, reason, end)
        )
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    # -- LiveDirectoryListener --------------------------------------------------------------------

    def subscribed(self) -> None:
        self.changed()  # changes announced while the subscription was down were missed

    def stop_requested(self, channel: str, reason: str, end: bool) -> None:
        try:
            stopped = self._local.stop(channel, reason, end=end)
        except Exception:
            log.exception("live directory: stopping %s for another node failed", channel)
            return
        log.info(
            "live directory: stop of %s from another node (%s): %s",
            channel,
            reason,
            "done" if stopped else "not live here",
        )
        self.changed()

    def node_changed(self, node_id: str) -> None:
        self.changed()

    # -- inside ---------------------------------------------------------------------------------

    def _fresh(self) -> dict[str, RemoteStream]:
        if self._read_at is not None and self._clock() - self._read_at > self._directory.ttl:
            self._remote, self._read_at = {}, None  # older than any entry could live
        return self._remote

    def _remote_streams(
        self, nodes: Mapping[str, Mapping[str, Mapping[str, Any]]]
    ) -> dict[str, RemoteStream]:
        found: dict[str, RemoteStream] = {}
        for node_id, entries in nodes.items():
            if node_id == self.node_id:
                continue  # this node's own streams come from its registry
            for channel, fields in entries.items():
                info = info_from_fields(fields)
                if info is None or info.channel != channel:
                    log.warning("live directory: skipped a bad entry of node %s", node_id)
                    continue
                # Two nodes list a channel only for a moment (the stream moved): the newer.
                known = found.get(channel)
                if known is None or known.info.started_at < info.started_at:
                    found[channel] = RemoteStream(node_id, info)
        return found

    def _unreachable(self, exc: Exception) -> None:
        if self.reachable:
            log.warning(
                "live directory of node %s: Redis cannot be reached (%s): other nodes' "
                "streams are listed for %.1f s more, then read as offline",
                self.node_id,
                exc,
                self._directory.ttl,
            )
        self.reachable = False

    async def _run_ticks(self) -> None:
        while not self._closed:
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("live directory: a round failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()

    async def _listen(self) -> None:
        while not self._closed:
            try:
                await self._directory.listen(self.node_id, self)
            except ConnectionError as exc:
                # The round's warning covers the outage; this only retries.
                log.debug("live directory: subscription lost: %s", exc)
            except Exception:
                log.exception("live directory: the subscription failed")
            await self._sleep(self._retry_delay)

    async def _send_stop(self, node_id: str, channel: str, reason: str, end: bool) -> None:
        try:
            heard = await self._directory.send_stop(node_id, channel, reason, end)
        except ConnectionError as exc:
            log.warning("live directory: stop of %s not sent to node %s: %s", channel, node_id, exc)
            return
        if not heard:
            log.warning("live directory: node %s did not hear the stop of %s", node_id, channel)


# -- the API's LiveStreams ----------------------------------------------------------------------


class RegistryLiveStreams:
    """The API's `LiveStreams`: this node's registry, and with ``shared`` the streams live on
    other nodes too (a channel live here is this node's, whatever the others say)."""

    def __init__(
        self,
        registry: StreamRegistry,
        viewers: ViewerSessions | None = None,
        media: LiveStore | None = None,
        *,
        shared: SharedLiveStreams | None = None,
    ) -> None:
        self._registry = registry
        self._viewers = viewers
        self._media = media  # what is served: whether a stream has a DVR playlist
        self._shared = shared

    def list(self) -> list[LiveStreamInfo]:
        local = [stream_info(hub, self._viewers, self._media) for hub in self._registry.live()]
        if self._shared is None:
            return local
        here = {info.channel for info in local}
        return local + [
            remote.info
            for remote in self._shared.remote_streams()
            if remote.info.channel not in here
        ]

    def get(self, channel: str) -> LiveStreamInfo | None:
        hub = self._registry.hub(channel)
        if hub is not None:
            return stream_info(hub, self._viewers, self._media)
        remote = self._shared.remote(channel) if self._shared is not None else None
        return None if remote is None else remote.info

    def stop(self, channel: str, reason: str, *, end: bool) -> bool:
        if self._shared is None or self._registry.hub(channel) is not None:
            return self._registry.stop(channel, reason, end=end)
        remote = self._shared.remote(channel)
        if remote is None:
            return False
        if not end and remote.info.state != StreamState.LIVE:
            return False  # as here: a stream in its grace has no publisher to disconnect
        self._shared.send_stop(remote.node_id, channel, reason, end)
        return True
