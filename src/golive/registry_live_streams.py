"""The live registry as the API sees it (the API's LiveStreams protocol), wired by app.py."""

from __future__ import annotations

from golive.http.api.services import LiveStreamInfo
from golive.live.hub import StreamHub
from golive.live.registry import StreamRegistry
from golive.store.live_window import LiveStore
from golive.store.viewer_sessions import ViewerSessions


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


class RegistryLiveStreams:
    def __init__(
        self,
        registry: StreamRegistry,
        viewers: ViewerSessions | None = None,
        media: LiveStore | None = None,
    ) -> None:
        self._registry = registry
        self._viewers = viewers
        self._media = media  # what is served: whether a stream has a DVR playlist

    def list(self) -> list[LiveStreamInfo]:
        return [stream_info(hub, self._viewers, self._media) for hub in self._registry.live()]

    def get(self, channel: str) -> LiveStreamInfo | None:
        hub = self._registry.hub(channel)
        return None if hub is None else stream_info(hub, self._viewers, self._media)

    def stop(self, channel: str, reason: str, *, end: bool) -> bool:
        return self._registry.stop(channel, reason, end=end)
