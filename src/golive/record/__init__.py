"""golive.record layer."""
