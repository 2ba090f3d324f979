// Where the live is in its run-of-show, from the clock the server keeps and the server
// time: the same computation as live/domain/runofshow.py, so every page agrees with
// the server (and with each other) without a timer on either side.

export function position(show, now) {
  const segments = show?.segments ?? [];
  const clock = show?.clock;
  if (!segments.length || !clock || (!clock.running && clock.paused_at == null)) return null;
  const at = clock.paused_at ?? now;
  let index = clock.index % segments.length;
  let cycle = clock.cycle;
  let started = clock.started_at;
  let extra = clock.extra_ms;
  let finished = false;
  for (let guard = 0; guard < 10000; guard += 1) {
    const segment = segments[index];
    const ends = started + ms(segment) + extra;
    if (segment.advance === "manual" || at < ends) break;
    if (index + 1 < segments.length) index += 1;
    else if (show.repeat) {
      index = 0;
      cycle += 1;
    } else {
      finished = true;
      break;
    }
    started = ends;
    extra = 0;
  }
  const ends = started + ms(segments[index]) + extra;
  const next = index + 1 < segments.length ? index + 1 : show.repeat ? 0 : null;
  return {
    index, cycle, started, ends, finished,
    remaining: Math.max(0, ends - at),
    overrun: Math.max(0, at - ends),
    paused: clock.paused_at != null,
    segment: segments[index],
    next: next === null ? null : segments[next],
  };
}

function ms(segment) {
  return Math.round(segment.minutes * 60000);
}
