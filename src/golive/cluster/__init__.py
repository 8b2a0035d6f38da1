"""Shared state in Redis for a cluster of golive nodes."""
