"""The Redis store's pacing ops: tiers, the run-of-show, prompts, banners, alerts, the
script library and the control log.

Everything of a room's pacing is one record, the msgspec JSON of `PacingRecord` plus
what the local store keeps only in memory (the pending tier change, the key of the
line on the teleprompter), in field `record` of the room's `pacing` hash. Every op
reads it, decides with the same rules as the local store (`live/domain/tiers.py`,
`runofshow.py`, `scripts.py`, `alerts.py`) and commits it with its events through
`commit.lua`, expecting the raw record it read: of two workers that decided from the
same record only one commits, the other decides again on what the first wrote. That
is what makes `observe()` safe to call from every worker about once a second: a
second call at the same moment finds the tier stepped, the segment announced and the
alerts in their cooldown, and does nothing more. What an `auto` segment fires (a
release, a coupon push) is done after the commit that announced the segment, by the
worker whose commit did, as whoever set the show (`firing.py`): at most once (firing
before the commit could fire twice; a worker dying in between loses that one fire),
and a fire that fails becomes an alert committed just after it, as in the local store.
`observe` also records `present` in the fixed part of releases that opened (the
commerce part keeps it in `releases`).

The samples that the trends and crowd alerts look at are a list per room, one sample
per second whichever worker took it (`pacing_sample.lua`), capped like the local
store's. The script library is the core's plain string key `scripts`; the ops here
that change it expect and bump `scripts_v` in the pacing hash so two edits never both
apply to the same list. The control log is a capped list of `Action`s.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import msgspec

from ... import protocol
from ...domain import alerts as alerting
from ...domain import runofshow as ros
from ...domain import scripts as script_rules
from ...domain.numbers import MINUTE_MS
from ...domain.releases import Wave
from ...domain.tiers import TierRules, TierState, step
from ...errors import BadMessage, NotFound
from ...protocol import (
    Action,
    Alert,
    Banner,
    Pacing,
    PacingRules,
    Prompt,
    PushLine,
    Release,
    ScriptLine,
    ScriptLineIn,
    Segment,
    Show,
    ShowClock,
    ShowControl,
)
from .. import firing
from ..prompting import auto_prompt, check_library
from ..base import Actor, Event
from ..local_commerce import wave_of
from ..local_pacing import (
    _ALERT_TEXT,
    ACTIONS_KEPT,
    PEAK_WINDOW_MS,
    SAMPLES_KEPT_S,
    PacingRecord,
    clock_of,
    plan_of,
    with_clock,
)
from .change import Change
from .link import Conflicted, unavailable

RECORD = "record"  # field of the room's pacing hash: the RedisPacingRecord
SCRIPTS_V = "scripts_v"  # field of the room's pacing hash: bumped with every library edit
SAMPLE_SLOT_MS = 1000  # one sample per second, however many workers observe
PEAK_MINUTES = PEAK_WINDOW_MS // MINUTE_MS + 2  # minute buckets that cover the peak window
TREND_SAMPLES = 64  # more than one minute of samples, for `_trend`
PEAK_SAMPLES = PEAK_WINDOW_MS // SAMPLE_SLOT_MS + 2  # the samples of the peak window (one a second at most)
PRESENT_ATTEMPTS = 5


class RedisPacingRecord(PacingRecord):
    """The local store's record, plus what it keeps only in memory (`PacingRuntime`'s
    pending tier change, and the key of the automatic line on screen): here every
    worker must decide from the same state."""

    pending: str | None = None  # the tier the count has pointed to since `pending_since`
    pending_since: int = 0
    prompt_key: tuple[str, str, str | None] | None = None  # (purpose, tier, sku) of the automatic line


@dataclass(slots=True)
class _Seen:
    """What `observe` read of a room in one snapshot."""

    record: RedisPacingRecord
    lineup: list[str]
    pinned: str | None
    scripts: list[ScriptLine]
    samples: list[alerting.Sample]
    waves: list[Wave]


class RedisPacing:
    """Mixed into RedisStore; see `live.store.base.Store` for each op's contract."""

    async def pacing(self, room_id: str) -> Pacing:
        await self._known(room_id)
        raw = await self.r.hget(self.k.room(room_id).pacing, RECORD)
        return _decode_record(raw).pacing

    async def actions(self, room_id: str, limit: int = 100) -> list[Action]:
        await self._known(room_id)
        raw = await self.r.lrange(self.k.room(room_id).actions, 0, -1)
        return [msgspec.json.decode(x, type=Action) for x in raw][-limit:][::-1]

    # --- the script library -------------------------------------------------------

    async def add_script_lines(self, room_id: str, lines: list[ScriptLineIn], replace: bool, actor: Actor) -> list[Event]:
        await self._known(room_id)

        async def change(c: Change) -> None:
            record = await self._record(c)
            scripts = await self._library(c)
            check_library(len(scripts), len(lines), replace)
            new = []
            for line in lines:
                new.append(ScriptLine(f"s{record.next_line}", **msgspec.structs.asdict(line)))
                record.next_line += 1
            self._write_record(c, record)
            self._scripts_changed(c, new if replace else scripts + new)

        return await self._atomic(room_id, change)

    async def delete_script_line(self, room_id: str, line_id: str, actor: Actor) -> list[Event]:
        await self._known(room_id)

        async def change(c: Change) -> None:
            scripts = await self._library(c)
            if not any(line.id == line_id for line in scripts):
                raise NotFound(f"no script line {line_id!r}", path="$.line")
            self._scripts_changed(c, [line for line in scripts if line.id != line_id])

        return await self._atomic(room_id, change)

    def _scripts_changed(self, c: Change, scripts: list[ScriptLine]) -> None:
        """The library's new list (the core's `scripts` key), its version bumped, and
        the one `scripts` event."""
        now = self.clock()
        c.set(c.keys.scripts, protocol.encode(scripts))
        c.hincrby(c.keys.pacing, SCRIPTS_V, 1)
        c.event("scripts", "staff", now, protocol.ScriptsChanged(0, now, scripts))

    # --- rules, show, lines, banners ----------------------------------------------

    async def set_pacing(self, room_id: str, rules: PacingRules, actor: Actor) -> list[Event]:
        await self._known(room_id)
        try:
            TierRules(rules.mode, rules.warm, rules.hot, rules.hold_s, rules.floor).check()
        except ValueError as exc:
            raise BadMessage(str(exc), path="$.rules") from None

        async def change(c: Change) -> None:
            record = await self._record(c)
            record.pacing.rules = rules
            self._show_changed(c, record, actor)

        return await self._atomic(room_id, change)

    async def set_show(self, room_id: str, segments: list[Segment], repeat: bool, actor: Actor) -> list[Event]:
        await self._known(room_id)
        firing.check_show(segments, actor)

        async def change(c: Change) -> None:
            lineup, _, _ = await self._read_state(c)
            for i, segment in enumerate(segments):
                if segment.fire is not None and segment.fire.kind == "coupon" and not await self._has_coupon(c, segment.fire.coupon):
                    raise NotFound(f"segment {i + 1} fires unknown coupon {segment.fire.coupon!r}", path=f"$.segments[{i}].fire.coupon")
                if segment.sku is not None and segment.sku not in lineup:
                    raise NotFound(f"segment {i + 1}: {segment.sku!r} is not in the lineup", path=f"$.segments[{i}].sku")
            record = await self._record(c)
            clock = record.pacing.show.clock
            if not segments:
                clock = ShowClock()
            elif clock.index >= len(segments):
                clock = msgspec.structs.replace(clock, index=len(segments) - 1)
            record.pacing.show = Show(segments=list(segments), repeat=repeat, clock=clock)
            record.show_by = (actor.role, actor.sub)
            self._show_changed(c, record, actor)

        return await self._atomic(room_id, change)

    async def control_show(self, room_id: str, control: ShowControl, actor: Actor) -> list[Event]:
        await self._known(room_id)

        async def change(c: Change) -> None:
            record = await self._record(c)
            show = record.pacing.show
            if not show.segments:
                raise BadMessage("the run-of-show has no segments yet", path="$.action")
            plan, clock, now = plan_of(show), clock_of(show), self.clock()
            try:
                match control.action:
                    case "start":
                        clock = ros.start(plan, now, control.index)
                        record.segment = None
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
                        record.segment = None
            except IndexError as exc:
                raise BadMessage(str(exc), path="$.index") from None
            record.pacing.show = with_clock(show, clock)
            self._show_changed(c, record, actor)

        return await self._atomic(room_id, change)

    def _show_changed(self, c: Change, record: RedisPacingRecord, actor: Actor) -> None:
        now = self.clock()
        self._write_record(c, record)
        c.event("show_changed", "staff", now, protocol.ShowChanged(0, now, record.pacing.show, actor.label))

    async def push_line(self, room_id: str, push: PushLine, actor: Actor) -> list[Event]:
        await self._known(room_id)

        async def change(c: Change) -> None:
            text, line_id, purpose = push.text, push.line, None
            if line_id is not None:
                line = next((line for line in await self._library(c) if line.id == line_id), None)
                if line is None:
                    raise NotFound(f"no script line {line_id!r}", path="$.line")
                text, purpose = script_rules.pick_variants(line.text, random.Random()), line.purpose
            if not text:
                raise BadMessage("push a library line or type a text", path="$.text")
            record = await self._record(c)
            now = self.clock()
            prompt = Prompt(text, "pushed", line_id, purpose, record.pacing.tier, now, now + push.seconds * 1000)
            record.pacing.pushed = prompt
            self._write_record(c, record)
            c.event("prompt", "staff", now, protocol.PromptChanged(0, now, prompt))

        return await self._atomic(room_id, change)

    async def push_banner(self, room_id: str, text: str, seconds: int, actor: Actor) -> list[Event]:
        await self._known(room_id)

        async def change(c: Change) -> None:
            record = await self._record(c)
            now = self.clock()
            banner = Banner(text, now, now + seconds * 1000)
            record.pacing.banner = banner
            self._write_record(c, record)
            c.event("banner", "all", now, protocol.BannerPushed(0, now, banner))

        return await self._atomic(room_id, change)

    # --- the control log ----------------------------------------------------------

    async def log_action(self, room_id: str, entry: Action) -> list[Event]:
        await self._known(room_id)
        rk = self.k.room(room_id)

        async def change(c: Change) -> None:
            now = self.clock()
            c.rpush(rk.actions, protocol.encode(entry))
            c.event("action", "staff", now, protocol.ActionLogged(0, now, entry))

        events = await self._atomic(room_id, change)
        await self.r.ltrim(rk.actions, -ACTIONS_KEPT, -1)  # the log keeps the last ACTIONS_KEPT, like the local one
        return events

    # --- time moves pacing --------------------------------------------------------

    async def observe(self, room_id: str) -> list[Event]:
        """Sample the numbers, then decide and commit the step from them (see the
        module docstring for why a second worker at the same moment does nothing).
        What a segment fires happens after its announcement is committed, by the one
        worker whose commit announced it."""
        await self._known(room_id)
        rk = self.k.room(room_id)
        now = self.clock()
        n = await self._live_numbers(room_id, PEAK_MINUTES)
        with unavailable():
            await self.lua["pacing_sample"](
                keys=[_samples_key(rk)], args=[now, _sample_text(now, n.online, n.entries, n.exits), SAMPLES_KEPT_S, SAMPLE_SLOT_MS]
            )
        peak_since = max((b.online_max for t, b in n.minutes.items() if t >= now - PEAK_WINDOW_MS - MINUTE_MS), default=0)
        waves = [wave_of(release) for release in await self.releases(room_id)]

        async def decide(c: Change) -> tuple | None:
            return await self._step(c, await self._seen(c, waves), now, n.online, peak_since)

        fire, events = await self._atomic_result(room_id, decide)
        await self._mark_present(room_id, waves, now)
        fired = await self._fire(room_id, now, *fire) if fire is not None else []
        return events + fired

    async def _step(self, c: Change, seen: _Seen, now: int, online: int, peak_since: int) -> tuple | None:
        """One observation's decision, as the local store's `observe`: the tier, the
        segment reached (and what it fires: returned, to fire once committed), the
        alerts and the automatic line; writes the record only if it changed."""
        record, raw = seen.record, protocol.encode(seen.record)
        pacing, rules = record.pacing, record.pacing.rules
        samples = seen.samples
        # The sample of this moment is the list's last one; the peak before it is of the others.
        before = samples[:-1] if samples and samples[-1].t // SAMPLE_SLOT_MS == now // SAMPLE_SLOT_MS else samples
        peak_before = max((s.online for s in before if now - s.t <= PEAK_WINDOW_MS), default=0)
        recent_peak = max(peak_before, online, peak_since)

        tier_rules = TierRules(rules.mode, rules.warm, rules.hot, rules.hold_s, rules.floor)
        tier = step(tier_rules, TierState(pacing.tier, pacing.tier_since, record.pending, record.pending_since), online, recent_peak, now)
        record.pending, record.pending_since = tier.pending, tier.pending_since
        if tier.tier != pacing.tier:
            previous, pacing.tier, pacing.tier_since = pacing.tier, tier.tier, now
            c.event("tier", "staff", now, protocol.TierChanged(0, now, pacing.tier, previous, online))

        where = ros.position(plan_of(pacing.show), clock_of(pacing.show), now) if pacing.show.segments else None
        segment = pacing.show.segments[where.index] if where else None
        fire = None
        if where is not None and (where.index, where.cycle) != record.segment:
            record.segment = (where.index, where.cycle)
            c.event("segment", "staff", now, protocol.SegmentBegan(0, now, where.index, where.cycle, segment.title))
            if segment.fire is not None:
                fire = self._fire_plan(c, record, seen, segment, now)
        if where is not None and where.overrun_ms > 0 and not where.paused:
            self._alert(c, record, now, "overrun", {"segment": segment.title, "overrun_s": where.overrun_ms // 1000}, {"type": "show", "action": "skip"})

        findings = alerting.crowd(samples, now, rules.window_s, rules.cool_pct, rules.heat_pct, rules.floor, peak_before)
        progress = [
            alerting.Progress(w.id, w.sku, w.quantity, w.held + w.sold, w.starts_at) for w in seen.waves if w.status(now) == "open"
        ]
        findings += alerting.slow_releases(progress, now, rules.slow_s, rules.slow_pct)
        for finding in findings:
            self._alert(c, record, now, finding.kind, finding.data, _suggest(seen, finding))

        prompt = await self._auto_prompt(record, seen, segment, now)
        if prompt is not None:
            pacing.prompt = prompt
            c.event("prompt", "staff", now, protocol.PromptChanged(0, now, prompt))

        if protocol.encode(record) != raw or c.events:
            self._write_record(c, record)
        else:
            c.checks.clear()  # nothing to commit: no round trip to the commit script
        return fire

    def _fire_plan(self, c: Change, record: RedisPacingRecord, seen: _Seen, segment: Segment, now: int) -> tuple | None:
        """What a segment sets off as it begins: offered now as an alert (`ask`), or
        returned to be run once this step is committed (`auto`), as who set the show."""
        action = firing.action_of(segment, seen.pinned)
        if action is None:
            return None
        if segment.fire.mode == "ask":
            self._alert(c, record, now, "segment_fire", firing.alert_data(segment, action, record.show_by), action, cooldown=False)
            return None
        return (segment, action, record.show_by)

    async def _fire(self, room_id: str, now: int, segment: Segment, action: dict, by: firing.Setter | None) -> list[Event]:
        """Run what an `auto` segment fires; one that cannot happen becomes an alert."""
        events, failed = await firing.run(self, room_id, segment, action, by)
        if failed is not None:

            async def change(c: Change) -> None:
                record = await self._record(c)
                self._alert(c, record, now, "segment_fire", failed, action, cooldown=False)
                self._write_record(c, record)

            events += await self._atomic(room_id, change)
        return events

    def _alert(self, c: Change, record: RedisPacingRecord, now: int, kind: str, data: dict, action: dict | None, cooldown: bool = True) -> None:
        subject = f"{kind}:{data.get('release') or data.get('segment') or ''}"
        last = record.alerted.get(subject)
        if cooldown and last is not None and now - last < record.pacing.rules.cooldown_s * 1000:
            return
        record.alerted[subject] = now
        alert = Alert(kind, _ALERT_TEXT[kind].format(**{k: v for k, v in data.items()}), now, action, data)
        c.event("alert", "staff", now, protocol.AlertRaised(0, now, alert))

    async def _auto_prompt(self, record: RedisPacingRecord, seen: _Seen, segment: Segment | None, now: int) -> Prompt | None:
        sku = (segment.sku if segment else None) or seen.pinned
        product = await self._product(sku) if sku else None
        prompt, record.prompt_key = auto_prompt(record.pacing, record.prompt_key, segment, sku, product, seen.waves, seen.scripts, now)
        return prompt

    async def _mark_present(self, room_id: str, waves: list[Wave], now: int) -> None:
        """Releases that opened since the last observation record each promoter's
        customers in the room (`Release.present`), as the local store's `observe` does.
        A release being claimed may change under us: a few tries, else the next
        observation does it."""
        opened = [w.id for w in waves if w.present is None and w.status(now) in ("open", "sold_out")]
        if not opened:
            return
        rk = self.k.room(room_id)
        present = await self._present_by_promoter(room_id)
        for release_id in opened:
            for _ in range(PRESENT_ATTEMPTS):
                raw = await self.r.hget(rk.releases, release_id)
                if raw is None:
                    break
                release = msgspec.json.decode(raw, type=Release)
                if release.present is not None:
                    break
                c = Change(room_id, rk)
                c.expect(rk.releases, release_id, raw)
                c.hset(rk.releases, release_id, msgspec.structs.replace(release, present=present))
                try:
                    await self._commit(c)
                    break
                except Conflicted:
                    continue

    async def _present_by_promoter(self, room_id: str) -> dict[str, int]:
        """Each guide's or distributor's customers in the room now: the presence
        scripts keep them as `<promoter>:watching` in the room's tally."""
        tally = await self.r.hgetall(self.k.room(room_id).tally)
        present: dict[str, int] = {}
        for field, value in tally.items():
            who, _, figure = field.decode().rpartition(":")
            if figure == "watching" and who and not who.startswith("shop:") and int(value) > 0:
                present[who] = int(value)
        return present

    async def _trend(self, room_id: str, now: int) -> tuple[int, int]:
        """Entries and exits over the last minute, from the samples `observe` takes."""
        raw = await self.r.lrange(_samples_key(self.k.room(room_id)), -TREND_SAMPLES, -1)
        return alerting.trend([_sample_of(x) for x in raw], now)

    # --- reading and writing the record --------------------------------------------

    async def _record(self, c: Change) -> RedisPacingRecord:
        """The room's pacing record, as `c` expects it to stay until it commits."""
        raw = await self.r.hget(c.keys.pacing, RECORD)
        c.expect(c.keys.pacing, RECORD, raw)
        return _decode_record(raw)

    def _write_record(self, c: Change, record: RedisPacingRecord) -> None:
        c.hset(c.keys.pacing, RECORD, protocol.encode(record))

    async def _library(self, c: Change) -> list[ScriptLine]:
        """The script library, as `c` expects it to stay (through its version)."""
        async with self.r.pipeline(transaction=True) as p:
            p.hget(c.keys.pacing, SCRIPTS_V)
            p.get(c.keys.scripts)
            version, raw = await p.execute()
        c.expect(c.keys.pacing, SCRIPTS_V, version)
        return [] if raw is None else msgspec.json.decode(raw, type=list[ScriptLine])

    async def _has_coupon(self, c: Change, coupon_id: str | None) -> bool:
        """Whether the room has this coupon (coupons are never deleted)."""
        return coupon_id is not None and bool(await self.r.hexists(c.keys.coupons, coupon_id))

    async def _seen(self, c: Change, waves: list[Wave]) -> _Seen:
        """One consistent snapshot of what `observe` decides from; `c` expects the
        record, the library and the lineup to stay. Samples and releases move all the
        time and are not expected: the record's cooldowns keep alerts from doubling."""
        rk = c.keys
        async with self.r.pipeline(transaction=True) as p:
            p.hmget(rk.pacing, [RECORD, SCRIPTS_V])
            p.hmget(rk.state, ["lineup", "pinned", "off_sale"])
            p.get(rk.scripts)
            p.lrange(_samples_key(rk), -PEAK_SAMPLES, -1)
            (raw, version), (lineup, pinned, off), scripts, samples = await p.execute()
        record = _decode_record(raw)
        if record.pacing.rules.window_s * 1000 // SAMPLE_SLOT_MS + 2 > PEAK_SAMPLES:  # an alert window longer than the peak's
            samples = await self.r.lrange(_samples_key(rk), 0, -1)
        c.expect(rk.pacing, RECORD, raw)
        c.expect(rk.pacing, SCRIPTS_V, version)
        c.expect(rk.state, "lineup", lineup)
        c.expect(rk.state, "pinned", pinned)
        c.expect(rk.state, "off_sale", off)
        return _Seen(
            record=record,
            lineup=msgspec.json.decode(lineup) if lineup else [],
            pinned=pinned.decode() if pinned else None,
            scripts=[] if scripts is None else msgspec.json.decode(scripts, type=list[ScriptLine]),
            samples=[_sample_of(x) for x in samples],
            waves=waves,
        )


def _suggest(seen: _Seen, finding: alerting.Finding) -> dict | None:
    if finding.kind == "cooling":
        line = next((line for line in seen.scripts if line.purpose == "hold"), None)
        return {"type": "push_line", "line": line.id} if line else None
    if finding.kind in ("hot", "new_peak"):
        sku = seen.pinned or (seen.lineup[0] if seen.lineup else None)
        return {"type": "plan_release", "sku": sku, "quantity": 100} if sku else None
    if finding.kind == "slow_release":
        line = next((line for line in seen.scripts if line.purpose == "urgency"), None)
        return {"type": "push_line", "line": line.id} if line else None
    return None


def _decode_record(raw: bytes | None) -> RedisPacingRecord:
    return RedisPacingRecord() if raw is None else msgspec.json.decode(raw, type=RedisPacingRecord)


def _samples_key(rk) -> str:
    return f"{rk.tag}:samples"


def _sample_text(t: int, online: int, entries: int, exits: int) -> str:
    return f"{t},{online},{entries},{exits}"


def _sample_of(raw: bytes) -> alerting.Sample:
    t, online, entries, exits = (int(x) for x in raw.split(b","))
    return alerting.Sample(t, online, entries, exits)
