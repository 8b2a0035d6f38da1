"""WHIP ingest (RFC 9725): publishers over WebRTC, H.264 passed through, Opus made AAC."""
