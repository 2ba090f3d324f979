// Coupon campaigns: how each reads to a person, the list on the control panel (claimed
// counting down live), and the form that creates one.

import { t } from "./i18n.js";
import { countdown, fenFromYuan, money } from "./format.js";
import { audienceOf } from "./releases-view.js";

export function couponRule(coupon) {
  const parts = [
    coupon.kind === "amount"
      ? t("coupon_rule_amount", { value: money(coupon.value).slice(1) })
      : t("coupon_rule_percent", { value: coupon.value }),
  ];
  if (coupon.cap) parts.push(t("coupon_rule_cap", { cap: money(coupon.cap).slice(1) }));
  if (coupon.min_spend) parts.push(t("coupon_rule_min", { min: money(coupon.min_spend).slice(1) }));
  return parts.join(" · ");
}

export function renderCoupons(el, empty, coupons, now) {
  const items = [...coupons].map((coupon) => {
    const li = document.createElement("li");
    li.className = "coupon-row";
    li.dataset.coupon = coupon.id;
    const head = document.createElement("div");
    head.className = "wave-head";
    const title = document.createElement("strong");
    title.textContent = `${coupon.id} · ${coupon.title}`;
    const push = document.createElement("button");
    push.type = "button";
    push.className = "small";
    push.dataset.push = coupon.id;
    push.textContent = t("push");
    head.append(title, push);
    const rule = document.createElement("div");
    rule.className = "meta";
    rule.textContent = couponRule(coupon);
    const bar = document.createElement("div");
    bar.className = "bar-stack";
    for (const [part, n] of [["sold", coupon.used], ["held", coupon.claimed - coupon.used], ["left", coupon.quantity - coupon.claimed]]) {
      const seg = document.createElement("span");
      seg.className = `seg ${part}`;
      seg.style.flexGrow = String(Math.max(0, n));
      bar.append(seg);
    }
    const counts = document.createElement("div");
    counts.className = "meta";
    const left = t("coupon_left", { left: coupon.quantity - coupon.claimed, quantity: coupon.quantity });
    const ends = coupon.claim_until ? ` · ${t("claim_ends_in", { countdown: countdown(coupon.claim_until - now) })}` : "";
    counts.textContent = `${left} · ${t("coupon_used", { used: coupon.used })}${ends}`;
    li.append(head, rule, bar, counts);
    return li;
  });
  el.replaceChildren(...items);
  empty.hidden = items.length > 0;
}

/** The create_coupon message the form describes, or the name of the bad field. */
export function couponFromForm(form, serverNow) {
  const f = form.elements;
  const kind = f.kind.value;
  const value = kind === "amount" ? fenFromYuan(f.value.value) : Number(f.value.value);
  const cap = fenFromYuan(f.cap.value);
  const minSpend = fenFromYuan(f.min_spend.value) ?? 0;
  if (!Number.isInteger(value) || value <= 0) return { error: "coupon_value" };
  if (Number.isNaN(cap)) return { error: "coupon_cap" };
  if (Number.isNaN(minSpend)) return { error: "min_spend" };
  const coupon = {
    type: "create_coupon",
    title: f.title.value.trim(),
    kind,
    value,
    quantity: Number(f.quantity.value),
    min_spend: minSpend,
    per_viewer: Number(f.per_viewer.value) || 1,
    valid_s: (Number(f.valid_hours.value) || 24) * 3600,
    audience: audienceOf(form),
    push: f.push.checked,
  };
  if (kind === "percent" && cap) coupon.cap = cap;
  const minutes = Number(f.claim_minutes.value) || 0;
  if (minutes > 0) coupon.claim_until = Math.round(serverNow + minutes * 60_000);
  return { coupon };
}
