"""golive.ingest layer."""
