"""SRT ingest: MPEG-TS publishers over SRT, through libsrt (ctypes)."""
