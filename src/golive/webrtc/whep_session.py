"""One WHEP viewer: its peer connection and its sinks on a stream's WhepSource.

The answer offers H.264 only on the video section (and Opus on the audio one): the packets
are forwarded as published, so the sender must not pick another codec the browser lists
first (aiortc takes the first common codec). RTX is not offered: a NACKed video packet is
sent again as it was, from the stream's history (rtp_outlet.py). The senders announce the
stream's SSRCs, and the viewer's sinks send the stream's packets with the payload types
this answer gave the codecs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import InternalError, InvalidStateError, OperationError
from aiortc.sdp import SessionDescription

from golive.webrtc.rtp_history import RtpHistory
from golive.webrtc.rtp_outlet import IdleTrack, RtpOutlet, announce
from golive.webrtc.sdp_offer import CheckedOffer, OfferRefused
from golive.webrtc.srtp_udp_path import SrtpUdpPath
from golive.webrtc.whep_source import WhepSource, WhepViewer

__all__ = ["WhepSession"]

log = logging.getLogger("golive.webrtc")

_CONNECTED = "connected"
_GONE = frozenset({"failed", "closed"})


def _codecs(kind: str, mime: str) -> list[object]:
    capabilities = RTCRtpSender.getCapabilities(kind)
    return [c for c in capabilities.codecs if c.mimeType.lower() == mime]


def _payload_types(answer: str) -> dict[str, int]:
    """Each answered section's mid and the payload type its sender uses (the first listed)."""
    types: dict[str, int] = {}
    for media in SessionDescription.parse(answer).media:
        codecs = media.rtp.codecs
        if media.rtp.muxId and codecs and codecs[0].payloadType is not None:
            types[media.rtp.muxId] = codecs[0].payloadType
    return types


def _outlet(
    transceiver: RTCRtpTransceiver,
    payload_types: dict[str, int],
    paths: list[SrtpUdpPath],
    history: RtpHistory | None = None,
) -> RtpOutlet:
    payload_type = payload_types.get(transceiver.mid or "")
    if payload_type is None:
        raise ValueError(f"the answer has no codec for the {transceiver.kind} section")
    # One path per DTLS transport: audio and video share it when BUNDLEd (the usual case).
    dtls = transceiver.sender.transport
    path = next((p for p in paths if p.dtls is dtls), None)
    if path is None:
        path = SrtpUdpPath(dtls)
        paths.append(path)
    return RtpOutlet(transceiver.sender, payload_type, path, history=history)


class WhepSession:
    def __init__(
        self,
        session_id: str,
        source: WhepSource,
        viewer: WhepViewer,
        pc: RTCPeerConnection,
        *,
        feed: str,
    ) -> None:
        self.id = session_id
        self.source = source
        self.viewer = viewer
        self.pc = pc
        self.feed = feed  # what the viewer was given: "source" or a rendition's name
        self.answer = ""
        self.closed = False
        self.paths: list[SrtpUdpPath] = []

    @property
    def channel(self) -> str:
        return self.source.channel

    @property
    def state(self) -> str:
        return str(self.pc.connectionState)

    @classmethod
    async def answer_offer(
        cls,
        session_id: str,
        source: WhepSource,
        offer: CheckedOffer,
        configuration: RTCConfiguration,
        on_state: Callable[[WhepSession, str], None],
    ) -> WhepSession:
        """A session answering ``offer``; OfferRefused when the WebRTC stack cannot."""
        feed = source.feed
        assert feed is not None
        pc = RTCPeerConnection(configuration)
        viewer = source.subscribe(audio=offer.audio, ready=False)
        session = cls(session_id, source, viewer, pc, feed=feed)
        try:
            video = pc.addTransceiver(IdleTrack("video"), direction="sendonly")
            announce(video.sender, source.video_ssrc)
            video.setCodecPreferences(_codecs("video", "video/h264"))  # type: ignore[arg-type]
            audio = None
            if viewer.wants_audio:
                audio = pc.addTransceiver(IdleTrack("audio"), direction="sendonly")
                announce(audio.sender, source.audio_ssrc)
                audio.setCodecPreferences(_codecs("audio", "audio/opus"))  # type: ignore[arg-type]
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            payload_types = _payload_types(pc.localDescription.sdp)
            viewer.video = _outlet(video, payload_types, session.paths, source.video_history)
            if audio is not None:
                viewer.audio = _outlet(audio, payload_types, session.paths)
        except (ValueError, OperationError, InternalError, InvalidStateError) as exc:
            await session.close()
            raise OfferRefused(400, f"the SDP offer cannot be answered: {exc}") from exc
        except BaseException:
            await session.close()
            raise

        @pc.on("connectionstatechange")
        def _changed() -> None:
            on_state(session, session.state)

        session.answer = pc.localDescription.sdp
        return session

    @property
    def connected(self) -> bool:
        return self.state == _CONNECTED

    @property
    def gone(self) -> bool:
        return self.closed or self.state in _GONE

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.source.unsubscribe(self.viewer)
        for path in self.paths:
            path.close()
        try:
            await self.pc.close()
        except Exception:
            log.exception("closing the peer connection of WHEP session %s failed", self.id)
