"""golive.live layer."""
