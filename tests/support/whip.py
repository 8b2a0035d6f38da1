"""WHIP publishers for tests: ffmpeg's whip muxer, and a bare offer made by aiortc."""

from __future__ import annotations

import asyncio

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender

from tests.support.publisher import ffmpeg_exe


async def an_offer(video: str = "video/H264", audio: bool = True) -> str:
    """An offer sending ``video`` (and Opus audio when ``audio``); nobody will connect."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        t = pc.addTransceiver("video", direction="sendonly")
        caps = RTCRtpSender.getCapabilities("video")
        assert caps is not None
        t.setCodecPreferences([c for c in caps.codecs if c.mimeType == video])
        if audio:
            pc.addTransceiver("audio", direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        return pc.localDescription.sdp
    finally:
        await pc.close()


async def start_whip_publisher(
    http_port: int, key: str, seconds: int = 6, profile: str = "baseline"
) -> asyncio.subprocess.Process:
    """ffmpeg publishing a 320x240 30 fps test picture (H.264 ``profile``, no B-frames) and a
    440 Hz tone (Opus 48 kHz stereo) over WHIP for ``seconds``, in real time."""
    return await asyncio.create_subprocess_exec(
        ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "warning",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-c:v",
        "libx264",
        "-profile:v",
        profile,
        "-bf",
        "0",
        "-g",
        "30",
        "-tune",
        "zerolatency",
        "-c:a",
        "libopus",
        "-ar",
        "48000",
        "-ac",
        "2",
        "-t",
        str(seconds),
        "-f",
        "whip",
        "-authorization",
        key,
        f"http://127.0.0.1:{http_port}/live/whip",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
