"""golive.packager layer."""
