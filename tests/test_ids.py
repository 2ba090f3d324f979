"""Random ids read in blocks: distinct, the right length, and never repeated by a fork."""

from __future__ import annotations

import os

from live import ids


def test_tokens_are_distinct_and_url_safe():
    made = [ids.token(12) for _ in range(5000)]
    assert len(set(made)) == len(made)
    assert all(len(t) == 16 and t.replace("-", "").replace("_", "").isalnum() for t in made)
    assert len(ids.hex_token(8)) == 16


def test_a_forked_child_does_not_reuse_the_parents_bytes():
    ids.random_bytes(1)  # the parent holds a block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, ids.random_bytes(32))
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 32) != ids.random_bytes(32)
