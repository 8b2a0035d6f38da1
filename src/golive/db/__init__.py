"""golive.db layer."""
