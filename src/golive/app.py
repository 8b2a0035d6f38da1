"""Composition root: builds every layer and runs them in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection, Request

from golive.accounts.api_rate_limit import ApiRateLimit
from golive.accounts.attempt_store import AttemptStore, LocalAttemptStore
from golive.accounts.password_hashing import hash_queue
from golive.accounts.playback_secret import playback_secret
from golive.accounts.playback_tokens import PlaybackKind, PlaybackTokens, TokenRefused
from golive.chat.chat_room import ChatUser
from golive.chat.chat_service import ChannelRef, ChatService
from golive.clip_requests import Clipper, ClipRequests
from golive.cluster.node_directory import NodeAnnouncer, RedisNodeDirectory
from golive.cluster.redis_attempt_window import RedisAttemptStore
from golive.cluster.redis_chat_bus import RedisChatBus
from golive.cluster.redis_client import redis_client
from golive.cluster.redis_live_directory import RedisLiveDirectory
from golive.cluster.redis_publish_leases import RedisPublishLeases
from golive.cluster.redis_viewer_presence import RedisViewerPresence
from golive.config import LIVE_RELOADABLE, Settings
from golive.db.api_tokens import ApiTokenStore
from golive.db.channels import ChannelStore, hash_stream_key, stream_key_hint
from golive.db.chat_replay import ChatReplay
from golive.db.chat_store import ChatStore
from golive.db.clips import ClipExportLedger, ClipStore, ClipSummary
from golive.db.engine import Database
from golive.db.invites import InviteStore
from golive.db.models import Channel, is_valid_channel_name
from golive.db.recordings import RecordingStore, ResumePoint, StaleWriter, segment_row_writer
from golive.db.recordings import RecordingSummary as StoredRecording
from golive.db.users import UserStore
from golive.db.vod_exports import VodExportStore
from golive.db.vod_views import VodViews
from golive.db.web_sessions import WebSessionStore
from golive.db.webhook_deliveries import WebhookDeliveryLog
from golive.http.api.app import create_api
from golive.http.api.services import ApiServices
from golive.http.app import create_app
from golive.http.bounded_http_protocol import bounded_httptools
from golive.http.channel_access import ChannelAccess
from golive.http.channel_forwarding import ChannelForwarder
from golive.http.chat_socket import MAX_WIRE_FRAME_BYTES, chat_route
from golive.http.client_address import TrustedProxies
from golive.http.clip_media import ClipMediaEndpoint
from golive.http.live_media import LiveMediaEndpoint
from golive.http.playback_gate import PlaybackGate
from golive.http.thumbnails import ThumbnailEndpoint
from golive.http.vod_media import VodMediaEndpoint
from golive.http.web import BrowserSessions, VodSite, public_url_is_https, web_routes
from golive.http.websocket_wire import TransportSendRecorder
from golive.ingest.rtmp.admission_answer import rtmp_authorizer
from golive.ingest.rtmp.server import (
    Authorizer,
    PublishRequest,
    RtmpLimits,
    RtmpServer,
    StreamSink,
)
from golive.live.bitrate_cap import BitrateCap
from golive.live.channel_claims import ChannelClaims
from golive.live.consumer import StreamConsumer
from golive.live.hub import StreamHub, StreamState
from golive.live.lease_keeper import LeaseKeeper
from golive.live.publish_admission import AdmissionUnavailable, PublishAdmission
from golive.live.publish_attempts import PublishAttemptLimits, PublishAttempts
from golive.live.publish_lease import Lease, LeaseUnavailable, LocalPublishLeases, PublishLeases
from golive.live.registry import StreamRegistry
from golive.live.stream_key_watch import StreamKeyWatch
from golive.log_format import configure_logging
from golive.metrics.server_metrics import ServerMetrics
from golive.packager.hls_stream import AUDIO_RENDITION, SOURCE_RENDITION, HlsStreamPackager
from golive.record.clip_index import ClipIndex
from golive.record.clip_thumbnail import make_thumbnail
from golive.record.mp4_export import Mp4Exports
from golive.record.recording_index import RecordingSummary
from golive.record.recording_policy import RecordingPolicy
from golive.record.retention_policy import RetentionRules
from golive.record.retention_task import RecordingRetention
from golive.record.segment_archive import ArchiveSession, RecordingLoss, SegmentArchive
from golive.record.storage_keys import (
    clip_download_key,
    clip_thumbnail_key,
    new_recording_id,
)
from golive.record.vod_publisher import publish_vod
from golive.record.vod_thumbnail import VodThumbnails
from golive.registry_live_streams import RegistryLiveStreams, SharedLiveStreams
from golive.resume import saved_stream
from golive.store.dvr_history import ChannelDvr
from golive.store.live_window import LiveStore
from golive.store.object_store_url import open_object_store
from golive.store.viewer_sessions import ViewerSessions
from golive.transcode.ffmpeg_child import child_setup
from golive.transcode.ffmpeg_command import EncoderOptions
from golive.transcode.ladder import RungKind
from golive.transcode.service import TranscodeService, ffmpeg_binary
from golive.transcode.transcoder import TranscoderSettings
from golive.webhooks.clip_events import ClipEventNotifier
from golive.webhooks.dispatcher import WebhookDispatcher, WebhookTarget
from golive.webhooks.publish_approval import PublishApprovalTarget, PublishApprover
from golive.webhooks.recording_events import RecordingEventNotifier
from golive.webhooks.stream_events import LoggedPublishApproval, StreamEventNotifier

log = logging.getLogger("golive")

# Seconds between checks that open chat rooms still match their channels' owners.
CHAT_CHANNEL_REFRESH = 2.0
# Seconds between re-reads of which channels are private (the CLI changes them elsewhere).
CHANNEL_ACCESS_REFRESH = 2.0
# Lifetime of the token a private channel's request is forwarded under: it is checked once,
# when the serving node receives the request, so a minute covers any clock skew between nodes.
FORWARDING_TOKEN_SECONDS = 60


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn inside our loop: signals are ours to handle, not uvicorn's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def rtmp_limits(s: Settings) -> RtmpLimits:
    return RtmpLimits(
        handshake_timeout=s.rtmp_handshake_timeout,
        idle_timeout=s.rtmp_idle_timeout,
        max_message_size=s.rtmp_max_message_size,
        max_chunk_size=s.rtmp_max_chunk_size,
        max_connections=s.rtmp_max_connections,
        connect_timeout=s.rtmp_connect_timeout,
        max_command_size=s.rtmp_max_command_size,
        max_connections_per_address=s.rtmp_max_connections_per_address,
    )


def publish_attempt_limits(s: Settings) -> PublishAttemptLimits:
    return PublishAttemptLimits(
        limit=s.publish_max_failures,
        window=s.publish_failure_window,
        cooldown=s.publish_failure_cooldown,
    )


# How often the server looks for stream keys changed outside it (`golive channel rotate-key`).
KEY_WATCH_INTERVAL = 1.0


def webhook_target(s: Settings) -> WebhookTarget:
    return WebhookTarget(
        url=s.webhook_url,
        secret=s.webhook_secret,
        timeout=s.webhook_timeout,
        max_attempts=s.webhook_max_attempts,
        retry_delay=s.webhook_retry_delay,
    )


def approval_target(s: Settings) -> PublishApprovalTarget:
    return PublishApprovalTarget(
        url=s.on_publish_url,
        secret=s.webhook_secret,
        timeout=s.on_publish_timeout,
        default_allow=s.on_publish_default == "allow",
    )


def tls_context(s: Settings) -> ssl.SSLContext:
    """The RTMPS server context (blocking: reads the certificate and key files)."""
    assert s.rtmps_cert_file is not None and s.rtmps_key_file is not None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(s.rtmps_cert_file.expanduser(), s.rtmps_key_file.expanduser())
    return context


class GoliveServer:
    """Everything `golive serve` runs: database, RTMP ingest, live registry, HTTP origin."""

    def __init__(self, settings: Settings, *, worker: bool = False) -> None:
        self.settings = settings
        # One of several processes on this machine (worker_processes.py): its ports are
        # shared with the others (SO_REUSEPORT), and it has an HTTP port of its own.
        self.worker = worker
        self._node_socket: socket.socket | None = None
        self.store = LiveStore()
        self.metrics = ServerMetrics()
        self.viewers = ViewerSessions(expiry=settings.viewer_expiry)
        self.media = LiveMediaEndpoint(self.store, self.viewers)
        self.registry = StreamRegistry(
            consumer_factory=self._consumers_for,
            reconnect_grace=settings.reconnect_grace,
            keyframe_timeout=settings.keyframe_timeout,
            on_started=self._stream_started,
            on_ended=self._stream_ended,
            bitrate_cap=self._publish_bitrate_cap,
        )
        self.db: Database | None = None
        self.channels: ChannelStore | None = None
        self.users: UserStore | None = None
        self.tokens: ApiTokenStore | None = None
        self.deliveries: WebhookDeliveryLog | None = None
        self.webhooks: WebhookDispatcher | None = None
        self.publish_approval: LoggedPublishApproval | None = None
        self._stream_events: StreamEventNotifier | None = None
        self.rtmp: RtmpServer | None = None
        self._tls: ssl.SSLContext | None = None
        self._http: _EmbeddedUvicorn | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._http_socket: socket.socket | None = None
        self.demo_key: str | None = None
        self.shutting_down = False
        self._stopped = False
        self.restored: list[str] = []  # channels taken back from a previous run
        self.transcoders = TranscodeService()
        self.chat: ChatService | None = None
        self.chat_store: ChatStore | None = None
        self.web_sessions: BrowserSessions | None = None
        self.thumbnails: ThumbnailEndpoint | None = None
        self._trusted_proxies = TrustedProxies(settings.trusted_proxies)
        hash_queue.max_pending = settings.password_hash_queue
        # Where the rate limits count: this process, or Redis for the cluster (_join_cluster).
        self.attempt_store: AttemptStore = LocalAttemptStore()
        self.publish_attempts = PublishAttempts(publish_attempt_limits(settings))
        self.key_watch = StreamKeyWatch(
            self._stored_key_hashes, self._disconnect_publisher, interval=KEY_WATCH_INTERVAL
        )
        self._key_watch_task: asyncio.Task[None] | None = None
        # Recordings: the archive writer, each recorded stream's session, and what the
        # consumer factory needs to know when it makes a stream (set just before).
        self.recordings: RecordingStore | None = None
        self.archive: SegmentArchive | None = None
        self.retention: RecordingRetention | None = None
        self.mp4_exports: Mp4Exports | None = None
        self.vod_views: VodViews | None = None  # the VOD pages' view counter
        self._recording_events: RecordingEventNotifier | None = None
        # Clips: making them, their MP4s, and their background work (thumbnail, MP4).
        self.clips: ClipRequests | None = None
        self.clip_exports: Mp4Exports | None = None
        self._clip_events: ClipEventNotifier | None = None
        self._clip_tasks: set[asyncio.Task[None]] = set()
        self._recording_sessions: dict[StreamHub, ArchiveSession] = {}
        self._channel_records: dict[str, bool] = {}
        self.admission: PublishAdmission | None = None  # built in start()
        self._rtmp_admission: Authorizer | None = None
        self._resume_points: dict[str, ResumePoint] = {}
        # Private playback: which channels are not public, and the playback tokens' keys.
        self.channel_access = ChannelAccess()
        self.playback_tokens: PlaybackTokens | None = None
        self.playback_gate: PlaybackGate | None = None
        self._access_task: asyncio.Task[None] | None = None
        # Recordings a killed process left open, kept for their channel's publisher until the
        # grace runs out (channel -> where it continues, and the timer that closes it).
        self._waiting_recordings: dict[str, tuple[ResumePoint, asyncio.TimerHandle]] = {}
        self._closing_recordings: set[asyncio.Task[None]] = set()
        # One publisher per channel: in this process, or across the cluster (redis_url).
        self.node_id = settings.node_id or socket.gethostname()
        self.leases: PublishLeases = LocalPublishLeases()
        self.claims = ChannelClaims(
            self.leases, LeaseKeeper(self.leases, self.node_id, on_lost=self._lease_lost)
        )
        self._node_announcer: NodeAnnouncer | None = None
        self._orphan_task: asyncio.Task[None] | None = None
        # In a cluster: every node's live streams, for the API and the site (live here or not).
        self.live_sharing: SharedLiveStreams | None = None
        self._node_directory: RedisNodeDirectory | None = None
        self._redis: Redis | None = None

    @property
    def saved_streams_dir(self) -> Path:
        return self.settings.data_dir / "streams"

    @property
    def rtmps_port(self) -> int:
        assert self.rtmp is not None
        return self.rtmp.tls_port

    @property
    def rtmp_port(self) -> int:
        assert self.rtmp is not None
        return self.rtmp.port

    @property
    def http_port(self) -> int:
        assert self._http_socket is not None
        return int(self._http_socket.getsockname()[1])

    async def start(self) -> None:
        s = self.settings
        if s.clustered:
            # First: what the start-up does to recordings depends on who holds what.
            self._join_cluster(s)
        self.db = await Database.open(s)
        sessions = self.db.sessionmaker
        self.channels = ChannelStore(sessions)
        self.users = UserStore(sessions)
        self.tokens = ApiTokenStore(sessions)
        self.deliveries = WebhookDeliveryLog(sessions)
        _, self.demo_key = await self.channels.ensure_demo()
        await self._start_private_playback()
        self.webhooks = WebhookDispatcher(self.deliveries, webhook_target(s))
        self.webhooks.start()
        await self.webhooks.resume_pending()
        self._stream_events = StreamEventNotifier(
            self.webhooks,
            playlist_url=lambda ch: f"{self.settings.http_base_url}/live/{ch}/index.m3u8",
        )
        self.publish_approval = LoggedPublishApproval(
            PublishApprover(approval_target(s)), self.deliveries
        )
        self._start_recordings(sessions)
        if self.mp4_exports is not None:
            await self.mp4_exports.recover()
        if self.clip_exports is not None:
            await self.clip_exports.recover()
        await self._restore_saved_streams()
        await self._close_abandoned_recordings()
        if s.clustered and self.recordings is not None:
            self._orphan_task = asyncio.create_task(self._close_orphaned_recordings())
        self._key_watch_task = asyncio.create_task(self.key_watch.run())
        self.admission = self._admission()
        self._rtmp_admission = rtmp_authorizer(self.admission.admit)
        self.rtmp = RtmpServer(self._authorize, rtmp_limits(s))
        await self.rtmp.start(s.host, s.rtmp_port, reuse_port=self.worker)
        if s.rtmps_enabled:
            self._tls = await asyncio.to_thread(tls_context, s)
            await self.rtmp.start_tls(s.host, s.rtmps_port, self._tls)
        rtmp = self.rtmp
        self.metrics.watch_streams(
            self.registry.live,
            rtmp_connections=lambda: rtmp.connection_count,
            reload_waiters=lambda: self.media.waiting,
            viewers=self.viewers.count,
        )
        self.chat = self._chat_service(sessions)
        chat_replay = ChatReplay(sessions) if self.recordings is not None else None
        self.vod_views = VodViews(sessions)
        api = create_api(
            ApiServices(
                channels=self.channels,
                users=self.users,
                tokens=self.tokens,
                deliveries=self.deliveries,
                live=self._live_streams(),
                settings=lambda: self.settings,
                chat=self.chat,
                chat_store=self.chat_store,
                recordings=self.recordings,
                recording_objects=self.archive.store if self.archive is not None else None,
                mp4_exports=self.mp4_exports,
                playback_tokens=self.playback_tokens,
                channels_changed=self.refresh_channel_access,
                chat_replay=chat_replay,
                clips=self.clips,
                clip_exports=self.clip_exports,
                clip_channels=self.clips.clips if self.clips is not None else None,
                rate_limit=ApiRateLimit(
                    self.attempt_store, lambda: self.settings.api_requests_per_minute
                ),
            )
        )
        self.web_sessions = BrowserSessions(
            WebSessionStore(sessions), force_secure=public_url_is_https(lambda: self.settings)
        )
        site = [
            *web_routes(
                channels=self.channels,
                users=self.users,
                sessions=self.web_sessions,
                live=self._live_streams(),
                settings=lambda: self.settings,
                ingest_url=self._ingest_url,
                invites=InviteStore(sessions),
                channels_changed=self.refresh_channel_access,
                clips=self.clips,
                attempt_store=self.attempt_store,
                vods=None
                if self.recordings is None or chat_replay is None
                else VodSite(self.recordings, chat_replay, self.vod_views, self.mp4_exports),
            ),
            chat_route(
                self.chat,
                self._chat_user,
                trusted_origins=self._public_origins,
                may_join=self._may_join_chat,
            ),
        ]
        self._http_socket = _listen(s.host, s.http_port, reuse_port=self.worker)
        if self.worker:
            self._node_socket = _listen(s.host, 0)
        if self._redis is not None:
            self._announce_node(s)
        self.thumbnails = ThumbnailEndpoint(self.store, ffmpeg_binary(s.transcode_ffmpeg))
        app = create_app(
            self.store,
            pages=site,
            thumbnails=self.thumbnails,
            vod=self._vod_endpoint(),
            clip=self._clip_endpoint(),
            channel_exists=self._channel_exists,
            api=api,
            metrics=self.metrics,
            metrics_token=lambda: self.settings.metrics_token,
            readiness=self._readiness,
            media=self.media,
            trusted_proxies=lambda: self._trusted_proxies,
            max_request_body=lambda: self.settings.max_request_body,
            access=self.channel_access,
            gate=self.playback_gate,
            may_watch_channel=self._may_watch_channel,
        )
        config = uvicorn.Config(
            TransportSendRecorder(app),
            lifespan="off",
            access_log=False,
            log_level="warning",
            # httptools, with the request head bounded (it has no limits of its own).
            http=bounded_httptools(
                max_head_bytes=s.max_request_head, max_headers=s.max_request_headers
            ),
            # The client address comes from ForwardedClient (trusted_proxies) alone.
            proxy_headers=False,
            ws="websockets-sansio",
            # Chat sends one frame to every member: compressing it once per member would cost
            # more than the fan-out itself, so frames go uncompressed.
            ws_per_message_deflate=False,
            # uvicorn's default is 16 MiB, read from anyone before the app sees a byte.
            ws_max_size=MAX_WIRE_FRAME_BYTES,
            timeout_graceful_shutdown=2,
        )
        self._http = _EmbeddedUvicorn(config)
        sockets = [self._http_socket]
        if self._node_socket is not None:
            sockets.append(self._node_socket)
        self._http_task = asyncio.create_task(self._http.serve(sockets=sockets))
        while not self._http.started:
            if self._http_task.done():
                self._http_task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Graceful shutdown, bounded by ``shutdown_timeout``.

        No new publishers; publishers are asked to reconnect and detached, which completes
        every open segment; each stream is saved to the data directory, resumable by the next
        run when ``reconnect_grace`` > 0, else ended (playlists get EXT-X-ENDLIST); then HTTP
        and the database close. Past the deadline the rest is cut short.
        """
        if self._stopped:
            return
        self._stopped = True
        self.shutting_down = True
        try:
            async with asyncio.timeout(self.settings.shutdown_timeout):
                await self._shutdown()
        except TimeoutError:
            log.error(
                "graceful shutdown took longer than %g s (shutdown_timeout); stopping now",
                self.settings.shutdown_timeout,
            )
            await self._force_close()

    async def _shutdown(self) -> None:
        # In a cluster a publisher that reconnects may reach any node: streams end here
        # (their recordings become VODs) rather than wait for this node's next run.
        resumable = self.settings.reconnect_grace > 0 and not self.settings.clustered
        hubs: list[StreamHub] = []
        if self.rtmp is not None:
            self.rtmp.stop_listening()
            if resumable:
                self.rtmp.request_reconnect("server is restarting: reconnect")
        if self._key_watch_task is not None:
            self._key_watch_task.cancel()
        if self._orphan_task is not None:
            self._orphan_task.cancel()
        if self._access_task is not None:
            self._access_task.cancel()
        hubs = self.registry.suspend() if resumable else self.registry.close()
        # In a cluster, a publisher that reconnects to another node goes on there.
        await self.claims.close()
        await self._save_streams(hubs, resumable=resumable)
        await self.transcoders.close()
        if self.rtmp is not None:
            await self.rtmp.close()
        await self._close_recordings()
        if self.webhooks is not None:
            await self.webhooks.drain(1.0)
            await self.webhooks.close(grace=1.0)
        if self.publish_approval is not None:
            await self.publish_approval.close()
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            with contextlib.suppress(Exception):
                await self._http_task
        if self.chat is not None:
            await self.chat.close()
        if self.chat_store is not None:
            await self.chat_store.flush()
        if self.vod_views is not None:
            await self.vod_views.close()
        await self._leave_cluster()
        if self.db is not None:
            await self.db.close()

    async def _force_close(self) -> None:
        self.transcoders.kill_all()
        if self.mp4_exports is not None:
            with contextlib.suppress(Exception):
                await self.mp4_exports.close()
        if self.clip_exports is not None:
            with contextlib.suppress(Exception):
                await self.clip_exports.close()
        if self.retention is not None:
            with contextlib.suppress(Exception):
                await self.retention.close()
        if self.archive is not None:
            with contextlib.suppress(Exception):
                await self.archive.close(0)
        if self._http_task is not None:
            self._http_task.cancel()
            with contextlib.suppress(BaseException):
                await self._http_task
        if self.db is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.db.close(), 1.0)

    # -- recordings ----------------------------------------------------------------------------

    def _start_recordings(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        s = self.settings
        assert self.webhooks is not None
        self.recordings = RecordingStore(sessions, row_writer=segment_row_writer(s.database_url))
        self._recording_events = RecordingEventNotifier(
            self.webhooks, vod_url=lambda rid: f"{self.settings.http_base_url}/vod/{rid}/index.m3u8"
        )
        store = open_object_store(s.recording_storage, s.data_dir)
        log.info("recordings are stored on %s", store.description)
        self.archive = SegmentArchive(
            store,
            self.recordings,
            buffer_bytes=s.record_buffer_bytes,
            flush_timeout=s.record_flush_timeout,
            on_finished=self._recording_finished,
            on_stored=self.metrics.recording_upload_lag.observe,
            thumbnails=VodThumbnails(
                store, ffmpeg_binary(s.transcode_ffmpeg), preexec=child_setup(s.transcode_nice)
            ),
            on_loss=self._recording_lost,
        )
        self.archive.start()
        archive = self.archive
        self.retention = RecordingRetention(
            store,
            self.recordings,
            lambda: RetentionRules.of(
                self.settings.record_retention_days, self.settings.record_retention_gb
            ),
        )
        self.retention.start()
        retention = self.retention
        self.mp4_exports = Mp4Exports(
            store,
            self.recordings,
            VodExportStore(sessions),
            ffmpeg=ffmpeg_binary(s.transcode_ffmpeg),
            work_dir=s.data_dir / "exports",
            preexec=child_setup(s.transcode_nice),
        )
        self.metrics.watch_recordings(lambda: archive.stats, lambda: retention.stats)
        live = RegistryLiveStreams(self.registry, self.viewers, shared=self.live_sharing)
        assert self.channels is not None
        self._clip_events = ClipEventNotifier(
            self.webhooks, base_url=lambda: self.settings.http_base_url
        )
        self.clips = ClipRequests(
            recordings=self.recordings,
            clips=ClipStore(sessions),
            channels=self.channels,
            store=store,
            is_live=lambda channel: live.get(channel) is not None,
            on_created=self._clip_created,
            attempt_store=self.attempt_store,
        )
        self.clip_exports = Mp4Exports(
            store,
            ClipIndex(store),
            ClipExportLedger(sessions),
            ffmpeg=ffmpeg_binary(s.transcode_ffmpeg),
            work_dir=s.data_dir / "exports",
            preexec=child_setup(s.transcode_nice),
            output_key=clip_download_key,
            label="clip",
        )

    def _open_recording(self, hub: StreamHub) -> ArchiveSession | None:
        """The recording of a new (or restored) stream, if its channel is recorded."""
        s = self.settings
        if self.archive is None:
            return None
        policy = RecordingPolicy(
            enabled=s.record,
            renditions=s.record_renditions,
            source_renditions=(SOURCE_RENDITION, AUDIO_RENDITION),
        )
        if not policy.records_stream(self._channel_records.get(hub.channel, True)):
            return None
        point = self._resume_points.pop(hub.stream_id, None)
        new_timeline = False
        waiting = self._waiting_recordings.pop(hub.channel, None) if point is None else None
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
        self._recording_sessions[hub] = session
        return session

    def _vod_endpoint(self) -> VodMediaEndpoint | None:
        """``/vod/``: the archive's object store, read through the recordings' index."""
        if self.archive is None or self.recordings is None:
            return None
        return VodMediaEndpoint(
            self.archive.store, self.recordings.get, may_watch_private=self._owns_recording
        )

    def _clip_endpoint(self) -> ClipMediaEndpoint | None:
        """``/clip/``: the clips' copies in the archive's object store."""
        if self.archive is None or self.clips is None:
            return None
        return ClipMediaEndpoint(
            self.archive.store, self.clips.clips.get, may_watch_private=self._manages_clip
        )

    async def _manages_clip(self, request: Request, clip: ClipSummary) -> bool:
        """Whether the request comes from the browser session of someone who manages the
        clip (its creator, its channel's owner, an administrator)."""
        if self.web_sessions is None or self.clips is None:
            return False
        user = await self.web_sessions.user(request)
        if user is None:
            return False
        return await self.clips.may_manage(Clipper(user.id, user.username, user.is_admin), clip)

    def _clip_created(self, clip: ClipSummary) -> None:
        """The webhook and the metric now; the thumbnail, then the MP4, in the background."""
        self.metrics.clips_created.inc()
        if self._clip_events is not None:
            self._clip_events.created(clip)
        task = asyncio.create_task(self._finish_clip(clip), name=f"clip-{clip.id}")
        self._clip_tasks.add(task)
        task.add_done_callback(self._clip_tasks.discard)

    async def _finish_clip(self, clip: ClipSummary) -> None:
        if self.archive is None:
            return
        store = self.archive.store
        try:
            rows = await ClipIndex(store).segments(clip.id)
            if rows:
                await make_thumbnail(
                    store,
                    ffmpeg=ffmpeg_binary(self.settings.transcode_ffmpeg),
                    init_key=rows[0].init_key,
                    segment_key=rows[0].storage_key,
                    output_key=clip_thumbnail_key(clip.id),
                    preexec=child_setup(self.settings.transcode_nice),
                )
            if self.clip_exports is not None:
                await self.clip_exports.start(clip.id, clip.duration)
        except Exception:
            log.exception("clip %s: thumbnail or MP4 not started", clip.id)

    async def _owns_recording(self, request: Request, recording: StoredRecording) -> bool:
        """Whether the request comes from the browser session of the recording's channel owner
        (or of an administrator)."""
        if self.web_sessions is None or self.channels is None:
            return False
        user = await self.web_sessions.user(request)
        if user is None:
            return False
        if user.is_admin:
            return True
        channel = await self.channels.get(recording.channel)
        return (
            channel is not None
            and channel.owner_id == user.id
            and (recording.channel_id is None or recording.channel_id == channel.id)
        )

    # -- private playback -------------------------------------------------------------------

    async def _start_private_playback(self) -> None:
        s = self.settings
        secret = await asyncio.to_thread(playback_secret, s.playback_token_secret, s.data_dir)
        previous = s.playback_token_previous_secret.encode("utf-8")
        self.playback_tokens = PlaybackTokens(secret, *([previous] if previous else []))
        self.playback_gate = PlaybackGate(self.playback_tokens)
        await self.refresh_channel_access()
        self._access_task = asyncio.create_task(self._follow_channel_access())

    async def refresh_channel_access(self) -> None:
        """Re-read which channels are not public (after any change to a channel)."""
        assert self.channels is not None
        self.channel_access.replace(await self.channels.access())

    async def _follow_channel_access(self) -> None:
        while True:
            await asyncio.sleep(CHANNEL_ACCESS_REFRESH)
            try:
                await self.refresh_channel_access()
            except Exception as exc:  # the database is briefly away: the last map holds
                log.warning("could not re-read channel visibility: %s", exc)

    def _forwarding_token(self, channel: str) -> str | None:
        """A playback token under which a private channel's admitted request goes on to the
        node serving it (a forwarded request carries no cookie)."""
        if self.playback_tokens is None or not self.channel_access.is_private(channel):
            return None
        expires = int(time.time()) + FORWARDING_TOKEN_SECONDS
        return self.playback_tokens.issue(PlaybackKind.LIVE, channel, expires)

    async def _may_watch_channel(self, conn: HTTPConnection, channel: str) -> bool:
        """Whether the browser session behind ``conn`` may watch private ``channel``."""
        if self.web_sessions is None:
            return False
        user = await self.web_sessions.user(conn)
        if user is None:
            return False
        return self.channel_access.may_watch(channel, user.id, is_admin=user.is_admin)

    async def _may_join_chat(self, conn: HTTPConnection, channel: str) -> bool:
        """A private channel's chat: its owner's or an administrator's session, or a playback
        token for the channel in the ``playback_token`` query parameter."""
        if not self.channel_access.is_private(channel):
            return True
        token = conn.query_params.get("playback_token")
        if token and self.playback_tokens is not None:
            try:
                claim = self.playback_tokens.verify(token, time.time())
            except TokenRefused:
                claim = None
            if claim is not None and claim.covers(PlaybackKind.LIVE, channel):
                return True
        return await self._may_watch_channel(conn, channel)

    def _recording_finished(self, recording: RecordingSummary) -> None:
        if self._recording_events is not None:
            self._recording_events.finished(recording)

    def _recording_lost(self, loss: RecordingLoss) -> None:
        if self._recording_events is not None:
            self._recording_events.lost(loss)

    async def _close_abandoned_recordings(self) -> None:
        """Deal with the recordings a killed process left open that no restored stream continues.

        The newest one of a channel whose last stored segment ended less than
        ``reconnect_grace`` ago waits a full grace from now for the channel's publisher (who
        could not reconnect while the server was down): one who comes back in time continues
        it (``_open_recording``). The others, and that one when the grace runs out, are
        finished where their last stored segment ends: ``ready`` (VOD playlists stored
        first), or ``failed`` with none.
        """
        assert self.recordings is not None and self.archive is not None
        if self.settings.clustered:
            # In a cluster the recordings left open are other nodes' business too: one is
            # continued by the node its publisher reaches (_adopt_left_recording), or closed
            # by the node that takes its channel's lease to do it (_close_orphaned_recordings).
            return
        grace = self.settings.reconnect_grace
        now = time.time()
        continued = {session.recording_id for session in self._recording_sessions.values()}
        unfinished = await self.recordings.unfinished()
        for recording in sorted(unfinished, key=lambda r: r.started_at, reverse=True):
            if recording.id in continued:
                continue
            if (
                grace > 0
                and recording.channel not in self._waiting_recordings
                and self.registry.hub(recording.channel) is None
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
        self._waiting_recordings[channel] = (point, timer)
        log.info(
            "recording %s of %s, left open by the previous run, waits %.1f s for its publisher",
            point.recording_id,
            channel,
            grace,
        )

    def _stop_waiting(self, channel: str) -> None:
        waiting = self._waiting_recordings.pop(channel, None)
        if waiting is None:
            return
        task = asyncio.get_running_loop().create_task(
            self._close_left_open(waiting[0].recording_id, self._fence_token(channel))
        )
        self._closing_recordings.add(task)
        task.add_done_callback(self._closing_recordings.discard)

    async def _close_left_open(self, recording_id: str, fence_token: int = 0) -> None:
        assert self.recordings is not None and self.archive is not None
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
        self._recording_finished(summary)

    async def _close_recordings(self) -> None:
        """Store what is queued (bounded); streams kept for resuming keep their recording open."""
        for task in list(self._clip_tasks):
            task.cancel()
        if self.clip_exports is not None:
            await self.clip_exports.close()
        if self.mp4_exports is not None:
            await self.mp4_exports.close()
        if self.retention is not None:
            await self.retention.close()
        archive = self.archive
        if archive is None:
            return
        # Recordings still waiting for a publisher after a kill stay open: the next start-up
        # continues or closes them by the same rule.
        for _, timer in self._waiting_recordings.values():
            timer.cancel()
        self._waiting_recordings.clear()
        if self._closing_recordings:
            await asyncio.wait(self._closing_recordings, timeout=5.0)
        for session in self._recording_sessions.values():
            session.detach()  # ended streams were finished by _stream_ended already
        self._recording_sessions.clear()
        s = self.settings
        await archive.close(min(s.record_flush_timeout, s.shutdown_timeout / 2))
        with contextlib.suppress(Exception):
            await archive.store.close()
        if self.recordings is not None:
            with contextlib.suppress(Exception):
                await self.recordings.close()

    async def _save_streams(self, hubs: list[StreamHub], *, resumable: bool) -> None:
        for hub in hubs:
            saved = saved_stream.capture(hub, resumable=resumable)
            if saved is None:
                continue
            try:
                path = await asyncio.to_thread(saved_stream.write, self.saved_streams_dir, saved)
            except OSError as exc:
                log.error("could not save stream: %s", exc, extra=hub.log_extra)
                continue
            log.info(
                "stream saved to %s (%s)",
                path,
                "resumable" if resumable else "ended",
                extra=hub.log_extra,
            )

    async def _restore_saved_streams(self) -> None:
        """Take back streams a previous run saved, if it stopped less than the grace ago.

        A restored stream waits a full ``reconnect_grace`` from now for its publisher, who
        could not reconnect while the server was down.
        """
        assert self.channels is not None
        root = self.saved_streams_dir
        grace = self.settings.reconnect_grace
        now = time.time()
        for saved in await asyncio.to_thread(saved_stream.load_all, root):
            fresh = saved.resumable and grace > 0 and now - saved.saved_at < grace
            channel = await self.channels.get(saved.channel) if fresh else None
            if channel is not None:
                self._channel_records[saved.channel] = channel.record
                if self.recordings is not None:
                    point = await self.recordings.resume_point(saved.channel, saved.stream_id)
                    if point is not None:
                        self._resume_points[saved.stream_id] = point
                hub = StreamHub(saved.channel, saved.stream_id, saved.started_at)
                hub.timeline_end = saved.timeline_end
                hub.publishes = saved.publishes
                hub.state = StreamState.RECONNECTING
                for consumer in self._consumers_for(hub):
                    hub.add_consumer(consumer)
                for consumer in hub.consumers:
                    if isinstance(consumer, HlsStreamPackager):
                        saved_stream.restore_into(consumer, saved)
                        break
                self._channel_records.pop(saved.channel, None)
                self.registry.restore(hub, grace=grace)
                self.restored.append(saved.channel)
            elif saved.resumable and self._stream_events is not None:
                # Saved to be resumed, but the server came back too late: it ended after all.
                gone = StreamHub(saved.channel, saved.stream_id, saved.started_at)
                gone.publishes = saved.publishes
                self._stream_events.ended(gone)
            await asyncio.to_thread(saved_stream.discard, root, saved.channel)

    async def reload(self, new: Settings) -> list[str]:
        """Apply what can change while running (SIGHUP); return the settings that changed.

        Settings outside LIVE_RELOADABLE keep their running value until a restart.
        """
        old = self.settings
        changed = [k for k in Settings.model_fields if getattr(old, k) != getattr(new, k)]
        live = {k: getattr(new, k) for k in changed if k in LIVE_RELOADABLE}
        for key in changed:
            if key not in LIVE_RELOADABLE:
                log.warning("setting %s changed: it takes effect at the next restart", key)
        s = self.settings = old.model_copy(update=live)
        self._trusted_proxies = TrustedProxies(s.trusted_proxies)
        if "log_level" in live or "log_format" in live:
            configure_logging(s.log_level, s.log_format)
        self.registry.configure(
            reconnect_grace=s.reconnect_grace, keyframe_timeout=s.keyframe_timeout
        )
        self.publish_attempts.limits = publish_attempt_limits(s)
        if self.rtmp is not None:
            self.rtmp.limits = rtmp_limits(s)
            if s.rtmps_enabled:
                try:
                    if self._tls is None:
                        self._tls = await asyncio.to_thread(tls_context, s)
                        await self.rtmp.start_tls(s.host, s.rtmps_port, self._tls)
                    else:
                        # New handshakes use the reloaded certificate (e.g. after a renewal).
                        context = self._tls
                        cert_file, key_file = s.rtmps_cert_file, s.rtmps_key_file
                        assert cert_file is not None and key_file is not None
                        await asyncio.to_thread(context.load_cert_chain, cert_file, key_file)
                except (OSError, ssl.SSLError) as exc:
                    log.error("RTMPS certificate reload failed, keeping the old one: %s", exc)
        if self.webhooks is not None:
            self.webhooks.target = webhook_target(s)
        if self.publish_approval is not None:
            self.publish_approval.approver.target = approval_target(s)
        log.info("settings reloaded; changed: %s", ", ".join(changed) or "nothing")
        return changed

    async def _readiness(self) -> tuple[bool, list[str]]:
        problems = []
        if self.shutting_down:
            problems.append("shutting down")
        if self.rtmp is None or not self.rtmp.listening:
            problems.append("RTMP ingest is not listening")
        # In a cluster the database is every node's: its outage would take them all out of
        # their load balancers at once and cut off the viewers of running streams, which go on
        # without it. A lone process is not ready without its database.
        if self.db is not None and not self.settings.clustered:
            try:
                async with asyncio.timeout(2.0), self.db.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            except Exception as exc:
                problems.append(f"database: {type(exc).__name__}")
        return (not problems, problems)

    # -- wiring -------------------------------------------------------------------------------

    def _consumers_for(self, hub: StreamHub) -> Sequence[StreamConsumer]:
        s = self.settings
        media = self.store.open(hub.channel, hub.stream_id)
        recording = self._open_recording(hub)
        if recording is not None and self.archive is not None and s.dvr_window > 0:
            # DVR while recorded: the recording notes where each segment went, the origin
            # serves what left the live window from there (see store.dvr_history).
            media.dvr = recording.dvr = ChannelDvr(s.dvr_window, self.archive.store)
        ladder = self.transcoders.admit(hub, s.ladder_for(hub.channel), limit=s.max_transcoders)
        packager = HlsStreamPackager(
            media,
            part_target=s.part_target,
            segment_target=s.segment_target,
            window_segments=s.live_window_segments,
            log_extra=hub.log_extra,
            on_part_published=self.metrics.part_delay_observer(hub.channel),
            audio_only_variant=any(r.kind is RungKind.AUDIO for r in ladder),
            part_hold_back=s.part_hold_back,
            segment_sink=recording,
        )
        transcoder = self.transcoders.start(
            hub,
            packager,
            ladder=ladder,
            settings=TranscoderSettings(
                ffmpeg=ffmpeg_binary(s.transcode_ffmpeg),
                encoder=EncoderOptions(
                    encoder=s.transcode_encoder,
                    preset=s.transcode_preset,
                    hw_device=s.transcode_hw_device,
                ),
                max_lag=s.transcode_max_lag,
                nice=s.transcode_nice,
            ),
        )
        return [packager] if transcoder is None else [packager, transcoder]

    def _publish_bitrate_cap(self, channel: str) -> BitrateCap | None:
        s = self.settings
        limit = s.publish_bitrate_cap(channel)
        return BitrateCap(limit, window=s.publish_bitrate_window) if limit > 0 else None

    def _stream_started(self, hub: StreamHub) -> None:
        if self._stream_events is not None:
            self._stream_events.started(hub)
        if self.live_sharing is not None:
            self.live_sharing.changed()

    def _live_streams(self) -> RegistryLiveStreams:
        """The live streams as the API and the site see them: this node's, and in a cluster
        the other nodes' too."""
        return RegistryLiveStreams(
            self.registry, self.viewers, self.store, shared=self.live_sharing
        )

    def _chat_service(self, sessions: async_sessionmaker[AsyncSession]) -> ChatService:
        self.chat_store = store = ChatStore(sessions)

        async def channel(name: str) -> ChannelRef | None:
            return await store.channel_ref(name) if is_valid_channel_name(name) else None

        def media_time(name: str) -> tuple[str, float] | None:
            # Publishers send in real time: seconds since the stream started are its media
            # time, to within the publisher's buffering.
            hub = self.registry.hub(name)
            return None if hub is None else (hub.stream_id, time.time() - hub.started_at)

        chat = ChatService(
            store,
            channel=channel,
            channels_by_id=store.channel_refs,
            room_state=store.room_state,
            media_time=media_time,
            on_batch=self.metrics.chat_batch_observer,
            # In a cluster, chat crosses nodes through a Redis stream per channel.
            bus=RedisChatBus(self._redis, node_id=self.node_id)
            if self._redis is not None
            else None,
        )
        # Channels also change from the CLI, in another process.
        chat.follow_channels(CHAT_CHANNEL_REFRESH)
        return chat

    async def _chat_user(self, conn: HTTPConnection) -> ChatUser | None:
        assert self.web_sessions is not None
        user = await self.web_sessions.user(conn)
        return None if user is None else ChatUser(user.id, user.username, user.display_name)

    def _public_origins(self) -> tuple[str, ...]:
        url = self.settings.public_url
        return (url,) if url else ()

    def _ingest_url(self) -> str:
        # The configured RTMP URL, else the port actually bound (the setting may be 0).
        s = self.settings
        if s.rtmp_public_url or self.rtmp is None:
            return s.rtmp_base_url
        return s.model_copy(update={"rtmp_port": self.rtmp.port}).rtmp_base_url

    async def _stored_key_hashes(self, channels: Collection[str]) -> dict[str, str]:
        assert self.channels is not None
        return await self.channels.key_hashes(channels)

    def _disconnect_publisher(self, channel: str, reason: str) -> None:
        self.registry.stop(channel, reason)

    def _stream_ended(self, hub: StreamHub) -> None:
        self.key_watch.forget(hub.channel)
        self.claims.release(hub.channel)
        if self.live_sharing is not None:
            self.live_sharing.changed()
        peak = self.viewers.peak(hub.channel)
        self.viewers.forget(hub.channel)
        recording = self._recording_sessions.pop(hub, None)
        if recording is not None:
            recording.end()
        if self._stream_events is not None:
            self._stream_events.ended(hub, peak_viewers=peak)

    async def _authorize(self, request: PublishRequest) -> StreamSink:
        """RTMP's publishes, through the protocol-neutral admission."""
        assert self._rtmp_admission is not None
        return await self._rtmp_admission(request)

    def _admission(self) -> PublishAdmission:
        """Built once the cluster is joined: its attempts and claims may be Redis-backed."""
        assert self.channels is not None
        channels = self.channels

        async def lookup(key: str) -> Channel | None:
            try:
                return await channels.authenticate(key)
            except (SQLAlchemyError, OSError) as exc:
                raise AdmissionUnavailable(type(exc).__name__) from None

        return PublishAdmission(
            lookup=lookup,
            attempts=self.publish_attempts,
            claims=self.claims,
            registry=self.registry,
            key_watch=self.key_watch,
            key_hash=hash_stream_key,
            key_hint=stream_key_hint,
            hook=lambda: self.publish_approval,
            adopt=self._adopt_left_recording if self.settings.clustered else None,
            shutting_down=lambda: self.shutting_down,
            channel_records=self._channel_records,
        )

    async def _channel_exists(self, name: str) -> bool:
        assert self.channels is not None
        return await self.channels.get(name) is not None

    # -- cluster ------------------------------------------------------------------------------

    def _join_cluster(self, s: Settings) -> None:
        """Shared state in Redis: publish leases, and the node directory that lets any node
        send a channel's media requests on to the node serving it."""
        self._redis = redis = redis_client(s.redis_url)
        self.leases = RedisPublishLeases(redis)
        # Viewer counts add up over the nodes (a player seen on two counts once).
        self.viewers.share(RedisViewerPresence(redis))
        self.attempt_store = RedisAttemptStore(redis)
        self.publish_attempts = PublishAttempts(
            publish_attempt_limits(s), shared=self.attempt_store
        )
        self.claims = ChannelClaims(
            self.leases, LeaseKeeper(self.leases, self.node_id, on_lost=self._lease_lost)
        )
        directory = RedisNodeDirectory(redis)
        leases = self.leases
        node_id = self.node_id

        async def locate(channel: str) -> str | None:
            try:
                holder = await leases.holder(channel)
            except LeaseUnavailable:
                return None
            if holder is None or holder.holder == node_id:
                return None
            return await directory.url_of(holder.holder)

        self.media.forwarder = ChannelForwarder(locate, node_id, sign=self._forwarding_token)
        self.live_sharing = SharedLiveStreams(
            RedisLiveDirectory(redis),
            node_id,
            RegistryLiveStreams(self.registry, self.viewers, self.store),
        )
        self.live_sharing.start()
        self._node_directory = directory
        log.info("node %s joined the cluster (Redis %s)", node_id, _redis_location(s.redis_url))

    def _announce_node(self, s: Settings) -> None:
        assert self._node_directory is not None
        port = self.http_port if self._node_socket is None else self._node_socket.getsockname()[1]
        url = s.node_url or f"http://{_advertised_host(s.host)}:{port}"
        self._node_announcer = NodeAnnouncer(self._node_directory, self.node_id, url)
        self._node_announcer.start()

    async def _leave_cluster(self) -> None:
        if self._node_announcer is not None:
            await self._node_announcer.stop()
        if self.media.forwarder is not None:
            await self.media.forwarder.aclose()
        await self.viewers.stop_sharing()
        if self.live_sharing is not None:
            await self.live_sharing.close()
        if self._redis is not None:
            await self._redis.aclose()

    def _left_open_window(self) -> float:
        """How recently a recording left open by a node that went away must have stored its
        last segment to be continued: the grace, plus the lease ttl that held the channel
        for the dead node before anyone could take it."""
        return self.settings.reconnect_grace + self.leases.ttl

    def _ours(self, recording_id: str) -> bool:
        return recording_id in {s.recording_id for s in self._recording_sessions.values()} or any(
            point.recording_id == recording_id for point, _ in self._waiting_recordings.values()
        )

    async def _adopt_left_recording(self, channel: str) -> None:
        """In a cluster, before a new stream of ``channel`` starts here: the recording a node
        that went away left open (killed with the stream live) continues with this publisher,
        one recording across the failover, when its last segment ended within the window;
        an older one is finished as a VOD first."""
        if self.recordings is None or self.archive is None or channel in self._waiting_recordings:
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
        if time.time() - last < self._left_open_window() and self.settings.reconnect_grace > 0:
            log.info(
                "recording %s of %s was left open by another node: it continues here",
                left.id,
                channel,
            )
            self._wait_for_publisher(channel, point, self.settings.reconnect_grace)
        else:
            await self._close_left_open(left.id, token)

    async def _close_orphaned_recordings(self) -> None:
        """In a cluster, now and then: finish the recordings left open by nodes that went
        away when no publisher came back to continue them. The channel's lease, taken for
        the while, keeps a publisher from starting it meanwhile and two nodes from closing
        the same recording."""
        assert self.recordings is not None
        while True:
            await asyncio.sleep(max(5.0, self._left_open_window()))
            try:
                unfinished = await self.recordings.unfinished()
            except Exception:
                log.exception("could not list the open recordings")
                continue
            for recording in unfinished:
                if self._ours(recording.id) or self.registry.hub(recording.channel) is not None:
                    continue
                try:
                    point = await self.recordings.continuation(recording.id)
                    last = point.last_end if point.last_end is not None else recording.started_at
                    if time.time() - last < self._left_open_window():
                        continue
                    lease = await self.leases.acquire(recording.channel, self.node_id)
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
                        await self.leases.release(lease)

    def _fence_token(self, channel: str) -> int:
        """The token this node's writes to ``channel``'s recording carry: its lease's, in a
        cluster; 0 in a single process (its in-process tokens start over at each run, and
        no other writer exists)."""
        lease = self.claims.held(channel)
        return lease.token if self.settings.clustered and lease is not None else 0

    def _lease_lost(self, lease: Lease, reason: str) -> None:
        # Another node has the channel now: this one must stop ingesting it at once.
        self.registry.stop(lease.channel, f"publish lease lost: {reason}", end=True)


def _advertised_host(host: str) -> str:
    """The host other nodes reach this one at, when node_url is not set."""
    if host in ("", "0.0.0.0", "::"):
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


def _redis_location(url: str) -> str:
    """The Redis URL without its credentials, for logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"


def _listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _banner(settings: Settings, server: GoliveServer) -> str:
    rtmps = f", RTMPS on port {server.rtmps_port}" if settings.rtmps_enabled else ""
    lines = [
        f"golive is running: RTMP on port {server.rtmp_port}{rtmps}, "
        f"HTTP on port {server.http_port}",
        f"  RTMP server (OBS 'Server'): {settings.rtmp_base_url}",
    ]
    if server.restored:
        lines.append(f"  Waiting for publishers to resume: {', '.join(server.restored)}")
    if server.demo_key is not None:
        lines += [
            "  Created channel 'demo'. Its stream key (shown once, keep it secret):",
            f"    {server.demo_key}",
            f"  Publish with ffmpeg: ffmpeg -re -i INPUT -c copy -f flv "
            f"{settings.rtmp_publish_url(server.demo_key)}",
        ]
    else:
        lines.append("  Channel 'demo' exists; new key: golive channel rotate-key demo")
    lines.append(f"  Watch: {settings.watch_url('demo')}")
    return "\n".join(lines)


async def serve(
    settings: Settings,
    reload: Callable[[], Settings] | None = None,
    *,
    worker_ready_fd: int | None = None,
) -> None:
    """Run until SIGINT or SIGTERM; SIGHUP re-reads the settings through ``reload``.

    ``worker_ready_fd``: this process is a worker of worker_processes.py, which is told on
    that pipe when it serves (and prints the banner for all of them)."""
    server = GoliveServer(settings, worker=worker_ready_fd is not None)
    await server.start()
    if worker_ready_fd is None:
        print(_banner(settings, server), flush=True)
    else:
        log.info("worker %s serving", server.node_id)
        os.write(worker_ready_fd, b"1")
        os.close(worker_ready_fd)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[None]] = set()

    def on_stop_signal() -> None:
        if stop.is_set():
            log.error("second stop signal: exiting at once")
            os._exit(1)
        stop.set()

    async def reload_settings() -> None:
        assert reload is not None
        try:
            new = await asyncio.to_thread(reload)
        except Exception as exc:
            log.error("settings not reloaded, keeping the running ones: %s", exc)
            return
        await server.reload(new)

    def on_hangup() -> None:
        if reload is None:
            log.warning("SIGHUP: nothing to reload from")
            return
        task = loop.create_task(reload_settings())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_stop_signal)
    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    try:
        await stop.wait()
    finally:
        log.info("shutting down (deadline %g s)", server.settings.shutdown_timeout)
        await server.stop()


def run(
    settings: Settings,
    reload: Callable[[], Settings] | None = None,
    *,
    worker_ready_fd: int | None = None,
) -> int:
    """Entry point of `golive serve` (of one worker, with ``worker_ready_fd``)."""
    configure_logging(settings.log_level, settings.log_format)
    main = serve(settings, reload, worker_ready_fd=worker_ready_fd)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        asyncio.run(main)
    else:
        uvloop.run(main)
    return 0
