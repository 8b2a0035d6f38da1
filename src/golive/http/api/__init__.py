"""The REST API under /api/v1/: channels, live streams, users, tokens, webhook deliveries."""
