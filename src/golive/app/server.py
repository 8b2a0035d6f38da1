"""The composition root: builds every layer, wires them together and runs them in one event
loop (`start`, then `stop`). The decisions live in the parts it composes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Collection, Sequence
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from golive.accounts.api_rate_limit import ApiRateLimit
from golive.accounts.attempt_store import AttemptStore, LocalAttemptStore
from golive.accounts.password_hashing import hash_queue
from golive.accounts.playback_secret import playback_secret
from golive.accounts.playback_tokens import PlaybackTokens
from golive.app.clip_finishing import ClipFinishing
from golive.app.cluster_membership import ClusterMembership, fence_token
from golive.app.http_listener import EmbeddedUvicorn, embedded_uvicorn, listen
from golive.app.ice_host_addresses import use_host_addresses
from golive.app.live_streams import RegistryLiveStreams, SharedLiveStreams
from golive.app.playback_access import PlaybackAccess
from golive.app.recordings_lifecycle import RecordingsLifecycle
from golive.app.restreaming import Restreaming
from golive.app.saved_streams import SavedStreams
from golive.app.settings_wiring import (
    approval_target,
    publish_attempt_limits,
    rtmp_limits,
    tls_context,
    transcoder_settings,
    webhook_target,
)
from golive.app.srt_ingest import SrtIngest
from golive.app.webrtc_playback import WebrtcPlayback
from golive.app.whip_ingest import whip_sessions
from golive.chat.chat_room import ChatUser
from golive.chat.chat_service import ChannelRef, ChatService
from golive.clip_requests import ClipRequests
from golive.config import LIVE_RELOADABLE, Settings
from golive.db.api_tokens import ApiTokenStore
from golive.db.channels import ChannelStore, hash_stream_key, stream_key_hint
from golive.db.chat_replay import ChatReplay
from golive.db.chat_store import ChatStore
from golive.db.clips import ClipExportLedger, ClipStore
from golive.db.engine import Database
from golive.db.invites import InviteStore
from golive.db.models import Channel, is_valid_channel_name
from golive.db.recordings import RecordingStore, segment_row_writer
from golive.db.restream_destinations import DestinationKeys, RestreamDestinationStore
from golive.db.users import UserStore
from golive.db.vod_exports import VodExportStore
from golive.db.vod_views import VodViews
from golive.db.web_sessions import WebSessionStore
from golive.db.webhook_deliveries import WebhookDeliveryLog
from golive.http.api.app import create_api
from golive.http.api.services import ApiServices
from golive.http.app import create_app
from golive.http.channel_access import ChannelAccess
from golive.http.chat_socket import chat_route
from golive.http.client_address import TrustedProxies
from golive.http.clip_media import ClipMediaEndpoint
from golive.http.live_media import LiveMediaEndpoint
from golive.http.playback_gate import PlaybackGate
from golive.http.thumbnails import ThumbnailEndpoint
from golive.http.vod_media import VodMediaEndpoint
from golive.http.web import BrowserSessions, VodSite, public_url_is_https, web_routes
from golive.ingest.rtmp.admission_answer import rtmp_authorizer
from golive.ingest.rtmp.server import RtmpServer
from golive.ingest.whip.whip_sessions import WhipSessions
from golive.live.bitrate_cap import BitrateCap
from golive.live.channel_claims import ChannelClaims
from golive.live.consumer import StreamConsumer
from golive.live.hub import StreamHub
from golive.live.lease_keeper import LeaseKeeper
from golive.live.publish_admission import AdmissionUnavailable, PublishAdmission
from golive.live.publish_attempts import PublishAttempts
from golive.live.publish_lease import Lease, LocalPublishLeases, PublishLeases
from golive.live.registry import StreamRegistry
from golive.live.stream_key_watch import StreamKeyWatch
from golive.log_format import configure_logging
from golive.metrics.server_metrics import ServerMetrics
from golive.packager.hls_stream import HlsStreamPackager
from golive.record.clip_index import ClipIndex
from golive.record.mp4_export import Mp4Exports
from golive.record.recording_index import RecordingSummary
from golive.record.retention_policy import RetentionRules
from golive.record.retention_task import RecordingRetention
from golive.record.segment_archive import RecordingLoss, SegmentArchive
from golive.record.storage_keys import clip_download_key
from golive.record.vod_thumbnail import VodThumbnails
from golive.store.dvr_history import ChannelDvr
from golive.store.live_window import LiveStore
from golive.store.object_store_url import open_object_store
from golive.store.viewer_sessions import ViewerSessions
from golive.transcode.ffmpeg_child import child_setup
from golive.transcode.ladder import RungKind
from golive.transcode.service import TranscodeService, ffmpeg_binary
from golive.webhooks.clip_events import ClipEventNotifier
from golive.webhooks.dispatcher import WebhookDispatcher
from golive.webhooks.publish_approval import PublishApprover
from golive.webhooks.recording_events import RecordingEventNotifier
from golive.webhooks.stream_events import LoggedPublishApproval, StreamEventNotifier

log = logging.getLogger("golive")

# Seconds between checks that open chat rooms still match their channels' owners.
CHAT_CHANNEL_REFRESH = 2.0
# How often the server looks for stream keys changed outside it (`golive channel rotate-key`).
KEY_WATCH_INTERVAL = 1.0


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
        # WebRTC playback (WHEP): each live stream's WebRTC source, this node's sessions.
        use_host_addresses(settings.webrtc_host_addresses)
        self.webrtc = WebrtcPlayback(settings, self.viewers)
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
        self.srt: SrtIngest | None = None
        self.whip: WhipSessions | None = None
        self._tls: ssl.SSLContext | None = None
        self._http: EmbeddedUvicorn | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._http_socket: socket.socket | None = None
        self.demo_key: str | None = None
        self.shutting_down = False
        self._stopped = False
        self.restored: list[str] = []  # channels taken back from a previous run
        self.transcoders = TranscodeService()
        # Restream: each live stream copied to its channel's other RTMP(S) destinations.
        self.restreaming = Restreaming(
            lambda: self.settings,
            ffmpeg_binary(settings.transcode_ffmpeg),
            child_setup(settings.transcode_nice),
        )
        self.restream_destinations: RestreamDestinationStore | None = None
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
            self._stored_key_hashes, self.registry.stop, interval=KEY_WATCH_INTERVAL
        )
        self._key_watch_task: asyncio.Task[None] | None = None
        # Recordings: the archive writer, each recorded stream's recording (from opening to
        # closing, left open or not), and whether the channel being admitted is recorded
        # (set by the admission for the consumer factory, just before it makes the stream).
        self.recordings: RecordingStore | None = None
        self.archive: SegmentArchive | None = None
        self.retention: RecordingRetention | None = None
        self.mp4_exports: Mp4Exports | None = None
        self.vod_views: VodViews | None = None  # the VOD pages' view counter
        self._recording_events: RecordingEventNotifier | None = None
        self._recordings_lifecycle: RecordingsLifecycle | None = None
        self._channel_records: dict[str, bool] = {}
        # Clips: making them, their MP4s, and their background work (thumbnail, MP4).
        self.clips: ClipRequests | None = None
        self.clip_exports: Mp4Exports | None = None
        self._clip_finishing: ClipFinishing | None = None
        self.admission: PublishAdmission | None = None  # built in start()
        self.saved_streams = SavedStreams(
            settings.data_dir / "streams",
            self.registry,
            consumers_for=self._consumers_for,
            channel_records=self._channel_records,
        )
        # Private playback: which channels are not public, and the playback tokens' keys.
        self.playback_access = PlaybackAccess(lambda: self.web_sessions)
        # One publisher per channel: in this process, or across the cluster (redis_url).
        self.node_id = settings.node_id or socket.gethostname()
        self.leases: PublishLeases = LocalPublishLeases()
        self.claims = ChannelClaims(
            self.leases, LeaseKeeper(self.leases, self.node_id, on_lost=self._lease_lost)
        )
        self._orphan_task: asyncio.Task[None] | None = None
        # In a cluster: this node's membership, and every node's live streams for the API
        # and the site (live here or not).
        self._cluster: ClusterMembership | None = None
        self.live_sharing: SharedLiveStreams | None = None

    @property
    def saved_streams_dir(self) -> Path:
        return self.saved_streams.root

    @property
    def channel_access(self) -> ChannelAccess:
        return self.playback_access.channel_access

    @property
    def playback_tokens(self) -> PlaybackTokens | None:
        return self.playback_access.tokens

    @property
    def playback_gate(self) -> PlaybackGate | None:
        return self.playback_access.gate

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
        # Destination keys are encrypted with a key derived from the server's secret.
        secret = await asyncio.to_thread(playback_secret, s.playback_token_secret, s.data_dir)
        self.restream_destinations = RestreamDestinationStore(sessions, DestinationKeys(secret))
        self.restreaming.start(self.restream_destinations)
        _, self.demo_key = await self.channels.ensure_demo()
        await self.playback_access.start(s, self.channels)
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
        lifecycle = self._start_recordings(sessions)
        if self.mp4_exports is not None:
            await self.mp4_exports.recover()
        if self.clip_exports is not None:
            await self.clip_exports.recover()
        self.restored += await self.saved_streams.restore(
            s.reconnect_grace,
            channels=self.channels,
            recordings=lifecycle,
            stream_events=self._stream_events,
        )
        await lifecycle.close_abandoned()
        if s.clustered:
            self._orphan_task = asyncio.create_task(lifecycle.close_orphaned())
        self._key_watch_task = asyncio.create_task(self.key_watch.run())
        self.admission = self._admission(lifecycle)
        self.rtmp = RtmpServer(rtmp_authorizer(self.admission.admit), rtmp_limits(s))
        await self.rtmp.start(s.host, s.rtmp_port, reuse_port=self.worker)
        if s.rtmps_enabled:
            self._tls = await asyncio.to_thread(tls_context, s)
            await self.rtmp.start_tls(s.host, s.rtmps_port, self._tls)
        self.srt = SrtIngest(s, self.admission.check, self.admission.admit)
        self.whip = whip_sessions(lambda: self.settings, self.admission.admit)
        await self.srt.start()
        rtmp = self.rtmp
        self.metrics.watch_streams(
            self.registry.live,
            rtmp_connections=lambda: rtmp.connection_count,
            reload_waiters=lambda: self.media.waiting,
            viewers=self.viewers.count,
        )
        webrtc_sessions = self.webrtc.sessions
        self.metrics.watch_webrtc(webrtc_sessions.counts, lambda: webrtc_sessions.expired)
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
                restreams=self.restream_destinations,
                restream_live=self.restreaming,
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
                restreams=self.restream_destinations,
                restream_live=self.restreaming,
                vods=None
                if self.recordings is None or chat_replay is None
                else VodSite(self.recordings, chat_replay, self.vod_views, self.mp4_exports),
            ),
            chat_route(
                self.chat,
                self._chat_user,
                trusted_origins=self._public_origins,
                may_join=self.playback_access.may_join_chat,
            ),
        ]
        self._http_socket = listen(s.host, s.http_port, reuse_port=self.worker)
        if self.worker:
            self._node_socket = listen(s.host, 0)
        if self._cluster is not None:
            node_socket = self._node_socket
            port = self.http_port if node_socket is None else node_socket.getsockname()[1]
            self._cluster.announce(s, port)
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
            may_watch_channel=self.playback_access.may_watch_channel,
            whep=self.webrtc,
            whip=self.whip,
        )
        self.webrtc.start()
        self._http = embedded_uvicorn(app, s)
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
        if self.srt is not None:
            self.srt.stop_listening()
        if self.rtmp is not None:
            self.rtmp.stop_listening()
            if resumable:
                self.rtmp.request_reconnect("server is restarting: reconnect")
        if self._key_watch_task is not None:
            self._key_watch_task.cancel()
        if self._orphan_task is not None:
            self._orphan_task.cancel()
        self.playback_access.stop()
        hubs = self.registry.suspend() if resumable else self.registry.close()
        # In a cluster, a publisher that reconnects to another node goes on there.
        await self.claims.close()
        await self.saved_streams.save(hubs, resumable=resumable)
        await self.transcoders.close()
        await self.restreaming.close()
        await self.webrtc.close()
        if self.rtmp is not None:
            await self.rtmp.close()
        if self.srt is not None:
            await self.srt.close()
        if self.whip is not None:
            await self.whip.close()
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
        if self._cluster is not None:
            await self._cluster.leave()
        else:
            await self.viewers.stop_sharing()
        if self.db is not None:
            await self.db.close()

    async def _force_close(self) -> None:
        self.transcoders.kill_all()
        self.restreaming.kill()
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

    def _start_recordings(self, sessions: async_sessionmaker[AsyncSession]) -> RecordingsLifecycle:
        s = self.settings
        assert self.webhooks is not None and self.channels is not None
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
        self._clip_finishing = ClipFinishing(
            store,
            self.clip_exports,
            ClipEventNotifier(self.webhooks, base_url=lambda: self.settings.http_base_url),
            self.metrics.clips_created,
            settings=lambda: self.settings,
        )
        self.clips = ClipRequests(
            recordings=self.recordings,
            clips=ClipStore(sessions),
            channels=self.channels,
            store=store,
            is_live=lambda channel: live.get(channel) is not None,
            on_created=self._clip_finishing.created,
            attempt_store=self.attempt_store,
        )
        self._recordings_lifecycle = RecordingsLifecycle(
            self.recordings,
            archive,
            self.registry,
            settings=lambda: self.settings,
            channel_records=self._channel_records,
            leases=self.leases,
            node_id=self.node_id,
            fence_token=self._fence_token,
            on_finished=self._recording_finished,
        )
        return self._recordings_lifecycle

    async def _close_recordings(self) -> None:
        if self._clip_finishing is not None:
            self._clip_finishing.cancel()
        if self.clip_exports is not None:
            await self.clip_exports.close()
        if self.mp4_exports is not None:
            await self.mp4_exports.close()
        if self.retention is not None:
            await self.retention.close()
        if self._recordings_lifecycle is not None:
            await self._recordings_lifecycle.close()

    def _vod_endpoint(self) -> VodMediaEndpoint | None:
        """``/vod/``: the archive's object store, read through the recordings' index."""
        if self.archive is None or self.recordings is None:
            return None
        return VodMediaEndpoint(
            self.archive.store,
            self.recordings.get,
            may_watch_private=self.playback_access.owns_recording,
        )

    def _clip_endpoint(self) -> ClipMediaEndpoint | None:
        """``/clip/``: the clips' copies in the archive's object store."""
        if self.archive is None or self.clips is None:
            return None
        clips, access = self.clips, self.playback_access
        return ClipMediaEndpoint(
            self.archive.store,
            clips.clips.get,
            may_watch_private=lambda request, clip: access.manages_clip(clips, request, clip),
        )

    def _recording_finished(self, recording: RecordingSummary) -> None:
        if self._recording_events is not None:
            self._recording_events.finished(recording)

    def _recording_lost(self, loss: RecordingLoss) -> None:
        if self._recording_events is not None:
            self._recording_events.lost(loss)

    # -- while running ---------------------------------------------------------------------

    async def refresh_channel_access(self) -> None:
        """Re-read which channels are not public (after any change to a channel)."""
        await self.playback_access.refresh()

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
        lifecycle = self._recordings_lifecycle
        recording = lifecycle.open(hub) if lifecycle is not None else None
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
        # The transcoded renditions go to the packager and to WebRTC viewers (B-frame sources).
        whep = self.webrtc.source_for(hub)
        outputs = self.webrtc.rendition_outputs(whep, packager)
        transcoder = self.transcoders.start(
            hub, outputs, ladder=ladder, settings=transcoder_settings(s)
        )
        consumers: list[StreamConsumer] = [packager]
        if transcoder is not None:
            consumers.append(transcoder)
        consumers.append(whep)
        consumers.append(self.restreaming.consumer_for(hub))
        return consumers

    def _publish_bitrate_cap(self, channel: str) -> BitrateCap | None:
        s = self.settings
        limit = s.publish_bitrate_cap(channel)
        return BitrateCap(limit, window=s.publish_bitrate_window) if limit > 0 else None

    def _stream_started(self, hub: StreamHub) -> None:
        if self._stream_events is not None:
            self._stream_events.started(hub)
        if self.live_sharing is not None:
            self.live_sharing.changed()

    def _stream_ended(self, hub: StreamHub) -> None:
        self.key_watch.forget(hub.channel)
        self.restreaming.ended(hub)
        self.claims.release(hub.channel)
        if self.live_sharing is not None:
            self.live_sharing.changed()
        peak = self.viewers.peak(hub.channel)
        self.viewers.forget(hub.channel)
        if self._recordings_lifecycle is not None:
            self._recordings_lifecycle.end(hub)
        if self._stream_events is not None:
            self._stream_events.ended(hub, peak_viewers=peak)

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
            bus=self._cluster.chat_bus() if self._cluster is not None else None,
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

    def _admission(self, recordings: RecordingsLifecycle) -> PublishAdmission:
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
            adopt=recordings.adopt if self.settings.clustered else None,
            shutting_down=lambda: self.shutting_down,
            channel_records=self._channel_records,
        )

    async def _channel_exists(self, name: str) -> bool:
        assert self.channels is not None
        return await self.channels.get(name) is not None

    # -- cluster ------------------------------------------------------------------------------

    def _join_cluster(self, s: Settings) -> None:
        """The Redis-backed leases, rate-limit counts and live streams replace this process's
        own (see ClusterMembership)."""
        self._cluster = cluster = ClusterMembership.join(
            s,
            self.node_id,
            registry=self.registry,
            viewers=self.viewers,
            store=self.store,
            media=self.media,
            sign=self.playback_access.forwarding_token,
        )
        self.leases = cluster.leases
        self.attempt_store = cluster.attempt_store
        self.publish_attempts = PublishAttempts(
            publish_attempt_limits(s), shared=self.attempt_store
        )
        self.claims = ChannelClaims(
            self.leases, LeaseKeeper(self.leases, self.node_id, on_lost=self._lease_lost)
        )
        self.live_sharing = cluster.live_sharing

    def _fence_token(self, channel: str) -> int:
        return fence_token(self.claims, channel, clustered=self.settings.clustered)

    def _lease_lost(self, lease: Lease, reason: str) -> None:
        # Another node has the channel now: this one must stop ingesting it at once.
        self.registry.stop(lease.channel, f"publish lease lost: {reason}", end=True)
