"""Benchmarks: scripts that print figures beside their goals. Tests never assert on wall time."""
