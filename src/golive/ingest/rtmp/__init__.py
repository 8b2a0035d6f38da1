"""golive.ingest.rtmp layer."""
