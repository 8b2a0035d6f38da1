"""Server settings, read from ``GOLIVE_*`` environment variables and an optional TOML file."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from golive.transcode.ladder import DEFAULT_LADDER, PASSTHROUGH_LADDER, Rung, check_ladder

ENV_PREFIX = "GOLIVE_"
MIB = 1024 * 1024

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
LogFormat = Literal["text", "json"]
PublishDecision = Literal["allow", "deny"]
SignupMode = Literal["open", "invite", "closed"]

# What SIGHUP applies to a running server; everything else needs a restart. Settings used per
# new connection or stream (timeouts, limits, targets) apply to new ones only.
LIVE_RELOADABLE = frozenset(
    {
        "log_level",
        "log_format",
        "public_url",
        "rtmp_public_url",
        "part_target",
        "part_hold_back",
        "segment_target",
        "live_window_segments",
        "reconnect_grace",
        "keyframe_timeout",
        "rtmp_handshake_timeout",
        "rtmp_idle_timeout",
        "rtmp_max_message_size",
        "rtmp_max_chunk_size",
        "rtmp_max_connections",
        "rtmp_connect_timeout",
        "rtmp_max_command_size",
        "rtmp_max_connections_per_address",
        "max_publish_bitrate",
        "channel_max_publish_bitrate",
        "publish_bitrate_window",
        "max_transcoders",
        "restream_max_destinations",
        "restream_max_buffer",
        "restream_connect_timeout",
        "publish_max_failures",
        "publish_failure_window",
        "publish_failure_cooldown",
        "rtmps_cert_file",
        "rtmps_key_file",
        "shutdown_timeout",
        "metrics_token",
        "webhook_url",
        "webhook_secret",
        "webhook_timeout",
        "webhook_max_attempts",
        "webhook_retry_delay",
        "on_publish_url",
        "on_publish_timeout",
        "on_publish_default",
        "trusted_proxies",
        "max_request_body",
        "api_requests_per_minute",
        "signup",
        "record",
        "record_renditions",
        "record_retention_days",
        "record_retention_gb",
        "dvr_window",
    }
)


class ConfigFileError(ValueError):
    """The TOML configuration file is missing, unreadable or not valid TOML."""


class Settings(BaseSettings):
    """Everything an operator can tune, validated once at startup.

    Precedence, highest first: keyword arguments (the command line), ``GOLIVE_*`` environment
    variables, the TOML file named by ``config_file``, then the defaults below.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        # A typo in the TOML file or a keyword argument should fail loudly, not be ignored.
        extra="forbid",
        validate_default=True,
    )

    host: str = Field(
        default="0.0.0.0",
        min_length=1,
        description="Address the RTMP and HTTP servers listen on (0.0.0.0 for every IPv4 interface).",
    )
    rtmp_port: int = Field(
        default=1935,
        ge=0,
        le=65535,
        description="RTMP ingest port (0 lets the OS pick a free port).",
    )
    http_port: int = Field(
        default=8080,
        ge=0,
        le=65535,
        description="HTTP port for the player, HLS and the API (0 lets the OS pick a free port).",
    )
    data_dir: Path = Field(
        default=Path("golive-data"),
        description="Directory for the database, live segments and recordings; created if missing. "
        "Relative paths are resolved against the working directory at startup.",
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL viewers use to reach the HTTP server, e.g. https://live.example.com, "
        "used in printed and displayed URLs. Default: http://<host>:<http_port>, with a wildcard "
        "host (0.0.0.0, ::) shown as the loopback address.",
    )
    rtmp_public_url: str | None = Field(
        default=None,
        description="Base RTMP URL publishers use, e.g. rtmp://live.example.com:1935/live. "
        "Default: rtmp://<public_url host or host>:<rtmp_port>/live.",
    )
    part_target: float = Field(
        default=0.2,
        ge=0.1,
        le=2.0,
        description="Target duration of a low-latency HLS partial segment, in seconds.",
    )
    part_hold_back: float = Field(
        default=2.0,
        ge=2.0,
        le=10.0,
        description="PART-HOLD-BACK, in PART-TARGETs: how far behind the live edge LL-HLS "
        "players start (and hls.js stays: at its default settings it never catches up). "
        "RFC 8216bis requires at least 2 and recommends 3; 2 puts hls.js at its defaults "
        "0.8 s behind the publisher instead of 1.1 s (docs/benchmarks.md). Raise it for "
        "viewers on unsteady links.",
    )
    segment_target: float = Field(
        default=1.0,
        ge=0.2,
        le=30.0,
        description="Target duration of an HLS segment, in seconds; at least twice part_target. "
        "Segments are cut at keyframes, so the encoder's keyframe interval should divide it.",
    )
    live_window_segments: int = Field(
        default=15,
        ge=3,
        le=1000,
        description="Number of complete segments kept in the live playlist (and in memory). "
        "Longer than six target durations so that LL-HLS delta updates (_HLS_skip) pay off.",
    )
    reconnect_grace: float = Field(
        default=10.0,
        ge=0.0,
        le=3600.0,
        description="Seconds a stream stays live for viewers after its publisher drops, so a "
        "publisher that reconnects within this time continues the same stream.",
    )
    keyframe_timeout: float = Field(
        default=10.0,
        gt=0.0,
        le=600.0,
        description="Seconds a publisher may send video without a keyframe before it is disconnected.",
    )
    rtmp_handshake_timeout: float = Field(
        default=10.0,
        gt=0.0,
        le=300.0,
        description="Seconds an RTMP client has to complete the handshake and start publishing.",
    )
    rtmp_idle_timeout: float = Field(
        default=30.0,
        gt=0.0,
        le=3600.0,
        description="Seconds without any data from an RTMP client before it is disconnected.",
    )
    rtmp_max_message_size: int = Field(
        default=16 * MIB,
        ge=64 * 1024,
        le=16 * MIB,
        description="Largest RTMP message accepted, in bytes (the protocol's 24-bit length field "
        "caps it at 16 MiB). Larger messages close the connection.",
    )
    rtmp_max_chunk_size: int = Field(
        default=1 * MIB,
        ge=128,
        le=16 * MIB,
        description="Largest chunk size a publisher may announce with Set Chunk Size, in bytes.",
    )
    rtmp_max_connections: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="Maximum simultaneous RTMP connections; further connections are refused.",
    )
    rtmp_connect_timeout: float = Field(
        default=5.0,
        gt=0.0,
        le=300.0,
        description="Seconds an RTMP client has from opening its connection to completing the "
        "RTMP (and, for RTMPS, TLS) handshake and sending connect; idle sockets are closed then.",
    )
    rtmp_max_command_size: int = Field(
        default=64 * 1024,
        ge=4 * 1024,
        le=16 * MIB,
        description="Largest RTMP command, data or control message accepted, in bytes, and the "
        "largest message of any kind before a publish is accepted. Checked at the chunk header, "
        "before the message is read; larger ones close the connection.",
    )
    rtmp_max_connections_per_address: int = Field(
        default=10,
        ge=1,
        le=1_000_000,
        description="Maximum simultaneous RTMP connections from one IP address; further "
        "connections from it are closed at once (and logged).",
    )
    max_publish_bitrate: int = Field(
        default=0,
        ge=0,
        le=10_000_000_000,
        description="Most bits per second of media a publisher may send, averaged over "
        "publish_bitrate_window; a publisher above it is disconnected with an error saying "
        "why. 0: no cap. Applies to new publishers.",
    )
    channel_max_publish_bitrate: dict[str, int] = Field(
        default_factory=dict,
        description="Per-channel caps overriding max_publish_bitrate, in bit/s, e.g. "
        "{ demo = 8000000 }; 0 lifts the cap for that channel.",
    )
    publish_bitrate_window: float = Field(
        default=5.0,
        ge=1.0,
        le=600.0,
        description="Seconds over which a publisher's bitrate is averaged against its cap: "
        "bursts shorter than this (a keyframe, catching up after a stall) are tolerated.",
    )
    publish_max_failures: int = Field(
        default=10,
        ge=0,
        le=10_000,
        description="Failed publish attempts (unknown stream key) allowed from one address "
        "within publish_failure_window seconds; the next failure starts a cool-down in which "
        "that address is refused, even with a valid key. 0 turns the limit off.",
    )
    publish_failure_window: float = Field(
        default=60.0,
        gt=0.0,
        le=86_400.0,
        description="Seconds over which failed publish attempts are counted.",
    )
    publish_failure_cooldown: float = Field(
        default=60.0,
        gt=0.0,
        le=86_400.0,
        description="Seconds an address that failed publish_max_failures times is refused.",
    )
    log_level: LogLevel = Field(
        default="info", description="Logging level: debug, info, warning, error or critical."
    )
    log_format: LogFormat = Field(
        default="text",
        description="Log line format: text (human-readable) or json (one JSON object per line, "
        "with channel and stream_id fields on every line that concerns a stream).",
    )
    rtmps_port: int = Field(
        default=1936,
        ge=0,
        le=65535,
        description="RTMPS (RTMP over TLS) ingest port; used only when rtmps_cert_file and "
        "rtmps_key_file are set (0 lets the OS pick a free port).",
    )
    rtmps_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate chain for RTMPS; setting it and rtmps_key_file turns "
        "RTMPS on. Re-read on SIGHUP.",
    )
    rtmps_key_file: Path | None = Field(
        default=None,
        description="PEM private key for rtmps_cert_file. Re-read on SIGHUP.",
    )
    srt_port: int = Field(
        default=8890,
        ge=0,
        le=65535,
        description="SRT ingest UDP port (MPEG-TS over SRT; one port takes every publisher, the "
        "stream id names the stream key: publish:<key> or #!::r=live/<key>,m=publish). "
        "0 turns SRT ingest off. Under --workers only the first worker listens on it.",
    )
    srt_passphrase: str = Field(
        default="",
        description="SRT encryption passphrase publishers must also set (10 to 79 characters); "
        "empty: no encryption, the stream key alone authorises.",
    )
    srt_latency_ms: int = Field(
        default=120,
        ge=20,
        le=10000,
        description="SRT receive latency in milliseconds (SRTO_LATENCY; the larger of this and "
        "the publisher's is used): time for retransmissions. libsrt's default of 120 suits a "
        "good link; raise it to 3-4x the round trip on long or lossy ones. Adds to the "
        "stream's delay.",
    )
    srt_max_connections: int = Field(
        default=100,
        ge=1,
        le=10000,
        description="SRT publishers connected (or in their handshake) at once; more are refused.",
    )
    whip_max_sessions: int = Field(
        default=50,
        ge=0,
        le=10000,
        description="WHIP (WebRTC) publishers at once, counting those being admitted or "
        "connecting; an offer beyond it is answered 503 with Retry-After. Each one costs an "
        "Opus to AAC encode on a worker thread. 0: WHIP ingest (POST /live/whip) off.",
    )
    shutdown_timeout: float = Field(
        default=10.0,
        gt=0.0,
        le=600.0,
        description="Seconds a graceful shutdown (SIGTERM, SIGINT) may take: publishers are told "
        "to reconnect, open segments are finished and live state is saved within this time.",
    )
    viewer_expiry: float = Field(
        default=30.0,
        ge=2.0,
        le=600.0,
        description="Seconds after a player's last playlist request that it stops counting as "
        "a viewer (docs/viewers.md).",
    )
    metrics_token: str = Field(
        default="",
        description="When set, /metrics answers only requests with `Authorization: Bearer "
        "<metrics_token>` (others get 401); empty: /metrics is open, as Prometheus expects by "
        "default. At least 16 characters when set.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Reverse proxies (IP addresses or CIDR blocks, e.g. 10.0.0.0/8) whose "
        "Forwarded / X-Forwarded-For headers name the client; from any other peer those "
        "headers are ignored. Empty: the peer is always the client. Every per-address limit "
        "and the viewer count use the address decided this way.",
    )
    api_requests_per_minute: int = Field(
        default=600,
        ge=0,
        le=1_000_000,
        description="Requests one API token may make in any 60 s (across every node of a "
        "cluster); more are answered 429 with Retry-After. 0 turns the limit off.",
    )
    max_request_body: int = Field(
        default=1 * MIB,
        ge=16 * 1024,
        le=1024 * MIB,
        description="Largest HTTP request body accepted, in bytes: a larger Content-Length is "
        "answered 413 without being read, a longer chunked body is cut off.",
    )
    max_request_head: int = Field(
        default=32 * 1024,
        ge=4 * 1024,
        le=1 * MIB,
        description="Largest HTTP request line plus headers, in bytes; larger heads are answered "
        "431 and the connection closed.",
    )
    max_request_headers: int = Field(
        default=100,
        ge=16,
        le=10_000,
        description="Most header fields one HTTP request may carry; more are answered 431.",
    )
    signup: SignupMode = Field(
        default="open",
        description="Who may create an account on the web site: open (anyone), invite (only "
        "with an unused invite code from `golive invite create`) or closed (nobody; accounts "
        "come from `golive user add`).",
    )
    password_hash_queue: int = Field(
        default=16,
        ge=1,
        le=10_000,
        description="Password checks (sign-in, sign-up) that may run or wait at once; more are "
        "answered 429 at once, so a flood cannot delay real sign-ins for long.",
    )
    webhook_url: str | None = Field(
        default=None,
        description="URL that receives every event (stream.started, stream.ended, "
        "recording.ready, recording.failed, clip.created) as a signed JSON POST. Unset: no event "
        "webhooks.",
    )
    webhook_secret: str = Field(
        default="",
        description="Shared secret for the HMAC-SHA256 signature of every webhook request "
        "(X-Golive-Signature); required, at least 16 characters, when a webhook URL is set.",
    )
    webhook_timeout: float = Field(
        default=5.0,
        gt=0.0,
        le=60.0,
        description="Seconds one event webhook delivery attempt may take.",
    )
    webhook_max_attempts: int = Field(
        default=6,
        ge=1,
        le=20,
        description="Delivery attempts per event webhook before it is marked failed.",
    )
    webhook_retry_delay: float = Field(
        default=2.0,
        gt=0.0,
        le=600.0,
        description="Seconds before the first retry of a failed event webhook; each further "
        "retry waits twice as long (at most 10 minutes).",
    )
    on_publish_url: str | None = Field(
        default=None,
        description="URL asked to approve every publish (after the stream key is checked): "
        "a 2xx answer approves, 4xx refuses; a timeout, network error or 5xx falls back to "
        "on_publish_default. Unset: every valid stream key may publish.",
    )
    on_publish_timeout: float = Field(
        default=3.0,
        gt=0.0,
        le=8.0,
        description="Seconds the on_publish webhook may take before on_publish_default applies.",
    )
    on_publish_default: PublishDecision = Field(
        default="allow",
        description="What an unanswered on_publish webhook means: allow or deny.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy async database URL. "
        "Default: sqlite+aiosqlite:///<data_dir>/golive.db.",
    )
    redis_url: str = Field(
        default="",
        description="Redis URL (redis://[:password@]host:port/db, rediss:// for TLS). Set, "
        "this process is a node of a cluster: one publisher per channel cluster-wide (a "
        "lease with a fencing token), chat, viewer counts and rate limits shared through "
        "Redis. Empty: one process with everything in memory. See docs/scale-out.md.",
    )
    node_id: str = Field(
        default="",
        description="This node's name in a cluster (lease holder, routing answers, logs). "
        "Default: the host name, with the worker number appended under --workers.",
    )
    node_url: str = Field(
        default="",
        description="The HTTP address other nodes reach this one at (http://host:port), "
        "advertised in Redis so that a request for a channel served by another node can be "
        "forwarded to it. Default: http://<host name>:<http_port>.",
    )
    workers: int = Field(
        default=0,
        ge=0,
        le=256,
        description="golive processes on this machine, sharing the RTMP and HTTP ports (the "
        "kernel spreads connections over them, SO_REUSEPORT); each is a node of the cluster, "
        "so more than one needs redis_url. 0: one per core when redis_url is set, else one.",
    )
    transcode_ladder: list[Rung] = Field(
        default_factory=lambda: list(DEFAULT_LADDER),
        description="The renditions of every channel without its own ladder: rungs of kind "
        "source (the publisher's video, passed through), video (name, height = short side, fps, "
        "bitrate in bit/s) and audio (the audio-only variant). Rungs at or above the source's "
        "size are skipped.",
    )
    channel_ladders: dict[str, list[Rung] | Literal["passthrough"]] = Field(
        default_factory=dict,
        description='Per-channel ladders overriding transcode_ladder; "passthrough" offers '
        "the source and its audio only, with no encoding.",
    )
    transcode_ffmpeg: str = Field(
        default="",
        description="ffmpeg binary for transcoding. Default: the one the imageio-ffmpeg wheel "
        "installs.",
    )
    transcode_encoder: Literal["libx264", "h264_nvenc", "h264_vaapi", "h264_qsv"] = Field(
        default="libx264",
        description="H.264 encoder of the encoded renditions: libx264 (CPU) or a hardware "
        "encoder (NVIDIA, VA-API, Quick Sync).",
    )
    transcode_preset: str = Field(
        default="veryfast",
        pattern=r"^[a-z0-9]{1,16}$",
        description="Encoder speed preset (libx264: ultrafast ... veryslow).",
    )
    transcode_hw_device: str = Field(
        default="",
        description="Hardware device for h264_vaapi (default /dev/dri/renderD128) or h264_qsv.",
    )
    transcode_max_lag: float = Field(
        default=2.0,
        ge=0.5,
        le=30.0,
        description="Seconds an encoder may fall behind real time before the most expensive "
        "rendition is shed.",
    )
    transcode_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="How many nice steps below the server its ffmpeg children run: when "
        "encoding wants more CPU than there is, the server (ingest, packaging of the source "
        "rendition, HTTP) is served first and the encoders fall behind and shed renditions. "
        "0: same priority.",
    )
    max_transcoders: int = Field(
        default=2,
        ge=0,
        le=10_000,
        description="Most streams transcoded at once (each one ffmpeg child encoding its "
        "ladder); a stream that starts beyond it is served passthrough (source and audio "
        "only) and says so in its health. 0: no limit. The default suits a 2-core machine "
        "(docs/architecture.md); raise it with more cores or a hardware encoder.",
    )
    # Restream (simulcast) to other RTMP(S) services (docs/architecture.md#restream).
    restream_max_destinations: int = Field(
        default=5,
        ge=0,
        le=100,
        description="Most restream destinations a channel may have (each one ffmpeg child "
        "copying the stream, no re-encode, while the channel is live). 0: restreaming off.",
    )
    restream_max_buffer: int = Field(
        default=4 << 20,
        ge=64 << 10,
        le=256 << 20,
        description="Bytes of the stream queued for one restream destination before it counts "
        "as stalled: it is dropped and retried with backoff, the stream and the other "
        "destinations going on. About 5 s of a 6 Mbit/s stream by default.",
    )
    restream_connect_timeout: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="Seconds a restream destination has to take the stream once its ffmpeg "
        "child starts; past it the attempt fails and is retried with backoff.",
    )
    # WebRTC playback, WHEP (issue 14; docs/architecture.md#webrtc-playback-whep).
    whep_max_viewers: int = Field(
        default=300,
        ge=0,
        le=100_000,
        description="Most WebRTC (WHEP) viewers on this node, connecting or connected; an "
        "offer beyond it is answered 503 with Retry-After. Each one costs RTP packetization "
        "on the event loop (aiortc packetizes per viewer). 0: WebRTC playback off.",
    )
    whep_connect_timeout: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="Seconds a WHEP viewer has from its offer to complete ICE and DTLS; past "
        "it the peer connection is closed and its memory freed.",
    )
    webrtc_ice_servers: list[str] = Field(
        default_factory=list,
        description="STUN/TURN server URLs given to the WebRTC stack (stun:host:port, "
        "turn:host:port?transport=udp, turns:host:port). Empty: host candidates only, "
        "enough when viewers reach the server's addresses directly (no NAT between).",
    )
    webrtc_host_addresses: list[str] = Field(
        default_factory=list,
        description="The addresses this node offers as WebRTC host candidates (WHEP and "
        'WHIP), e.g. ["203.0.113.7"]. Empty: every address of every interface but '
        "loopback (the WebRTC stack's own choice). 127.0.0.1 is allowed: tests and "
        "benchmarks keep WebRTC on loopback with it.",
    )
    webrtc_turn_username: str = Field(
        default="", description="Username for the turn:/turns: URLs of webrtc_ice_servers."
    )
    webrtc_turn_credential: str = Field(
        default="",
        description="Credential (password) for the turn:/turns: URLs of webrtc_ice_servers.",
    )
    # Recording storage (issue 12).
    recording_storage: str = Field(
        default="",
        description="Where recordings are written. Empty: local disk under "
        "<data_dir>/recordings. file:///absolute/path: local disk there. "
        "s3://bucket/optional/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1: an "
        "S3-compatible bucket (AWS S3, MinIO, SeaweedFS, ...); further query parameters: "
        "allow_http (plain HTTP to a host that is not loopback), virtual_hosted_style, "
        "connect_timeout, timeout, retry_timeout (seconds), max_retries. Credentials from "
        "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; "
        "preferred) or the access_key_id and secret_access_key query parameters (they then "
        "sit in a config file or the process environment as plain text).",
    )
    record: bool = Field(
        default=True,
        description="Record every live session (each channel can opt out with its own "
        "switch). Segments are stored as they complete, off the live path; a session stays "
        "one recording across publisher reconnects within reconnect_grace, and across a "
        "crash of the server when the publisher is back within reconnect_grace of the "
        "restart. Read per new stream.",
    )
    record_renditions: Literal["source", "all"] = Field(
        default="source",
        description='Renditions recorded: "source" (the publisher\'s video with its audio, '
        'and the audio-only rendition) or "all" (the encoded renditions too).',
    )
    dvr_window: float = Field(
        default=7200.0,
        ge=0.0,
        le=86400.0,
        description="Seconds of a live stream a viewer can seek back through while it is live "
        "(DVR: /live/<channel>/dvr.m3u8 and dvr.mpd). DVR exists while the stream is recorded: "
        "segments older than the live window are served from the recording. 0: no DVR. Read "
        "per new stream.",
    )
    record_buffer_bytes: int = Field(
        default=64 * MIB,
        ge=MIB,
        le=16 * 1024 * MIB,
        description="Segment bytes held for storage while it is slow or down (for every "
        "stream together). Past it the oldest unwritten segments are dropped and the "
        "recording marks the gap; the live stream is never slowed.",
    )
    record_flush_timeout: float = Field(
        default=30.0,
        ge=0.0,
        le=3600.0,
        description="Seconds an ended stream's recording waits for storage to take its last "
        "segments before it is finished with what was stored (also the bound on waiting for "
        "the recording queue at shutdown).",
    )
    record_retention_days: int = Field(
        default=30,
        ge=0,
        le=100_000,
        description="Days a recording is kept, counted from its start; older ones are deleted "
        "(objects, then index) by a background pass every 5 minutes. 0: kept forever. A "
        "channel's own retention_days (API) overrides it. The default keeps a month: "
        "recording is on by default and would otherwise fill the disk.",
    )
    record_retention_gb: float = Field(
        default=0.0,
        ge=0.0,
        le=1e9,
        description="Total size cap of the finished recordings, in GB (10^9 bytes); while "
        "they weigh more, the oldest are deleted first, whatever their channel. 0: no cap. "
        "Recordings being written are never deleted.",
    )
    # Private playback (issue 12).
    playback_token_secret: str = Field(
        default="",
        description="Secret (at least 16 characters) that signs playback tokens (the "
        "/p/<token>/... URLs of private media). Empty: a random one is generated into "
        "<data_dir>/playback_token_secret (mode 0600) on first start and kept. Set it when "
        "several origins must accept each other's tokens. Changing it invalidates every "
        "token handed out, unless the old one is kept in playback_token_previous_secret.",
    )
    playback_token_previous_secret: str = Field(
        default="",
        description="A former playback_token_secret still accepted (never used to sign), "
        "so tokens handed out before a rotation keep working until they expire; empty once "
        "they have. See docs/security.md, Playback tokens.",
    )
    playback_token_max_ttl: int = Field(
        default=7 * 24 * 3600,
        ge=1,
        le=365 * 24 * 3600,
        description="Longest lifetime, in seconds, of a playback token the API issues "
        "(POST /api/v1/playback-tokens; the default ttl is 3600).",
    )
    config_file: Path | None = Field(
        default=None,
        description="TOML file with settings as top-level keys named like the fields here "
        "(e.g. rtmp_port = 1936); environment variables override it.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file is found through the two sources that outrank it; neither dotenv nor
        # secret files are configured, so they are left out.
        path: Any = None
        if isinstance(init_settings, InitSettingsSource):
            path = init_settings.init_kwargs.get("config_file")
        if path is None:
            path = os.environ.get(f"{ENV_PREFIX}CONFIG_FILE") or None
        toml = _TomlFileSource(settings_cls, Path(path) if path is not None else None)
        return (init_settings, env_settings, toml)

    @field_validator("webrtc_ice_servers")
    @classmethod
    def _check_ice_servers(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("stun:", "turn:", "turns:")) or len(url) < 7:
                raise ValueError(f"{url!r} is not a stun:, turn: or turns: URL")
        return value

    @field_validator("webrtc_host_addresses")
    @classmethod
    def _check_host_addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            ipaddress.ip_address(address)  # ValueError names the bad one
        return value

    @field_validator("transcode_ladder")
    @classmethod
    def _check_transcode_ladder(cls, value: list[Rung]) -> list[Rung]:
        check_ladder(value)
        return value

    @field_validator("channel_ladders")
    @classmethod
    def _check_channel_ladders(
        cls, value: dict[str, list[Rung] | Literal["passthrough"]]
    ) -> dict[str, list[Rung] | Literal["passthrough"]]:
        for ladder in value.values():
            if ladder != "passthrough":
                check_ladder(ladder)
        return value

    @field_validator("channel_max_publish_bitrate")
    @classmethod
    def _check_channel_bitrates(cls, value: dict[str, int]) -> dict[str, int]:
        for channel, cap in value.items():
            if cap < 0:
                raise ValueError(f"channel {channel}: the bitrate cap must be 0 or more")
        return value

    def publish_bitrate_cap(self, channel: str) -> int:
        """The bitrate cap of ``channel``'s publishers in bit/s; 0 for none."""
        return self.channel_max_publish_bitrate.get(channel, self.max_publish_bitrate)

    def ladder_for(self, channel: str) -> list[Rung]:
        """The ladder of ``channel``: its own, or transcode_ladder."""
        ladder = self.channel_ladders.get(channel, self.transcode_ladder)
        return list(PASSTHROUGH_LADDER) if ladder == "passthrough" else list(ladder)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lowercase_level(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Fixed at startup so a later chdir cannot move the database or the media.
        return value.expanduser().absolute()

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR block") from None
        return [entry.strip() for entry in value]

    @field_validator("webhook_url", "on_publish_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http or https URL")
        return value

    @field_validator("public_url", "rtmp_public_url")
    @classmethod
    def _check_base_url(cls, value: str | None, info: Any) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        scheme = "rtmp" if info.field_name == "rtmp_public_url" else "http"
        parts = urlsplit(value)
        allowed = ("rtmp", "rtmps") if scheme == "rtmp" else ("http", "https")
        if parts.scheme not in allowed or not parts.hostname:
            raise ValueError(f"must be an absolute {' or '.join(allowed)} URL")
        return value

    @field_validator("recording_storage")
    @classmethod
    def _check_recording_storage(cls, value: str, info: Any) -> str:
        from golive.store.object_store_url import open_object_store

        value = value.strip()
        data_dir = info.data.get("data_dir") or Path("golive-data")
        # Builds the backend (no I/O: a local directory is made by the first write, an S3
        # client connects on the first request) only to check the URL; app.py opens its own.
        open_object_store(value, data_dir)
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        value = value.strip()
        if value and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("redis_url must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("node_url")
    @classmethod
    def _check_node_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and (
            urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc
        ):
            raise ValueError("node_url must be an http:// or https:// address")
        return value

    @property
    def worker_count(self) -> int:
        """How many processes ``golive serve`` runs (``workers``, 0 resolved)."""
        if self.workers:
            return self.workers
        return max(1, os.cpu_count() or 1) if self.redis_url else 1

    @property
    def clustered(self) -> bool:
        """True when this process is a node of a cluster (shared state in Redis)."""
        return bool(self.redis_url)

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.segment_target < 2 * self.part_target - 1e-9:
            raise ValueError(
                f"segment_target ({self.segment_target}) must be at least twice "
                f"part_target ({self.part_target})"
            )
        if self.workers > 1 and not self.redis_url:
            raise ValueError(
                "workers > 1 needs redis_url: the processes share their state through Redis"
            )
        if self.rtmp_port != 0 and self.rtmp_port == self.http_port:
            raise ValueError("rtmp_port and http_port must differ")
        if (self.rtmps_cert_file is None) != (self.rtmps_key_file is None):
            raise ValueError("rtmps_cert_file and rtmps_key_file must be set together")
        rtmps_clash = self.rtmps_port != 0 and self.rtmps_port in (self.rtmp_port, self.http_port)
        if self.rtmps_enabled and rtmps_clash:
            raise ValueError("rtmps_port must differ from rtmp_port and http_port")
        if self.srt_passphrase and not 10 <= len(self.srt_passphrase) <= 79:
            raise ValueError("srt_passphrase must be 10 to 79 characters when set (libsrt)")
        if self.metrics_token and len(self.metrics_token) < 16:
            raise ValueError("metrics_token must be at least 16 characters when set")
        for name in ("playback_token_secret", "playback_token_previous_secret"):
            if 0 < len(getattr(self, name)) < 16:
                raise ValueError(f"{name} must be at least 16 characters when set")
        if (self.webhook_url or self.on_publish_url) and len(self.webhook_secret) < 16:
            raise ValueError(
                "webhook_secret must be at least 16 characters when a webhook URL is set"
            )
        if not self.database_url.strip():
            # Assigned here rather than in a default factory because it depends on data_dir.
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'golive.db'}"
        return self

    @property
    def rtmps_enabled(self) -> bool:
        """Whether RTMPS is configured (certificate and key given)."""
        return self.rtmps_cert_file is not None and self.rtmps_key_file is not None

    @property
    def display_host(self) -> str:
        """The listen host as it can appear in a URL; wildcards become the loopback address.

        Loopback is chosen over the machine's hostname because it is always correct on the
        server itself, while a hostname often does not resolve elsewhere; ``public_url`` is the
        setting for anything else.
        """
        host = self.host.strip("[]")
        if host in ("", "0.0.0.0"):
            return "127.0.0.1"
        if host == "::":
            return "[::1]"
        try:
            if ipaddress.ip_address(host).version == 6:
                return f"[{host}]"
        except ValueError:
            pass
        return host

    @property
    def http_base_url(self) -> str:
        """Base URL of the HTTP server without a trailing slash."""
        if self.public_url:
            return self.public_url
        return f"http://{self.display_host}:{self.http_port}"

    @property
    def rtmp_base_url(self) -> str:
        """The RTMP URL a publisher connects to, without the stream key (OBS's "Server")."""
        if self.rtmp_public_url:
            return self.rtmp_public_url
        host = self.display_host
        if self.public_url:
            name = urlsplit(self.public_url).hostname or host
            host = f"[{name}]" if ":" in name else name
        return f"rtmp://{host}:{self.rtmp_port}/live"

    def rtmp_publish_url(self, stream_key: str) -> str:
        """The full RTMP URL including the stream key, for ffmpeg-style publishers."""
        return f"{self.rtmp_base_url}/{stream_key}"

    def srt_publish_url(self, stream_key: str, port: int | None = None) -> str:
        """The SRT URL a publisher sends MPEG-TS to, stream key in the stream id (ffmpeg's
        syntax; OBS takes the same URL)."""
        host = self.display_host
        if self.public_url:
            name = urlsplit(self.public_url).hostname or host
            host = f"[{name}]" if ":" in name else name
        return f"srt://{host}:{port or self.srt_port}?streamid=publish:{stream_key}"

    def watch_url(self, channel_name: str) -> str:
        """The page where viewers watch a channel."""
        return f"{self.http_base_url}/{channel_name}"


class _TomlFileSource(PydanticBaseSettingsSource):
    """Settings from a flat TOML file, below environment variables in precedence."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._path = path

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Unused: __call__ returns the whole file at once.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if self._path is None:
            return {}
        try:
            with self._path.expanduser().open("rb") as f:
                data = tomllib.load(f)
        except OSError as exc:
            raise ConfigFileError(
                f"cannot read config file {self._path}: {exc.strerror or exc}"
            ) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError(f"invalid TOML in {self._path}: {exc}") from exc
        if "config_file" in data:
            raise ConfigFileError(f"{self._path}: config_file cannot be set inside a config file")
        return data
