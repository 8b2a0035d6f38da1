"""golive.chat layer."""
