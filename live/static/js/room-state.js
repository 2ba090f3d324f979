// The room as a page knows it, folded from server messages in order.

export function createRoomState() {
  return {
    role: null, room: null, lineup: [], pinned: null, product: null, offSale: new Set(), online: 0, likes: 0,
    numbers: null, series: [], scripts: [], me: null,
    releases: new Map(), coupons: new Map(), orders: [], mine: { holds: [], orders: [], coupons: [] },
    pacing: null, actions: [], alerts: [], banner: null,
  };
}

const ORDER_FEED = 100;

/** Apply one server message; returns true if it changed what pages show. */
export function apply(state, message) {
  switch (message.type) {
    case "snapshot": {
      const room = message.room;
      state.role = message.role;
      state.room = room;
      state.lineup = room.lineup;
      state.pinned = room.pinned;
      state.product = state.lineup.find((p) => p.sku === state.pinned) || null;
      state.offSale = new Set(room.off_sale ?? []);
      state.releases = new Map((room.releases ?? []).map((r) => [r.id, r]));
      state.coupons = new Map((room.coupons ?? []).map((c) => [c.id, c]));
      state.online = message.online;
      state.likes = message.likes;
      state.numbers = message.numbers ?? null;
      state.series = message.series ?? [];
      state.scripts = message.scripts ?? [];
      state.me = message.me ?? null;
      state.orders = message.orders ?? [];
      state.guides = message.guides ?? [];
      state.shops = message.shops ?? [];
      state.pacing = message.pacing ?? null;
      state.actions = message.actions ?? [];
      state.banner = message.banner ?? null;
      if (message.mine) state.mine = message.mine;
      return true;
    }
    case "resume":
      if (message.mine) state.mine = message.mine;
      return Boolean(message.mine);
    case "live":
      if (state.room) {
        Object.assign(state.room, {
          status: message.status, scheduled_at: message.scheduled_at, started_at: message.started_at, ended_at: message.ended_at,
        });
      }
      return true;
    case "pinned":
      state.pinned = message.sku;
      state.product = message.product;
      return true;
    case "lineup":
      state.lineup = message.lineup;
      state.offSale = new Set(message.off_sale ?? []);
      if (state.pinned) state.product = state.lineup.find((p) => p.sku === state.pinned) || state.product;
      return true;
    case "release":
      state.releases.set(message.release.id, message.release);
      return true;
    case "sold_out": {
      const release = state.releases.get(message.release);
      if (release) Object.assign(release, { left: 0, sold_out_at: release.sold_out_at ?? message.ts });
      return true;
    }
    case "returned": {
      const release = state.releases.get(message.release);
      if (release) release.left = message.left;
      return true;
    }
    case "coupon":
      state.coupons.set(message.coupon.id, message.coupon);
      return true;
    case "tier":
      if (state.pacing) state.pacing.tier = message.tier;
      return true;
    case "show_changed":
      if (state.pacing) state.pacing.show = message.show;
      return true;
    case "prompt":
      if (state.pacing) state.pacing[message.prompt.source === "pushed" ? "pushed" : "prompt"] = message.prompt;
      return true;
    case "banner":
      state.banner = message.banner;
      return true;
    case "alert":
      state.alerts.unshift(message.alert);
      state.alerts.splice(20);
      return true;
    case "action":
      state.actions.unshift(message.entry);
      state.actions.splice(200);
      return true;
    case "scripts":
      state.scripts = message.scripts;
      return true;
    case "segment":
      return true;
    case "order":
      upsertOrder(state, message.order);
      return true;
    case "claim_result":
      if (message.hold) upsert(state.mine.holds, message.hold);
      if (message.hold || message.outcome === "sold_out") {
        const release = state.releases.get(message.release);
        if (release) release.left = message.left;
      }
      return true;
    case "coupon_result":
      if (message.claim) upsert(state.mine.coupons, message.claim);
      return true;
    case "order_result":
      upsertOrder(state, message.order);
      return true;
    case "tick":
      state.online = message.online;
      state.likes = message.likes;
      for (const [id, left] of Object.entries(message.stock ?? {})) {
        const release = state.releases.get(id);
        if (release) release.left = left;
      }
      return true;
    case "numbers": {
      state.numbers = message.numbers;
      if (state.pacing && message.tier) state.pacing.tier = message.tier;
      state.online = message.numbers.online;
      state.likes = message.numbers.likes;
      const minute = message.minute;
      const last = state.series[state.series.length - 1];
      if (last && last.t === minute.t) state.series[state.series.length - 1] = minute;
      else if (!last || last.t < minute.t) {
        state.series.push(minute);
        if (state.series.length > 60) state.series.shift();
      }
      for (const release of message.releases ?? []) state.releases.set(release.id, release);
      message.stockChanged = false;
      for (const product of state.lineup) {
        const stock = message.stock?.[product.sku];
        if (stock !== undefined && stock !== product.stock) {
          product.stock = stock;
          message.stockChanged = true;
        }
      }
      for (const coupon of message.coupons ?? []) state.coupons.set(coupon.id, coupon);
      return true;
    }
    default:
      return false;
  }
}

function upsert(list, item) {
  const i = list.findIndex((x) => x.id === item.id);
  if (i >= 0) list[i] = item;
  else list.push(item);
}

function upsertOrder(state, order) {
  const i = state.orders.findIndex((o) => o.id === order.id);
  if (i >= 0) state.orders[i] = order;
  else {
    state.orders.unshift(order);
    if (state.orders.length > ORDER_FEED) state.orders.pop();
  }
  if (state.role === "viewer") upsert(state.mine.orders, order);
  const hold = state.mine.holds.find((h) => h.id === order.hold);
  if (hold) {
    hold.order = order.id;
    hold.status = { pending: "ordered", paid: "paid", cancelled: "cancelled", expired: "expired", refunded: "refunded" }[order.status];
  }
}

/**
 * The wave every page shows as current (overlay, host view, control panel alike): of
 * the pinned product's waves not closed (else of every product's), the open one that
 * opened first (waves planned together sell in turn), else the next to open, else the
 * last to sell out. Null when there is none.
 */
export function currentWave(state, now) {
  const live = [...state.releases.values()].filter((r) => releaseStatus(r, now) !== "closed");
  const pinned = live.filter((r) => r.sku === state.pinned);
  const pool = pinned.length ? pinned : live;
  const by = (status) => pool.filter((r) => releaseStatus(r, now) === status);
  const first = (list, key) => list.sort((a, b) => key(a) - key(b) || (a.id < b.id ? -1 : 1))[0] ?? null;
  return (
    first(by("open"), (r) => r.starts_at)
    ?? first(by("scheduled"), (r) => r.starts_at)
    ?? first(by("sold_out"), (r) => -(r.sold_out_at ?? r.starts_at))
  );
}

/** A release's state now, from its timestamps and counters (never a timer). */
export function releaseStatus(release, now) {
  if (release.closed_at != null) return "closed";
  if (now < release.starts_at) return "scheduled";
  return release.left === 0 ? "sold_out" : "open";
}

/** A live's status and the time that goes with it: {status, at} ("scheduled" has the
 * planned start, if any; "live" its start; "ended" its end). */
export function lifeOf(state) {
  const room = state.room ?? {};
  const status = room.status ?? "live";
  const at = { scheduled: room.scheduled_at, live: room.started_at, ended: room.ended_at }[status] ?? null;
  return { status, at };
}
