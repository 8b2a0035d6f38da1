"""WebRTC playback (WHEP): live channels to browsers over RTP, H.264 forwarded as published."""
