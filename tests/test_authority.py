"""The rule of who may fire what from a run-of-show segment (live/domain/authority.py),
against the protocol's own role table."""

from __future__ import annotations

import pytest

from live.domain.authority import fire_message, may_fire
from live.protocol import ROLES, SENDERS


@pytest.mark.parametrize("role", ROLES)
def test_a_fire_may_be_set_by_whoever_may_send_what_it_sends(role):
    assert may_fire("release", role, SENDERS) == (role in SENDERS["plan_release"])
    assert may_fire("coupon", role, SENDERS) == (role in SENDERS["push_coupon"])


def test_only_operators_may_fire_and_nobody_fires_for_a_show_without_a_setter():
    assert [r for r in ROLES if may_fire("release", r, SENDERS)] == ["controller", "admin"]
    assert [r for r in ROLES if may_fire("coupon", r, SENDERS)] == ["controller", "admin"]
    assert not may_fire("release", None, SENDERS)


def test_a_fire_is_the_message_it_sends():
    assert fire_message("release", "TEA", None, None, None) == {"type": "plan_release", "sku": "TEA", "quantity": 100}
    assert fire_message("release", "TEA", 7, 690, None) == {"type": "plan_release", "sku": "TEA", "quantity": 7, "price": 690}
    assert fire_message("release", None, 7, 690, None) is None  # no product to release
    assert fire_message("coupon", None, None, None, "c1") == {"type": "push_coupon", "coupon": "c1"}
