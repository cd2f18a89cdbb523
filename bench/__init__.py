"""Benchmarks: each `python -m bench.NAME [--quick]` prints one JSON object (DESIGN.md §3)."""
