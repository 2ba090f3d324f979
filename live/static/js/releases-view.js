// Stock releases on the control panel: the planner form, and one progress bar per wave
// (sold, held, left, returned), with its countdown or how fast it sold out.

import { t } from "./i18n.js";
import { countdown, fenFromYuan, money } from "./format.js";
import { currentWave, releaseStatus } from "./room-state.js";

let names = new Map();

export function renderWaves(el, empty, state, now) {
  names = new Map((state.guides ?? []).map((g) => [g.id, g.name]));
  const current = currentWave(state, now)?.id;
  // The current wave first (what the overlays show), then the newest.
  const waves = [...state.releases.values()].sort((a, b) => (b.id === current) - (a.id === current)
    || b.created_at - a.created_at || b.starts_at - a.starts_at);
  const titles = new Map(state.lineup.map((p) => [p.sku, p.title]));
  el.replaceChildren(...waves.map((wave) => waveItem(wave, titles.get(wave.sku) ?? wave.sku, now, wave.id === current)));
  empty.hidden = waves.length > 0;
}

function waveItem(wave, title, now, current) {
  const status = releaseStatus(wave, now);
  const li = document.createElement("li");
  li.className = `wave status-${status}`;
  li.classList.toggle("is-current", current);
  li.dataset.release = wave.id;
  const head = document.createElement("div");
  head.className = "wave-head";
  const name = document.createElement("strong");
  name.textContent = `${wave.id} · ${title}`;
  const label = document.createElement("span");
  label.className = "wave-status";
  if (status === "scheduled") label.textContent = t("status_scheduled", { countdown: countdown(wave.starts_at - now) });
  else if (wave.sold_out_at != null && status === "sold_out") {
    label.textContent = t("sold_out_after", { seconds: ((wave.sold_out_at - wave.starts_at) / 1000).toFixed(1) });
  } else label.textContent = t(`status_${status}`);
  const price = document.createElement("span");
  price.className = "price";
  price.textContent = money(wave.price);
  head.append(name, " ", price, " ", label);
  if (current) {
    const badge = document.createElement("span");
    badge.className = "badge live current";
    badge.textContent = t("current_wave");
    head.append(" ", badge);
  }
  if (status !== "closed") {
    const close = document.createElement("button");
    close.type = "button";
    close.className = "secondary small";
    close.dataset.close = wave.id;
    close.textContent = t("close_wave");
    head.append(close);
  }
  const bar = document.createElement("div");
  bar.className = "bar-stack";
  bar.setAttribute("role", "img");
  for (const part of ["sold", "held", "left", "returned"]) {
    const seg = document.createElement("span");
    seg.className = `seg ${part}`;
    seg.style.flexGrow = String(wave[part]);
    bar.append(seg);
  }
  const counts = document.createElement("div");
  counts.className = "meta wave-counts";
  counts.textContent = t("wave_counts", wave);
  bar.setAttribute("aria-label", counts.textContent);
  li.append(head, bar, counts);
  const present = Object.entries(wave.present ?? {}).sort((a, b) => b[1] - a[1]);
  if (present.length) {
    const who = document.createElement("div");
    who.className = "meta wave-present";
    who.textContent = t("present_at_open", { list: present.map(([name, n]) => `${names.get(name) ?? name} ${n}`).join(" · ") });
    li.append(who);
  }
  return li;
}

/** Fill the audience choices of a form from the people the snapshot named. */
export function fillAudiences(select, guides, shops) {
  const current = select.value;
  const options = [["all", t("aud_all")], ["dwell", t("aud_dwell")], ["new", t("aud_new")]];
  if (select.form.id === "planner") options.splice(2, 1); // `new` is for coupons only
  for (const shop of shops) options.push([`shop:${shop.id}`, t("aud_shop", { name: shop.name })]);
  for (const guide of guides) options.push([`guide:${guide.id}`, t("aud_guide", { name: guide.name })]);
  select.replaceChildren(...options.map(([value, label]) => new Option(label, value)));
  if (options.some(([value]) => value === current)) select.value = current;
  const dwell = select.form.querySelector(".dwell");
  select.onchange = () => (dwell.hidden = select.value !== "dwell");
}

export function audienceOf(form) {
  const value = form.elements.audience.value;
  return value === "dwell" ? `dwell:${Number(form.elements.dwell.value) || 60}` : value;
}

export function fillProducts(select, lineup) {
  const current = select.value;
  select.replaceChildren(...lineup.map((p) => new Option(`${p.title} (${p.sku})`, p.sku)));
  if (lineup.some((p) => p.sku === current)) select.value = current;
}

/** The plan_release message the form describes, or an error key. */
export function planFromForm(form, serverNow) {
  const f = form.elements;
  const price = fenFromYuan(f.price.value);
  if (Number.isNaN(price)) return { error: "flash_price" };
  const plan = {
    type: "plan_release",
    sku: f.sku.value,
    quantity: Number(f.quantity.value),
    waves: Number(f.waves.value) || 1,
    interval_s: Math.round((Number(f.interval.value) || 0) * 60),
    hold_s: Math.max(30, Math.round((Number(f.hold.value) || 5) * 60)),
    audience: audienceOf(form),
  };
  const countdownS = Number(f.countdown.value) || 0;
  if (countdownS > 0) plan.starts_at = Math.round(serverNow + countdownS * 1000);
  if (price !== null) plan.price = price;
  if (f.limit.value) plan.limit = Number(f.limit.value);
  return { plan };
}
