"""Pacing: the script library, tiers, the run-of-show, the teleprompter, banners,
alerts, and the control log.

`observe` is what moves pacing with time: the hub calls it about once a second per
room; it samples the numbers, steps the tier, notices the segment the run-of-show has
reached (and fires what that segment sets off), rotates the teleprompter's line, and
raises alerts. It decides from one record per room (`PacingRecord`), which every
worker reads and writes alike: of two workers observing at the same moment one
commits and the other, deciding again on what the first wrote, finds nothing more to
do. What an `auto` segment fires is done after the commit that announced the segment,
by the worker whose commit did: at most once.
"""

from __future__ import annotations

import random

import msgspec

from .. import protocol
from ..domain import alerts as alerting
from ..domain import prompts
from ..domain import runofshow as ros
from ..domain import scripts as script_rules
from ..domain.numbers import MINUTE_MS
from ..domain.releases import status
from ..domain.tiers import TierRules, TierState, step
from ..errors import BadMessage, NotFound
from ..protocol import Action, Alert, Banner, Pacing, PacingRules, Prompt, PushLine, ScriptLine, ScriptLineIn, Segment, Show, ShowClock, ShowControl
from ..protocol.records import ControlLog, Library, PacingRecord
from ..store.base import Event
from ..store.tx import Tx
from . import firing
from .core import Actor, Base
from .tables import CONTROL_LOG, COUPONS, LIBRARY, PACING, PRODUCTS, RELEASES

SAMPLES_KEPT_S = 3600
PEAK_WINDOW_MS = 30 * 60_000
ACTIONS_KEPT = 200
SUMMARY_CHARS = 300


class Pacer(Base):
    async def pacing(self, room_id: str) -> Pacing:
        """The room's pacing rules, tier, run-of-show, teleprompter lines and banner."""
        await self.known(room_id)
        return (await self._record(await self.store.begin(room_id))).pacing

    async def actions(self, room_id: str, limit: int = 100) -> list[Action]:
        """The most recent entries of the control log, newest first."""
        await self.known(room_id)
        log = await (await self.store.begin(room_id)).get(CONTROL_LOG, "log")
        return [] if log is None else log.recent[-limit:][::-1]

    async def record(self, room_id: str, actor: Actor, action: str, fields: dict, result: str, code: str | None) -> list[Event]:
        """The one way a staff action enters the control log: who, what (`fields`, the
        message without its type and ref, empty ones left out, cut at 300 characters),
        whether it was applied, and the code of its refusal."""
        fields = {k: v for k, v in fields.items() if k not in ("type", "ref") and v not in (None, [], {})}
        summary = msgspec.json.encode(fields).decode()
        if len(summary) > SUMMARY_CHARS:
            summary = summary[:SUMMARY_CHARS - 1] + "…"
        return await self.log_action(room_id, Action(self.clock(), actor.role, actor.sub, action, summary, result, code))

    async def log_action(self, room_id: str, entry: Action) -> list[Event]:
        """Append a staff action to the control log (an `action` event). Append-only."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            log = await tx.get(CONTROL_LOG, "log")
            recent = ([] if log is None else log.recent)[-(ACTIONS_KEPT - 1):] + [entry]
            (tx.put if log else tx.insert)(CONTROL_LOG, ControlLog(recent))
            tx.event("action", "staff", protocol.ActionLogged(0, tx.now, entry))

        return await self.events_of(room_id, decide)

    # --- the script library ---------------------------------------------------------------

    async def put_scripts(self, room_id: str, lines: list[ScriptLine]) -> None:
        """Replace the room's script library with `lines`, in order. Ids must be unique."""
        await self.known(room_id)
        ids: set[str] = set()
        for i, line in enumerate(lines):
            if line.id in ids:
                raise BadMessage(f"script line id {line.id!r} appears twice", path=f"$[{i}].id", id=line.id)
            ids.add(line.id)

        async def decide(tx: Tx) -> None:
            library = await self._library(tx)
            self._write_library(tx, library, msgspec.structs.replace(library, lines=list(lines)))

        await self.run(room_id, decide)

    async def scripts(self, room_id: str) -> list[ScriptLine]:
        """The room's script library, in order."""
        await self.known(room_id)
        return (await self._library(await self.store.begin(room_id))).lines

    async def add_script_lines(self, room_id: str, lines: list[ScriptLineIn], replace: bool, actor: Actor) -> list[Event]:
        """Add lines to the script library (new ids), or replace it. One `scripts` event."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            library = await self._library(tx)
            script_rules.check_library(len(library.lines), len(lines), replace)
            n = library.next_line
            new = [ScriptLine(f"s{n + i}", **msgspec.structs.asdict(line)) for i, line in enumerate(lines)]
            kept = [] if replace else library.lines
            self._scripts_changed(tx, library, Library(kept + new, n + len(lines)))

        return await self.events_of(room_id, decide)

    async def delete_script_line(self, room_id: str, line_id: str, actor: Actor) -> list[Event]:
        """Remove one line (`NotFound` if there is none)."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            library = await self._library(tx)
            if not any(line.id == line_id for line in library.lines):
                raise NotFound(f"no script line {line_id!r}", path="$.line", what="line", id=line_id)
            kept = [line for line in library.lines if line.id != line_id]
            self._scripts_changed(tx, library, msgspec.structs.replace(library, lines=kept))

        return await self.events_of(room_id, decide)

    def _scripts_changed(self, tx: Tx, old: Library, new: Library) -> None:
        self._write_library(tx, old, new)
        tx.event("scripts", "staff", protocol.ScriptsChanged(0, tx.now, new.lines))

    # --- rules, show, lines, banners ------------------------------------------------------

    async def set_pacing(self, room_id: str, rules: PacingRules, actor: Actor) -> list[Event]:
        """Replace the pacing rules (tier thresholds that make no sense are refused)."""
        await self.known(room_id)
        try:
            TierRules(rules.mode, rules.warm, rules.hot, rules.hold_s, rules.floor).check()
        except ValueError as exc:
            raise BadMessage(str(exc), path="$.rules") from None

        async def decide(tx: Tx) -> None:
            record = await self._record(tx)
            self._show_changed(tx, record, msgspec.structs.replace(record.pacing, rules=rules), actor)

        return await self.events_of(room_id, decide)

    async def set_show(self, room_id: str, segments: list[Segment], repeat: bool, actor: Actor) -> list[Event]:
        """Replace the run-of-show's segments, keeping its clock."""
        await self.known(room_id)

        firing.check_show(segments, actor)

        async def decide(tx: Tx) -> None:
            lineup = (await self.stage_of(tx)).lineup
            for i, segment in enumerate(segments):
                if segment.fire is not None and segment.fire.kind == "coupon" and await tx.get(COUPONS, segment.fire.coupon) is None:
                    raise NotFound(f"segment {i + 1} fires unknown coupon {segment.fire.coupon!r}",
                                   path=f"$.segments[{i}].fire.coupon", what="coupon", id=segment.fire.coupon)
                if segment.sku is not None and segment.sku not in lineup:
                    raise NotFound(f"segment {i + 1}: {segment.sku!r} is not in the lineup", path=f"$.segments[{i}].sku",
                                   what="product", id=segment.sku)
            record = await self._record(tx)
            clock = record.pacing.show.clock
            if not segments:
                clock = ShowClock()
            elif clock.index >= len(segments):
                clock = msgspec.structs.replace(clock, index=len(segments) - 1)
            show = Show(segments=list(segments), repeat=repeat, clock=clock)
            record = msgspec.structs.replace(record, show_by=(actor.role, actor.sub))
            self._show_changed(tx, record, msgspec.structs.replace(record.pacing, show=show), actor)

        return await self.events_of(room_id, decide)

    async def control_show(self, room_id: str, control: ShowControl, actor: Actor) -> list[Event]:
        """Start, pause, resume, skip, extend, jump or stop the run-of-show."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            record = await self._record(tx)
            show = record.pacing.show
            if not show.segments:
                raise BadMessage("the run-of-show has no segments yet", path="$.action", reason="no_segments")
            plan, clock, now = plan_of(show), clock_of(show), tx.now
            segment = record.segment
            if control.action in ("start", "resume"):
                await self.begin_live(tx, actor)  # the show's start starts a scheduled live
            try:
                match control.action:
                    case "start":
                        clock, segment = ros.start(plan, now, control.index), None
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
                        clock, segment = ros.stop(clock), None
            except IndexError as exc:
                raise BadMessage(str(exc), path="$.index") from None
            record = msgspec.structs.replace(record, segment=segment)
            self._show_changed(tx, record, msgspec.structs.replace(record.pacing, show=with_clock(show, clock)), actor)

        return await self.events_of(room_id, decide)

    def _show_changed(self, tx: Tx, record: PacingRecord, pacing: Pacing, actor: Actor) -> None:
        self._write_record(tx, msgspec.structs.replace(record, pacing=pacing))
        tx.event("show_changed", "staff", protocol.ShowChanged(0, tx.now, pacing.show, actor.label))

    async def push_line(self, room_id: str, push: PushLine, actor: Actor) -> list[Event]:
        """Put a library line or a typed one on the teleprompter, for `push.seconds`."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            text, line_id, purpose = push.text, push.line, None
            if line_id is not None:
                line = next((line for line in (await self._library(tx)).lines if line.id == line_id), None)
                if line is None:
                    raise NotFound(f"no script line {line_id!r}", path="$.line", what="line", id=line_id)
                text, purpose = script_rules.pick_variants(line.text, random.Random()), line.purpose
            if not text:
                raise BadMessage("push a library line or type a text", path="$.text", reason="nothing_to_push")
            record = await self._record(tx)
            prompt = Prompt(text, "pushed", line_id, purpose, record.pacing.tier, tx.now, tx.now + push.seconds * 1000)
            self._write_record(tx, msgspec.structs.replace(record, pacing=msgspec.structs.replace(record.pacing, pushed=prompt)))
            tx.event("prompt", "staff", protocol.PromptChanged(0, tx.now, prompt))

        return await self.events_of(room_id, decide)

    async def push_banner(self, room_id: str, text: str, seconds: int, actor: Actor) -> list[Event]:
        """Show a banner on every overlay until `seconds` from now."""
        await self.known(room_id)

        async def decide(tx: Tx) -> None:
            await self.open_for(tx, "push_banner")
            record = await self._record(tx)
            banner = Banner(text, tx.now, tx.now + seconds * 1000)
            self._write_record(tx, msgspec.structs.replace(record, pacing=msgspec.structs.replace(record.pacing, banner=banner)))
            tx.event("banner", "all", protocol.BannerPushed(0, tx.now, banner))

        return await self.events_of(room_id, decide)

    # --- time moves pacing ----------------------------------------------------------------

    async def observe(self, room_id: str) -> list[Event]:
        """Let time move pacing: sample the numbers, step the tier, announce (and fire)
        the segment the run-of-show has reached, rotate the teleprompter's line, raise
        alerts. Called about once a second; a second call at the same moment does
        nothing more."""
        await self.known(room_id)
        now = self.clock()
        presence = await self.store.presence(room_id, now - PEAK_WINDOW_MS - 2 * MINUTE_MS)
        n = presence.numbers
        record = await self._record(await self.store.begin(room_id))
        kept = max(PEAK_WINDOW_MS // 1000, record.pacing.rules.window_s) + 2
        samples = await self.store.samples(room_id, alerting.Sample(now, n.online, n.entries, n.exits), kept)
        peak_since = max((b.online_max for t, b in n.minutes.items() if t >= now - PEAK_WINDOW_MS - MINUTE_MS), default=0)
        present = {who: p.watching for who, p in presence.promoters.items() if p.watching > 0}

        async def decide(tx: Tx) -> tuple | None:
            return await self._step(tx, now, n.online, samples, peak_since, present)

        fire, events = await self.run(room_id, decide)
        fired = await self._fire(room_id, *fire) if fire is not None else []
        return events + fired

    async def _step(self, tx: Tx, now: int, online: int, samples: list, peak_since: int, present: dict[str, int]) -> tuple | None:
        """One observation's decision: the tier, the segment reached (and what it fires:
        returned, to fire once committed), the alerts and the automatic line."""
        record = await self._record(tx)
        before_record = record
        pacing, rules = record.pacing, record.pacing.rules
        stage = await self.stage_of(tx)
        library = await self._library(tx)
        releases = await tx.all(RELEASES)
        # the sample of this moment is the list's last one; the peak before it is of the others
        before = samples[:-1] if samples and samples[-1].t // 1000 == now // 1000 else samples
        peak_before = max((s.online for s in before if now - s.t <= PEAK_WINDOW_MS), default=0)
        recent_peak = max(peak_before, online, peak_since)

        tier_rules = TierRules(rules.mode, rules.warm, rules.hot, rules.hold_s, rules.floor)
        tier = step(tier_rules, TierState(pacing.tier, pacing.tier_since, record.pending, record.pending_since), online, recent_peak, now)
        record = msgspec.structs.replace(record, pending=tier.pending, pending_since=tier.pending_since)
        if tier.tier != pacing.tier:
            tx.event("tier", "staff", protocol.TierChanged(0, now, tier.tier, pacing.tier, online))
            pacing = msgspec.structs.replace(pacing, tier=tier.tier, tier_since=now)

        where = ros.position(plan_of(pacing.show), clock_of(pacing.show), now) if pacing.show.segments else None
        segment = pacing.show.segments[where.index] if where else None
        fire = None
        alerted = _alerted(record)
        if where is not None and (where.index, where.cycle) != record.segment:
            record = msgspec.structs.replace(record, segment=(where.index, where.cycle))
            tx.event("segment", "staff", protocol.SegmentBegan(0, now, where.index, where.cycle, segment.title))
            if segment.fire is not None:
                fire = self._fire_plan(tx, alerted, record, segment, stage.pinned, now)
        if where is not None and where.overrun_ms > 0 and not where.paused:
            self._alert(tx, alerted, rules, now, "overrun", {"segment": segment.title, "overrun_s": where.overrun_ms // 1000},
                        {"type": "show", "action": "skip"})

        for release in releases:
            if release.present is None and status(release, now) in ("open", "sold_out"):
                tx.put(RELEASES, msgspec.structs.replace(release, present=dict(present)))
        findings = alerting.crowd(samples, now, rules.window_s, rules.cool_pct, rules.heat_pct, rules.floor, peak_before)
        progress = [
            alerting.Progress(r.id, r.sku, r.quantity, r.held + r.sold, r.starts_at) for r in releases if status(r, now) == "open"
        ]
        findings += alerting.slow_releases(progress, now, rules.slow_s, rules.slow_pct)
        for finding in findings:
            self._alert(tx, alerted, rules, now, finding.kind, finding.data, _suggest(stage, library.lines, finding))

        sku = (segment.sku if segment else None) or stage.pinned
        product = await tx.get(PRODUCTS, sku) if sku else None
        selling = any(r.sku == sku and status(r, now) in ("open", "scheduled") for r in releases)
        line, prompt_key = prompts.auto_line(pacing, record.prompt_key, segment, sku, product, selling, library.lines, now)
        if line is not None:
            prompt = Prompt(line.text, "auto", line.line, line.purpose, pacing.tier, now)
            pacing = msgspec.structs.replace(pacing, prompt=prompt)
            tx.event("prompt", "staff", protocol.PromptChanged(0, now, prompt))
        record = _with_alerted(msgspec.structs.replace(record, pacing=pacing, prompt_key=prompt_key), alerted)
        if record != before_record:
            self._write_record(tx, record)
        return fire

    def _fire_plan(self, tx: Tx, alerted: dict, record: PacingRecord, segment: Segment, pinned: str | None, now: int) -> tuple | None:
        """What a segment sets off as it begins: offered now as an alert (`ask`), or
        returned to be run once this step is committed (`auto`), as who set the show."""
        action = firing.action_of(segment, pinned)
        if action is None:
            return None
        if segment.fire.mode == "ask":
            data = firing.alert_data(segment, action, record.show_by)
            self._alert(tx, alerted, record.pacing.rules, now, "segment_fire", data, action, cooldown=False)
            return None
        return (segment, action, record.show_by, now)

    async def _fire(self, room_id: str, segment: Segment, action: dict, by: tuple[str, str] | None, now: int) -> list[Event]:
        """Run what an `auto` segment fires, as who set the show (`firing.py`); one that
        cannot happen becomes the `ask` alert, with why."""
        events, failed = await firing.run(self, room_id, segment, action, by)
        if failed is None:
            return events

        async def decide(tx: Tx) -> None:
            record = await self._record(tx)
            alerted = _alerted(record)
            self._alert(tx, alerted, record.pacing.rules, now, "segment_fire", failed, action, cooldown=False)
            self._write_record(tx, _with_alerted(record, alerted))

        return events + await self.events_of(room_id, decide)

    @staticmethod
    def _alert(tx: Tx, alerted: dict, rules: PacingRules, now: int, kind: str, data: dict, action: dict | None, cooldown: bool = True) -> None:
        """Raise an alert, unless the same one was raised within its cooldown or says
        nothing new (`alerts.due`). `alerted` holds, by subject, (when, what it said)."""
        subject = f"{kind}:{data.get('release') or data.get('segment') or ''}"
        last_at, last_situation = alerted.get(subject, (None, None))
        if cooldown and not alerting.due(kind, data, last_at, last_situation, now, rules.cooldown_s):
            return
        alerted[subject] = (now, alerting.situation(kind, data))
        alert = Alert(kind, alerting.text(kind, data), now, action, data)
        tx.event("alert", "staff", protocol.AlertRaised(0, now, alert))

    # --- the records ------------------------------------------------------------------------

    async def _record(self, tx: Tx) -> PacingRecord:
        return await tx.get(PACING, "pacing") or PacingRecord()

    @staticmethod
    def _write_record(tx: Tx, record: PacingRecord) -> None:
        (tx.put if tx.records.get((PACING.name, tx.room, "pacing")) is not None else tx.insert)(PACING, record)

    async def _library(self, tx: Tx) -> Library:
        return await tx.get(LIBRARY, "library") or Library()

    @staticmethod
    def _write_library(tx: Tx, old: Library, new: Library) -> None:
        (tx.put if tx.records.get((LIBRARY.name, tx.room, "library")) is not None else tx.insert)(LIBRARY, new)


def _alerted(record: PacingRecord) -> dict[str, tuple[int, str | None]]:
    return {subject: (at, record.situations.get(subject)) for subject, at in record.alerted.items()}


def _with_alerted(record: PacingRecord, alerted: dict[str, tuple[int, str | None]]) -> PacingRecord:
    return msgspec.structs.replace(
        record, alerted={s: at for s, (at, _) in alerted.items()},
        situations={s: said for s, (_, said) in alerted.items() if said is not None},
    )


def _suggest(stage, lines: list[ScriptLine], finding: alerting.Finding) -> dict | None:
    if finding.kind == "cooling":
        line = next((line for line in lines if line.purpose == "hold"), None)
        return {"type": "push_line", "line": line.id} if line else None
    if finding.kind in ("hot", "new_peak"):
        sku = stage.pinned or (stage.lineup[0] if stage.lineup else None)
        return {"type": "plan_release", "sku": sku, "quantity": 100} if sku else None
    if finding.kind == "slow_release":
        line = next((line for line in lines if line.purpose == "urgency"), None)
        return {"type": "push_line", "line": line.id} if line else None
    return None


def plan_of(show: Show) -> ros.Plan:
    return ros.Plan(tuple(ros.Segment(s.title, s.minutes, s.purpose, s.advance) for s in show.segments), repeat=show.repeat)


def clock_of(show: Show) -> ros.Clock:
    return ros.Clock(**msgspec.structs.asdict(show.clock))


def with_clock(show: Show, clock: ros.Clock) -> Show:
    return msgspec.structs.replace(show, clock=ShowClock(**{f: getattr(clock, f) for f in ShowClock.__struct_fields__}))
