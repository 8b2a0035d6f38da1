"""The recordings over the life of their streams, and past it.

A stream's recording opens with the stream and ends with it. One that a killed process (or,
in a cluster, a node that went away) left open is continued by its channel's publisher when
they come back within the grace, else finished where its last stored segment ends: at
start-up for a single process; in a cluster when a publisher reaches this node, and now and
then for the channels nobody publishes to any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping

from golive.app.settings_wiring import recording_policy
from golive.config import Settings
from golive.db.recordings import RecordingStore, ResumePoint, StaleWriter
from golive.live.hub import StreamHub
from golive.live.publish_lease import LeaseUnavailable, PublishLeases
from golive.live.registry import StreamRegistry
from golive.record.recording_index import RecordingSummary
from golive.record.segment_archive import ArchiveSession, SegmentArchive
from golive.record.storage_keys import new_recording_id
from golive.record.vod_publisher import publish_vod

log = logging.getLogger("golive")


class RecordingsLifecycle:
    def __init__(
        self,
        recordings: RecordingStore,
        archive: SegmentArchive,
        registry: StreamRegistry,
        *,
        settings: Callable[[], Settings],
        channel_records: Mapping[str, bool],
        leases: PublishLeases,
        node_id: str,
        fence_token: Callable[[str], int],
        on_finished: Callable[[RecordingSummary], None],
    ) -> None:
        """``channel_records``: whether each channel being admitted is recorded (set by the
        publish admission just before its stream is made); ``fence_token``: the token this
        node's writes to a channel's recording carry."""
        self.recordings = recordings
        self.archive = archive
        self._registry = registry
        self._settings = settings
        self._channel_records = channel_records
        self._leases = leases
        self._node_id = node_id
        self._fence_token = fence_token
        self._on_finished = on_finished
        self._sessions: dict[StreamHub, ArchiveSession] = {}
        # Where a restored stream's recording goes on (stream id -> resume point).
        self._resume_points: dict[str, ResumePoint] = {}
        # Recordings a killed process left open, kept for their channel's publisher until the
        # grace runs out (channel -> where it continues, and the timer that closes it).
        self._waiting: dict[str, tuple[ResumePoint, asyncio.TimerHandle]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    # -- the streams' recordings ---------------------------------------------------------------

    def open(self, hub: StreamHub) -> ArchiveSession | None:
        """The recording of a new (or restored) stream, if its channel is recorded."""
        policy = recording_policy(self._settings())
        if not policy.records_stream(self._channel_records.get(hub.channel, True)):
            return None
        point = self._resume_points.pop(hub.stream_id, None)
        new_timeline = False
        waiting = self._waiting.pop(hub.channel, None) if point is None else None
        if waiting is not None:
            # Left open by a killed process: this new stream continues it, on a new timeline
            # that starts after its stored media (sequence numbers go on).
            point, timer = waiting
            timer.cancel()
            new_timeline = True
            hub.timeline_end = max(hub.timeline_end, point.media_end)
            log.info(
                "recording %s, left open by the previous run, continues",
                point.recording_id,
                extra=hub.log_extra,
            )
        session = self.archive.open(
            point.recording_id if point is not None else new_recording_id(),
            fence_token=self._fence_token(hub.channel),
            channel=hub.channel,
            stream_id=hub.stream_id,
            started_at=hub.started_at,
            records_rendition=policy.records_rendition,
            next_sequences=point.next_sequences if point is not None else None,
            new_timeline=new_timeline,
            log_extra=hub.log_extra,
        )
        self._sessions[hub] = session
        return session

    def end(self, hub: StreamHub) -> None:
        """The stream ended: so does its recording."""
        recording = self._sessions.pop(hub, None)
        if recording is not None:
            recording.end()

    async def continue_saved(self, channel: str, stream_id: str) -> None:
        """A stream saved by the previous run is restored: its recording goes on."""
        point = await self.recordings.resume_point(channel, stream_id)
        if point is not None:
            self._resume_points[stream_id] = point

    async def close(self) -> None:
        """Store what is queued (bounded); streams kept for resuming keep their recording open."""
        # Recordings still waiting for a publisher after a kill stay open: the next start-up
        # continues or closes them by the same rule.
        for _, timer in self._waiting.values():
            timer.cancel()
        self._waiting.clear()
        if self._closing:
            await asyncio.wait(self._closing, timeout=5.0)
        for session in self._sessions.values():
            session.detach()  # ended streams were finished by end() already
        self._sessions.clear()
        s = self._settings()
        await self.archive.close(min(s.record_flush_timeout, s.shutdown_timeout / 2))
        with contextlib.suppress(Exception):
            await self.archive.store.close()
        with contextlib.suppress(Exception):
            await self.recordings.close()

    # -- left open by a killed process ---------------------------------------------------------

    async def close_abandoned(self) -> None:
        """Deal with the recordings a killed process left open that no restored stream continues.

        The newest one of a channel whose last stored segment ended less than
        ``reconnect_grace`` ago waits a full grace from now for the channel's publisher (who
        could not reconnect while the server was down): one who comes back in time continues
        it (``open``). The others, and that one when the grace runs out, are finished where
        their last stored segment ends: ``ready`` (VOD playlists stored first), or ``failed``
        with none.
        """
        settings = self._settings()
        if settings.clustered:
            # In a cluster the recordings left open are other nodes' business too: one is
            # continued by the node its publisher reaches (adopt), or closed by the node that
            # takes its channel's lease to do it (close_orphaned).
            return
        grace = settings.reconnect_grace
        now = time.time()
        continued = {session.recording_id for session in self._sessions.values()}
        unfinished = await self.recordings.unfinished()
        for recording in sorted(unfinished, key=lambda r: r.started_at, reverse=True):
            if recording.id in continued:
                continue
            if (
                grace > 0
                and recording.channel not in self._waiting
                and self._registry.hub(recording.channel) is None
            ):
                try:
                    point = await self.recordings.continuation(recording.id)
                except Exception:
                    log.exception("could not read recording %s", recording.id)
                else:
                    if point.last_end is not None and now - point.last_end < grace:
                        self._wait_for_publisher(recording.channel, point, grace)
                        continue
            await self._close_left_open(recording.id)

    def _wait_for_publisher(self, channel: str, point: ResumePoint, grace: float) -> None:
        loop = asyncio.get_running_loop()
        timer = loop.call_later(grace, self._stop_waiting, channel)
        self._waiting[channel] = (point, timer)
        log.info(
            "recording %s of %s, left open by the previous run, waits %.1f s for its publisher",
            point.recording_id,
            channel,
            grace,
        )

    def _stop_waiting(self, channel: str) -> None:
        waiting = self._waiting.pop(channel, None)
        if waiting is None:
            return
        task = asyncio.get_running_loop().create_task(
            self._close_left_open(waiting[0].recording_id, self._fence_token(channel))
        )
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_left_open(self, recording_id: str, fence_token: int = 0) -> None:
        try:
            await publish_vod(
                self.archive.store, self.recordings, recording_id, self.archive.thumbnails
            )
            summary = await self.recordings.finish(
                recording_id, ended_at=None, fence_token=fence_token
            )
        except StaleWriter:
            log.info("recording %s continues on another node: not closed here", recording_id)
            return
        except Exception:
            log.exception("could not close recording %s", recording_id)
            return
        log.info(
            "recording %s of %s, left open by the previous run, closed: %s, %.1f s",
            summary.id,
            summary.channel,
            summary.status,
            summary.duration,
        )
        self._on_finished(summary)

    # -- left open by a node that went away (in a cluster) -------------------------------------

    def _left_open_window(self) -> float:
        """How recently a recording left open by a node that went away must have stored its
        last segment to be continued: the grace, plus the lease ttl that held the channel
        for the dead node before anyone could take it."""
        return self._settings().reconnect_grace + self._leases.ttl

    def _ours(self, recording_id: str) -> bool:
        return recording_id in {s.recording_id for s in self._sessions.values()} or any(
            point.recording_id == recording_id for point, _ in self._waiting.values()
        )

    async def adopt(self, channel: str) -> None:
        """In a cluster, before a new stream of ``channel`` starts here: the recording a node
        that went away left open (killed with the stream live) continues with this publisher,
        one recording across the failover, when its last segment ended within the window;
        an older one is finished as a VOD first."""
        if channel in self._waiting:
            return
        token = self._fence_token(channel)
        try:
            left = await self.recordings.active_for_channel(channel)
            if left is None or self._ours(left.id):
                return
            # Claimed first (a larger fencing token on the recording): whatever the node that
            # went away still writes is refused from now on, so the resume point is final.
            if not await self.recordings.claim(left.id, token):
                return
            current = await self.recordings.get(left.id)
            if current is None or current.status != "recording":
                return  # finished meanwhile by the node that had it
            point = await self.recordings.continuation(left.id)
        except Exception:
            log.exception("could not look up the recording left open on %s", channel)
            return
        last = point.last_end if point.last_end is not None else left.started_at
        grace = self._settings().reconnect_grace
        if time.time() - last < self._left_open_window() and grace > 0:
            log.info(
                "recording %s of %s was left open by another node: it continues here",
                left.id,
                channel,
            )
            self._wait_for_publisher(channel, point, grace)
        else:
            await self._close_left_open(left.id, token)

    async def close_orphaned(self) -> None:
        """In a cluster, now and then: finish the recordings left open by nodes that went
        away when no publisher came back to continue them. The channel's lease, taken for
        the while, keeps a publisher from starting it meanwhile and two nodes from closing
        the same recording."""
        while True:
            await asyncio.sleep(max(5.0, self._left_open_window()))
            try:
                unfinished = await self.recordings.unfinished()
            except Exception:
                log.exception("could not list the open recordings")
                continue
            for recording in unfinished:
                if self._ours(recording.id) or self._registry.hub(recording.channel) is not None:
                    continue
                try:
                    point = await self.recordings.continuation(recording.id)
                    last = point.last_end if point.last_end is not None else recording.started_at
                    if time.time() - last < self._left_open_window():
                        continue
                    lease = await self._leases.acquire(recording.channel, self._node_id)
                except Exception as exc:
                    log.warning("open recording %s: not checked now (%s)", recording.id, exc)
                    continue
                if lease is None:
                    continue  # live on another node: that node's recording
                try:
                    if await self.recordings.claim(recording.id, lease.token):
                        await self._close_left_open(recording.id, lease.token)
                except Exception:
                    log.exception("could not close the open recording %s", recording.id)
                finally:
                    with contextlib.suppress(LeaseUnavailable):
                        await self._leases.release(lease)
