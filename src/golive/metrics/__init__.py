"""Prometheus metrics: collected from live state when scraped, never on the per-frame path."""
