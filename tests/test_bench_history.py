"""`live bench history` runs end to end with a small past: both servers start, the
review through the real server counts exactly the visits and viewers written and their
peak (the bench checks it and fails otherwise), and its last line has the documented
shape. No timing is asserted (DESIGN.md: timing belongs in bench/)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest

LAST_LINE = re.compile(r"history sessions=(\d+) clicks=(\d+) start_s=(\d+\.\d\d) rss_mib=(-?\d+) review_s=(\d+\.\d\d)")


def two_free_ports() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue


@pytest.mark.slow
def test_history_bench_reviews_exactly_what_was_written():
    argv = [sys.executable, "-m", "live", "bench", "history", "--sessions", "3000", "--clicks", "500",
            "--viewers", "800", "--minutes", "30", "--port", str(two_free_ports())]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    match = LAST_LINE.fullmatch(line)
    assert match, line
    assert (match[1], match[2]) == ("3000", "500")
    assert "FAILED" not in result.stderr


def test_history_bench_has_help():
    result = subprocess.run([sys.executable, "-m", "live", "bench", "history", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "usage: live bench history" in result.stdout
