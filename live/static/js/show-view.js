// The run-of-show on the control panel: where the live is (countdown or overrun), the
// segments (click one to jump there), the controls, and the segment editor.

import { t } from "./i18n.js";
import { countdown } from "./format.js";
import { position } from "./show-clock.js";

const PURPOSES = ["welcome", "hold", "explain", "urgency", "coupon", "qa", "thanks"];
const FIRES = ["none", "release_auto", "release_ask", "coupon_auto", "coupon_ask"];

export function renderShow(state, now) {
  const show = state.pacing?.show;
  const where = position(show, now);
  const head = document.getElementById("show-now");
  head.dataset.over = String(Boolean(where?.overrun));
  if (!where) head.textContent = t("show_idle");
  else {
    const time = where.overrun ? t("show_overrun", { countdown: countdown(where.overrun) }) : t("show_remaining", { countdown: countdown(where.remaining) });
    const parts = [t("show_now", { title: where.segment.title }), time];
    if (where.paused) parts.push(t("show_paused"));
    if (where.next) parts.push(t("show_next", { title: where.next.title }));
    head.textContent = parts.join(" · ");
  }
  const list = document.getElementById("segments");
  list.replaceChildren(
    ...(show?.segments ?? []).map((segment, i) => {
      const li = document.createElement("li");
      li.dataset.index = String(i);
      li.classList.toggle("current", where?.index === i);
      li.textContent = `${segment.title} · ${segment.minutes}′ · ${t(`purpose_${segment.purpose}`)}${segment.sku ? ` · ${segment.sku}` : ""}`;
      return li;
    }),
  );
}

/** The editor: one row of inputs per segment, filled from the show when opened. */
export function fillEditor(container, show, lineup, coupons) {
  container.replaceChildren(...(show?.segments ?? []).map((segment) => row(segment, lineup, coupons)));
}

export function addRow(container, lineup, coupons) {
  container.append(row({ title: "", minutes: 5, purpose: "explain" }, lineup, coupons));
}

function row(segment, lineup, coupons) {
  const div = document.createElement("div");
  div.className = "segment-row form-grid";
  const fire = segment.fire ? `${segment.fire.kind}_${segment.fire.mode}` : "none";
  div.append(
    field(t("seg_title"), input("title", segment.title, { maxLength: 60, required: true })),
    field(t("seg_minutes"), input("minutes", segment.minutes, { type: "number", min: "0.5", step: "0.5", max: "600", required: true })),
    field(t("seg_purpose"), select("purpose", PURPOSES.map((p) => [p, t(`purpose_${p}`)]), segment.purpose)),
    field(t("seg_product"), select("sku", [["", "—"], ...lineup.map((p) => [p.sku, p.title])], segment.sku ?? "")),
    field(t("seg_advance"), select("advance", [["auto", t("advance_auto")], ["manual", t("advance_manual")]], segment.advance ?? "auto")),
    field(t("seg_fire"), select("fire", FIRES.map((f) => [f, t(`fire_${f}`)]), fire)),
    field(t("fire_quantity"), input("quantity", segment.fire?.quantity ?? 100, { type: "number", min: "1" })),
    field(t("fire_coupon"), select("coupon", [["", "—"], ...coupons.map((c) => [c.id, `${c.id} · ${c.title}`])], segment.fire?.coupon ?? "")),
  );
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "secondary small remove";
  remove.textContent = t("remove");
  remove.addEventListener("click", () => div.remove());
  div.append(remove);
  return div;
}

/** The set_show message the editor describes. */
export function showFromEditor(container, repeat) {
  const segments = [...container.querySelectorAll(".segment-row")].map((div) => {
    const get = (name) => div.querySelector(`[name=${name}]`).value;
    const segment = { title: get("title").trim(), minutes: Number(get("minutes")), purpose: get("purpose"), advance: get("advance") };
    if (get("sku")) segment.sku = get("sku");
    const fire = get("fire");
    if (fire !== "none") {
      const [kind, mode] = fire.split("_");
      segment.fire = kind === "release" ? { kind, mode, quantity: Number(get("quantity")) || 100 } : { kind, mode, coupon: get("coupon") };
    }
    return segment;
  });
  return { type: "set_show", segments, repeat };
}

function field(label, control) {
  const l = document.createElement("label");
  l.append(label, control);
  return l;
}

function input(name, value, attrs = {}) {
  const el = document.createElement("input");
  el.name = name;
  el.value = value ?? "";
  Object.assign(el, attrs);
  return el;
}

function select(name, options, value) {
  const el = document.createElement("select");
  el.name = name;
  el.replaceChildren(...options.map(([v, label]) => new Option(label, v)));
  el.value = value;
  return el;
}
