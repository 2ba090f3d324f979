"""Benchmarks, run with `live bench NAME` from a checkout."""

from pathlib import Path

# The checkout the benchmarks run from (their child processes start there).
ROOT = Path(__file__).resolve().parent.parent
