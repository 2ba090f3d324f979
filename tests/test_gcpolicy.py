import gc

from live.gcpolicy import GcPolicy


def test_freezes_as_connections_grow_and_unfreezes_when_they_fall():
    policy = GcPolicy(min_connections=10, growth=1.5)
    gc.unfreeze()  # a hub of an earlier test may have frozen its process's objects
    try:
        policy.observe(5)
        assert gc.get_freeze_count() == 0
        policy.observe(10)
        assert gc.get_freeze_count() > 0 and policy.frozen_at == 10
        policy.observe(12)  # less than 1.5x: no new freeze
        assert policy.frozen_at == 10
        policy.observe(15)
        assert policy.frozen_at == 15
        policy.observe(8)
        assert gc.get_freeze_count() > 0  # above half of what was frozen
        policy.observe(7)
        assert gc.get_freeze_count() == 0 and policy.frozen_at == 0
    finally:
        gc.unfreeze()


def test_what_a_full_collection_leaves_is_frozen_once():
    policy = GcPolicy()
    try:
        gc.unfreeze()
        policy.settle()  # no full collection since the policy began
        assert gc.get_freeze_count() == 0
        gc.collect()
        policy.settle()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        kept = [[i] for i in range(1000)]  # new long-lived objects, no full collection yet
        policy.settle()
        assert gc.get_freeze_count() == frozen
        assert kept
    finally:
        gc.unfreeze()
