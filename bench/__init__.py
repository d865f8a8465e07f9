"""Benchmarks: scripts that print figures (never asserts). See docs/benchmarks.md."""
