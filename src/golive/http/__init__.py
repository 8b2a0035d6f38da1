"""golive.http layer."""
