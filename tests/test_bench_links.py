"""`live bench links` runs end to end with tiny parameters: both servers answer, its last
line has the documented shape, and every click a new phone was redirected for is on
disk after the live server is killed. No timing is asserted (DESIGN.md: timing
belongs in bench/)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

LAST_LINE = re.compile(r"links rps=(\d+) floor_rps=(\d+) ratio=(\d+\.\d\d)")


@pytest.mark.slow
def test_links_bench_counts_every_click_durably():
    result = subprocess.run(
        [sys.executable, "-m", "live", "bench", "links", "--seconds", "0.5", "--warmup", "0.2", "--concurrency", "4"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()  # stdout is the last line alone; progress is on stderr
    match = LAST_LINE.fullmatch(line)
    assert match, line
    rps, floor_rps = int(match[1]), int(match[2])
    assert rps > 0 and floor_rps > 0
    assert match[3] == f"{rps / floor_rps:.2f}"
    assert "every click durably recorded" in result.stderr and "FAILED" not in result.stderr


def test_links_bench_has_help():
    result = subprocess.run([sys.executable, "-m", "live", "bench", "links", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "usage: live bench links" in result.stdout
