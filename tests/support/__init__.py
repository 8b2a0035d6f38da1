"""Helpers shared by the test suites (sample media, small container readers)."""
