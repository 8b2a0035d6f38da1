"""Pure media formats: no I/O, no clock, no asyncio."""
