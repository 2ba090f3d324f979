"""The Redis store's pacing ops (being ported from the local store; issue 6)."""

from __future__ import annotations

from ...domain.audience import ViewerFacts
from ...protocol import *  # noqa: F403 - replaced as the ops are ported
from ..base import Actor, Event, OrderReport


class RedisPacing:
    async def pacing(self, room_id: str) -> Pacing:
        raise NotImplementedError("pacing is not in the Redis store yet (issue 6)")

    async def add_script_lines(self, room_id: str, lines: list[ScriptLineIn], replace: bool, actor: Actor) -> list[Event]:
        raise NotImplementedError("add_script_lines is not in the Redis store yet (issue 6)")

    async def delete_script_line(self, room_id: str, line_id: str, actor: Actor) -> list[Event]:
        raise NotImplementedError("delete_script_line is not in the Redis store yet (issue 6)")

    async def set_pacing(self, room_id: str, rules: PacingRules, actor: Actor) -> list[Event]:
        raise NotImplementedError("set_pacing is not in the Redis store yet (issue 6)")

    async def set_show(self, room_id: str, segments: list[Segment], repeat: bool, actor: Actor) -> list[Event]:
        raise NotImplementedError("set_show is not in the Redis store yet (issue 6)")

    async def control_show(self, room_id: str, control: ShowControl, actor: Actor) -> list[Event]:
        raise NotImplementedError("control_show is not in the Redis store yet (issue 6)")

    async def push_line(self, room_id: str, push: PushLine, actor: Actor) -> list[Event]:
        raise NotImplementedError("push_line is not in the Redis store yet (issue 6)")

    async def push_banner(self, room_id: str, text: str, seconds: int, actor: Actor) -> list[Event]:
        raise NotImplementedError("push_banner is not in the Redis store yet (issue 6)")

    async def observe(self, room_id: str) -> list[Event]:
        raise NotImplementedError("observe is not in the Redis store yet (issue 6)")

    async def log_action(self, room_id: str, entry: Action) -> list[Event]:
        raise NotImplementedError("log_action is not in the Redis store yet (issue 6)")

    async def actions(self, room_id: str, limit: int = 100) -> list[Action]:
        raise NotImplementedError("actions is not in the Redis store yet (issue 6)")
