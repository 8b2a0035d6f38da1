"""golive: a self-hosted live video platform."""

__version__ = "0.1.0"
