"""The settings turned into each component's configuration.

Each function reads `Settings` and builds the value object one component takes: at start-up,
and again on reload for those that change while running (`GoliveServer.reload`).
"""

from __future__ import annotations

import ssl

from golive.config import Settings
from golive.ingest.rtmp.server import RtmpLimits
from golive.live.publish_attempts import PublishAttemptLimits
from golive.packager.hls_stream import AUDIO_RENDITION, SOURCE_RENDITION
from golive.record.recording_policy import RecordingPolicy
from golive.transcode.ffmpeg_command import EncoderOptions
from golive.transcode.service import ffmpeg_binary
from golive.transcode.transcoder import TranscoderSettings
from golive.webhooks.dispatcher import WebhookTarget
from golive.webhooks.publish_approval import PublishApprovalTarget


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


def transcoder_settings(s: Settings) -> TranscoderSettings:
    return TranscoderSettings(
        ffmpeg=ffmpeg_binary(s.transcode_ffmpeg),
        encoder=EncoderOptions(
            encoder=s.transcode_encoder,
            preset=s.transcode_preset,
            hw_device=s.transcode_hw_device,
        ),
        max_lag=s.transcode_max_lag,
        nice=s.transcode_nice,
    )


def recording_policy(s: Settings) -> RecordingPolicy:
    return RecordingPolicy(
        enabled=s.record,
        renditions=s.record_renditions,
        source_renditions=(SOURCE_RENDITION, AUDIO_RENDITION),
    )
