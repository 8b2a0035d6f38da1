"""Webhooks: signed event notifications and the on_publish approval call."""
