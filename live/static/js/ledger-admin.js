// The commission ledger on the admin page: totals per guide, distributor and store by
// state, payouts of confirmed balances, the entries, the CSV export, and reassigning an
// order to another person while its commission is not confirmed yet.

import { download, notice } from "./page-kit.js";
import { t } from "./i18n.js";
import { clock, money } from "./format.js";
import { api, attempt, button, fillRows, options, token } from "./admin-kit.js";

const $ = (id) => document.getElementById(id);
let last = { ledger: { entries: [], totals: { guides: {}, distributors: {}, stores: {} } }, names: new Map() };

export async function loadLedger(people, rooms) {
  const names = new Map([...people.guides, ...people.distributors, ...people.shops].map((p) => [p.id, p.name]));
  options($("reassign").elements.room, rooms.map((r) => [r.id, r.title]));
  options($("reassign").elements.to, [...people.guides, ...people.distributors].map((p) => [p.id, `${p.name} (${p.id})`]));
  last = { ledger: await api("/api/ledger"), names };
  render();
}

function render() {
  const { ledger, names } = last;
  const group = $("totals-of").value;
  const rows = Object.entries(ledger.totals[group]).map(([id, sums]) => ({ id, ...sums }));
  rows.sort((a, b) => b.total - a.total);
  fillRows($("totals"), rows, (r) => [
    names.get(r.id) ?? r.id, money(r.frozen), money(r.confirmed), money(r.paid), money(r.total),
    group !== "stores" && r.confirmed > 0 ? button(t("pay_out"), () => payOut(r.id), { who: r.id }) : "",
  ], (r) => r.id);
  $("totals-empty").hidden = rows.length > 0;
  const entries = [...ledger.entries].sort((a, b) => b.at - a.at);
  fillRows($("entries"), entries, (e) => [clock(e.at), orderLink(e), names.get(e.who) ?? e.who, e.level, money(e.amount),
    t(`reason_${e.reason}`), stateText(e)], (e) => e.id);
}

/** An entry's state; a frozen one says until when (fixed when it was earned). */
function stateText(entry) {
  const state = t(`commission_${entry.state}`);
  if (entry.state !== "frozen" || entry.confirm_at == null) return state;
  const until = new Date(entry.confirm_at).toLocaleString(document.documentElement.lang, { dateStyle: "short", timeStyle: "short" });
  return t("frozen_until", { state, until });
}

function orderLink(entry) {
  const b = button(entry.order, () => {
    const form = $("reassign");
    form.elements.room.value = entry.room;
    form.elements.order.value = entry.order;
    form.elements.to.focus();
  });
  b.className = "link-button";
  return b;
}

async function reload() {
  last.ledger = await api("/api/ledger");
  render();
}

// After every change made on this page (refused ones too: the ledger may have moved on
// meanwhile), and as time passes (frozen entries become confirmed), read it again.
document.addEventListener("admin:changed", () => reload().catch(() => {}));
setInterval(() => reload().catch(() => {}), 30_000);

function payOut(who) {
  attempt(async () => {
    const paid = await api("/api/ledger/payouts", { method: "POST", json: { who } });
    notice(t("paid_out", { who: last.names.get(who) ?? who, amount: money(paid.amount) }));
  });
}

$("totals-of").addEventListener("change", render);

$("reassign").addEventListener("submit", (e) => {
  e.preventDefault();
  const form = e.target;
  const path = `/api/rooms/${encodeURIComponent(form.elements.room.value)}/orders/${encodeURIComponent(form.elements.order.value.trim())}/reassign`;
  attempt(async () => {
    const order = await api(path, { method: "POST", json: { to: form.elements.to.value, reason: form.elements.reason.value } });
    notice(t("reassigned", { order: order.id, who: last.names.get(form.elements.to.value) ?? form.elements.to.value }));
    form.reset();
  });
});

$("ledger-csv").addEventListener("click", () => attempt(() => download("/api/ledger?format=csv", token, "ledger.csv")));
