"""golive.transcode layer."""
