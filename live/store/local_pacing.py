"""The local store's pacing ops: tiers, the run-of-show, prompts, banners, alerts, and
the control log.

A mixin of `LocalStore`. `observe()` is what moves pacing with time: the hub calls it
about once a second per room; it samples the numbers, steps the tier, notices the
segment the run-of-show has reached (and fires what that segment sets off, once that
step is committed, as whoever set the show: `firing.py`), rotates the teleprompter's
line, and raises alerts. Like every op it decides in one step and commits before
answering, and calling it again at the same moment changes nothing, so several
processes may call it.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

import msgspec

from .. import protocol
from ..domain import alerts as alerting
from ..domain import runofshow as ros
from ..domain import scripts as script_rules
from ..domain.tiers import TierRules, TierState, step
from ..errors import BadMessage, NotFound
from ..protocol import (
    Action,
    Alert,
    Banner,
    Pacing,
    PacingRules,
    Prompt,
    PushLine,
    ScriptLine,
    ScriptLineIn,
    Segment,
    Show,
    ShowClock,
    ShowControl,
)
from . import firing
from .base import Actor, Event
from .journal import Statement
from .prompting import auto_prompt, check_library
from .local_commerce import release_of

SAMPLES_KEPT_S = 3600
PEAK_WINDOW_MS = 30 * 60_000
ACTIONS_KEPT = 200


class PacingRecord(msgspec.Struct):
    """What the store keeps of a room's pacing: the public part, and its bookkeeping."""

    pacing: Pacing = msgspec.field(default_factory=Pacing)
    segment: tuple[int, int] | None = None  # (index, cycle) of the segment last announced
    alerted: dict[str, int] = {}  # alert kind (with its subject) -> when last raised
    next_line: int = 1
    show_by: firing.Setter | None = None  # who set the show: what its segments fire runs as them


@dataclass(slots=True)
class PacingRuntime:
    """What lives only in memory: the pending tier change and the recent samples."""

    tier: TierState = field(default_factory=TierState)
    samples: deque = field(default_factory=lambda: deque(maxlen=SAMPLES_KEPT_S))


def plan_of(show: Show) -> ros.Plan:
    return ros.Plan(
        tuple(ros.Segment(s.title, s.minutes, s.purpose, s.advance) for s in show.segments), repeat=show.repeat
    )


def clock_of(show: Show) -> ros.Clock:
    return ros.Clock(**msgspec.structs.asdict(show.clock))


def with_clock(show: Show, clock: ros.Clock) -> Show:
    return msgspec.structs.replace(show, clock=ShowClock(**{f: getattr(clock, f) for f in ShowClock.__struct_fields__}))


class LocalPacing:
    """Mixed into LocalStore; see `live.store.base.Store` for each op's contract."""

    async def pacing(self, room_id: str) -> Pacing:
        return self._room(room_id).pacing.pacing

    async def actions(self, room_id: str, limit: int = 100) -> list[Action]:
        return list(self._room(room_id).actions)[-limit:][::-1]

    # --- the script library -------------------------------------------------------

    async def add_script_lines(self, room_id: str, lines: list[ScriptLineIn], replace: bool, actor: Actor) -> list[Event]:
        r = self._room(room_id)
        check_library(len(r.scripts), len(lines), replace)
        record = r.pacing
        new = []
        for line in lines:
            new.append(ScriptLine(f"s{record.next_line}", **msgspec.structs.asdict(line)))
            record.next_line += 1
        r.scripts = new if replace else r.scripts + new
        return await self._scripts_changed(r, actor)

    async def delete_script_line(self, room_id: str, line_id: str, actor: Actor) -> list[Event]:
        r = self._room(room_id)
        if not any(line.id == line_id for line in r.scripts):
            raise NotFound(f"no script line {line_id!r}", path="$.line")
        r.scripts = [line for line in r.scripts if line.id != line_id]
        return await self._scripts_changed(r, actor)

    async def _scripts_changed(self, r, actor: Actor) -> list[Event]:
        scripts = list(r.scripts)
        events = [self._event(r, "scripts", "staff", lambda seq, ts: protocol.ScriptsChanged(seq, ts, scripts))]
        statements: list[Statement] = [("DELETE FROM scripts WHERE room = ?", (r.room.id,))]
        statements += [
            ("INSERT INTO scripts (room, position, data) VALUES (?, ?, ?)", (r.room.id, i, protocol.encode(line)))
            for i, line in enumerate(scripts)
        ]
        statements.append(self._pacing_row(r))
        await self._commit(r, events, statements)
        return events

    # --- rules, show, lines, banners ----------------------------------------------

    async def set_pacing(self, room_id: str, rules: PacingRules, actor: Actor) -> list[Event]:
        r = self._room(room_id)
        try:
            TierRules(rules.mode, rules.warm, rules.hot, rules.hold_s, rules.floor).check()
        except ValueError as exc:
            raise BadMessage(str(exc), path="$.rules") from None
        r.pacing.pacing.rules = rules
        return await self._show_changed(r, actor)

    async def set_show(self, room_id: str, segments: list[Segment], repeat: bool, actor: Actor) -> list[Event]:
        r = self._room(room_id)
        firing.check_show(segments, actor)
        for i, segment in enumerate(segments):
            if segment.fire is not None and segment.fire.kind == "coupon" and segment.fire.coupon not in r.coupons:
                raise NotFound(f"segment {i + 1} fires unknown coupon {segment.fire.coupon!r}", path=f"$.segments[{i}].fire.coupon")
            if segment.sku is not None and segment.sku not in r.lineup:
                raise NotFound(f"segment {i + 1}: {segment.sku!r} is not in the lineup", path=f"$.segments[{i}].sku")
        show = r.pacing.pacing.show
        clock = show.clock
        if not segments:
            clock = ShowClock()
        elif clock.index >= len(segments):
            clock = msgspec.structs.replace(clock, index=len(segments) - 1)
        r.pacing.pacing.show = Show(segments=list(segments), repeat=repeat, clock=clock)
        r.pacing.show_by = (actor.role, actor.sub)
        return await self._show_changed(r, actor)

    async def control_show(self, room_id: str, control: ShowControl, actor: Actor) -> list[Event]:
        r = self._room(room_id)
        show = r.pacing.pacing.show
        if not show.segments:
            raise BadMessage("the run-of-show has no segments yet", path="$.action")
        plan, clock, now = plan_of(show), clock_of(show), self.clock()
        try:
            match control.action:
                case "start":
                    clock = ros.start(plan, now, control.index)
                    r.pacing.segment = None
                case "pause":
                    clock = ros.pause(plan, clock, now)
                case "resume":
                    clock = ros.resume(plan, clock, now)
                case "skip":
                    clock = ros.skip(plan, clock, now)
                case "extend":
                    clock = ros.extend(plan, clock, now, control.minutes)
                case "jump":
                    clock = ros.jump(plan, clock, now, control.index)
                case "stop":
                    clock = ros.stop(clock)
                    r.pacing.segment = None
        except IndexError as exc:
            raise BadMessage(str(exc), path="$.index") from None
        r.pacing.pacing.show = with_clock(show, clock)
        return await self._show_changed(r, actor)

    async def _show_changed(self, r, actor: Actor) -> list[Event]:
        show = msgspec.structs.replace(r.pacing.pacing.show)
        events = [self._event(r, "show_changed", "staff", lambda seq, ts: protocol.ShowChanged(seq, ts, show, actor.label))]
        await self._commit(r, events, [self._pacing_row(r)])
        return events

    async def push_line(self, room_id: str, push: PushLine, actor: Actor) -> list[Event]:
        r = self._room(room_id)
        text, line_id, purpose = push.text, push.line, None
        if line_id is not None:
            line = next((line for line in r.scripts if line.id == line_id), None)
            if line is None:
                raise NotFound(f"no script line {line_id!r}", path="$.line")
            text, purpose = script_rules.pick_variants(line.text, random.Random()), line.purpose
        if not text:
            raise BadMessage("push a library line or type a text", path="$.text")
        now = self.clock()
        prompt = Prompt(text, "pushed", line_id, purpose, r.pacing.pacing.tier, now, now + push.seconds * 1000)
        r.pacing.pacing.pushed = prompt
        events = [self._event(r, "prompt", "staff", lambda seq, ts: protocol.PromptChanged(seq, ts, prompt))]
        await self._commit(r, events, [self._pacing_row(r)])
        return events

    async def push_banner(self, room_id: str, text: str, seconds: int, actor: Actor) -> list[Event]:
        r = self._room(room_id)
        now = self.clock()
        banner = Banner(text, now, now + seconds * 1000)
        r.pacing.pacing.banner = banner
        events = [self._event(r, "banner", "all", lambda seq, ts: protocol.BannerPushed(seq, ts, banner))]
        await self._commit(r, events, [self._pacing_row(r)])
        return events

    # --- the control log ----------------------------------------------------------

    async def log_action(self, room_id: str, entry: Action) -> list[Event]:
        r = self._room(room_id)
        r.actions.append(entry)
        events = [self._event(r, "action", "staff", lambda seq, ts: protocol.ActionLogged(seq, ts, entry))]
        await self._commit(r, events, [])
        return events

    # --- time moves pacing --------------------------------------------------------

    async def observe(self, room_id: str) -> list[Event]:
        r = self._room(room_id)
        now = self.clock()
        n = r.numbers
        record, pacing, runtime = r.pacing, r.pacing.pacing, r.pacer
        rules = pacing.rules
        peak_before = max((s.online for s in runtime.samples if now - s.t <= PEAK_WINDOW_MS), default=0)
        runtime.samples.append(alerting.Sample(now, n.online, n.entries, n.exits))
        recent_peak = max(peak_before, n.online, self._peak_since(r, now - PEAK_WINDOW_MS))
        events: list[Event] = []
        record_rows: list = []

        tier_rules = TierRules(rules.mode, rules.warm, rules.hot, rules.hold_s, rules.floor)
        runtime.tier = TierState(pacing.tier, pacing.tier_since, runtime.tier.pending, runtime.tier.pending_since)
        runtime.tier = step(tier_rules, runtime.tier, n.online, recent_peak, now)
        if runtime.tier.tier != pacing.tier:
            previous, pacing.tier, pacing.tier_since = pacing.tier, runtime.tier.tier, now
            events.append(self._event(r, "tier", "staff", lambda seq, ts, t=pacing.tier, p=previous: protocol.TierChanged(seq, ts, t, p, n.online)))

        where = ros.position(plan_of(pacing.show), clock_of(pacing.show), now) if pacing.show.segments else None
        segment = pacing.show.segments[where.index] if where else None
        fire = None
        if where is not None and (where.index, where.cycle) != record.segment:
            record.segment = (where.index, where.cycle)
            events.append(
                self._event(r, "segment", "staff", lambda seq, ts, w=where, s=segment: protocol.SegmentBegan(seq, ts, w.index, w.cycle, s.title))
            )
            if segment.fire is not None:
                fire = self._fire_plan(r, segment, now, events)
        if where is not None and where.overrun_ms > 0 and not where.paused:
            self._alert(r, now, events, "overrun", {"segment": segment.title, "overrun_s": where.overrun_ms // 1000}, {"type": "show", "action": "skip"})

        opened = [w for w in r.waves.values() if w.present is None and w.status(now) in ("open", "sold_out")]
        for wave in opened:
            wave.present = self._present_by_promoter(r)
            record_rows.append(wave)
        findings = alerting.crowd(runtime.samples, now, rules.window_s, rules.cool_pct, rules.heat_pct, rules.floor, peak_before)
        progress = [
            alerting.Progress(w.id, w.sku, w.quantity, w.held + w.sold, w.starts_at)
            for w in r.waves.values()
            if w.status(now) == "open"
        ]
        findings += alerting.slow_releases(progress, now, rules.slow_s, rules.slow_pct)
        for finding in findings:
            self._alert(r, now, events, finding.kind, finding.data, self._suggest(r, finding))

        prompt = self._auto_prompt(r, segment, now)
        if prompt is not None:
            pacing.prompt = prompt
            events.append(self._event(r, "prompt", "staff", lambda seq, ts, p=prompt: protocol.PromptChanged(seq, ts, p)))

        if events or record_rows:
            statements = [self._pacing_row(r)] + [
                ("INSERT OR REPLACE INTO releases (id, room, data) VALUES (?, ?, ?)", (w.id, r.room.id, protocol.encode(release_of(w))), ("releases", w.id))
                for w in record_rows
            ]
            await self._commit(r, events, statements)
        fired = await self._fire(r, now, *fire) if fire is not None else []
        return events + fired

    def _fire_plan(self, r, segment: Segment, now: int, events: list[Event]) -> tuple | None:
        """What a segment sets off as it begins: offered now as an alert (`ask`), or
        returned to be run once this step is committed (`auto`), as who set the show."""
        action = firing.action_of(segment, r.pinned)
        if action is None:
            return None
        if segment.fire.mode == "ask":
            self._alert(r, now, events, "segment_fire", firing.alert_data(segment, action, r.pacing.show_by), action, cooldown=False)
            return None
        return (segment, action, r.pacing.show_by)

    async def _fire(self, r, now: int, segment: Segment, action: dict, by: firing.Setter | None) -> list[Event]:
        """Run what an `auto` segment fires; one that cannot happen becomes an alert."""
        events, failed = await firing.run(self, r.room.id, segment, action, by)
        if failed is not None:
            alert: list[Event] = []
            self._alert(r, now, alert, "segment_fire", failed, action, cooldown=False)
            await self._commit(r, alert, [self._pacing_row(r)])
            events += alert
        return events

    def _alert(self, r, now: int, events: list[Event], kind: str, data: dict, action: dict | None, cooldown: bool = True) -> None:
        subject = f"{kind}:{data.get('release') or data.get('segment') or ''}"
        last = r.pacing.alerted.get(subject)
        if cooldown and last is not None and now - last < r.pacing.pacing.rules.cooldown_s * 1000:
            return
        r.pacing.alerted[subject] = now
        alert = Alert(kind, _ALERT_TEXT[kind].format(**{k: v for k, v in data.items()}), now, action, data)
        events.append(self._event(r, "alert", "staff", lambda seq, ts: protocol.AlertRaised(seq, ts, alert)))

    def _suggest(self, r, finding: alerting.Finding) -> dict | None:
        if finding.kind == "cooling":
            line = next((line for line in r.scripts if line.purpose == "hold"), None)
            return {"type": "push_line", "line": line.id} if line else None
        if finding.kind in ("hot", "new_peak"):
            sku = r.pinned or (r.lineup[0] if r.lineup else None)
            return {"type": "plan_release", "sku": sku, "quantity": 100} if sku else None
        if finding.kind == "slow_release":
            line = next((line for line in r.scripts if line.purpose == "urgency"), None)
            return {"type": "push_line", "line": line.id} if line else None
        return None

    def _auto_prompt(self, r, segment: Segment | None, now: int) -> Prompt | None:
        sku = (segment.sku if segment else None) or r.pinned
        product = self._products.get(sku) if sku else None
        prompt, r.prompt_key = auto_prompt(r.pacing.pacing, r.prompt_key, segment, sku, product, r.waves.values(), r.scripts, now)
        return prompt

    def _peak_since(self, r, since: int) -> int:
        return max((b.online_max for t, b in r.numbers.minutes.items() if t >= since - 60_000), default=0)

    def _pacing_row(self, r) -> Statement:
        return (
            "INSERT OR REPLACE INTO pacing (room, data) VALUES (?, ?)",
            (r.room.id, protocol.encode(r.pacing)),
            ("pacing", r.room.id),
        )


_ALERT_TEXT = {
    "cooling": "Room is cooling: online {from} → {to} (−{pct}%). Hold the room.",
    "hot": "Room is heating up: online {from} → {to} (+{pct}%). Release now.",
    "new_peak": "New peak: {peak} online (was {before}). Release now.",
    "overrun": "Segment “{segment}” is {overrun_s} s over.",
    "slow_release": "Release {release} ({sku}) sold {pct}% in {after_s} s. Push urgency.",
    "segment_fire": "Segment “{segment}” begins: fire its {type}?",
}
