// Fill a teleprompter line's placeholders from the live state, as the host reads it:
// {product} {price} {left} {online} {countdown}; a value that is not there shows "…"
// (the same rule as live/domain/scripts.py).

import { countdown, count, money } from "./format.js";
import { releaseStatus } from "./room-state.js";

export function fill(text, state, now, segmentRemaining = null) {
  const product = state.product;
  const release = [...state.releases.values()]
    .filter((r) => r.sku === product?.sku && ["open", "scheduled"].includes(releaseStatus(r, now)))
    .sort((a, b) => a.starts_at - b.starts_at)[0];
  const values = {
    product: product?.title,
    price: release ? money(release.price) : product ? money(product.price) : null,
    left: release ? count(release.left) : null,
    online: count(state.online),
    countdown:
      release && now < release.starts_at ? countdown(release.starts_at - now)
      : segmentRemaining != null ? countdown(segmentRemaining) : null,
  };
  return text.replace(/\{(product|price|left|online|countdown)\}/g, (_, name) => values[name] ?? "…");
}
