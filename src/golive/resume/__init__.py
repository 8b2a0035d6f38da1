"""Live streams saved at shutdown and taken back by the next run (restart without a new stream)."""
