"""Benchmarks, run with `live bench NAME`."""
