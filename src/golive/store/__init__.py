"""golive.store layer."""
