"""Restream (simulcast): a live stream forwarded, without re-encoding, to the channel's other
RTMP/RTMPS destinations, each through an ffmpeg child of its own."""
