// The post-live review (复盘): headline numbers, charts with a marker per staff action,
// the funnel, the formulas factor by factor, what moved the numbers, and the tables per
// product, wave, guide, store and segment, each with its CSV. Read from
// /api/rooms/{room}/review with the staff token.

import { download, fetchJson, notice, staffToken } from "./page-kit.js";
import { page, t } from "./i18n.js";
import { clock, count, dwell, money } from "./format.js";
import { drawChart } from "./svg-chart.js";

const $ = (id) => document.getElementById(id);
const token = staffToken();
const hhmm = (ms) => clock(ms).slice(0, 5);
const pct = (x) => `${(x * 100).toFixed(1)}%`;
const signed = (before, after) => `${before} → ${after}` + (after === before ? "" : ` (${after > before ? "+" : ""}${after - before})`);

const reviewPath = (query) => `/api/rooms/${encodeURIComponent(page.room)}/review?window=${$("window").value}${query}`;

function render(r) {
  const h = r.headline;
  const shown = {
    peak_online: count(h.peak_online), avg_online: h.avg_online.toFixed(1), unique_viewers: count(h.unique_viewers),
    views: count(h.views), avg_dwell_s: dwell(h.avg_dwell_s, t), orders: count(h.orders), buyers: count(h.buyers),
    gmv: money(h.gmv), aov: money(h.aov), conversion: pct(h.conversion), gpm: money(h.gpm), uv_value: money(h.uv_value),
    refunds: h.refunds ? `${h.refunds} · ${money(h.refunded)}` : "0", likes: count(h.likes),
  };
  for (const dd of document.querySelectorAll("[data-headline]")) dd.textContent = shown[dd.dataset.headline];
  $("span").textContent = h.start ? `${clock(h.start)} – ${clock(h.end)} · ${dwell(h.duration_s, t)}` : t("review_empty");

  const markers = r.markers.map((m) => ({ at: m.at, label: `${m.label} · ${m.by}` }));
  drawChart($("chart-online"), r.minutes.map((m) => ({ t: m.t, v: m.online })), { kind: "line", markers, time: hhmm, label: t("chart_online_minute") });
  drawChart($("chart-orders"), r.minutes.map((m) => ({ t: m.t, v: m.orders })), { kind: "bars", markers, time: hhmm, label: t("chart_orders_minute") });

  $("funnel").replaceChildren(...r.funnel.map((step) => {
    const li = document.createElement("li");
    li.dataset.step = step.name;
    const width = r.funnel[0].count ? Math.min(100, (100 * step.count) / r.funnel[0].count) : 0;
    li.style.setProperty("--w", `${width}%`);
    const name = document.createElement("span");
    name.textContent = t(`step_${step.name}`);
    const n = document.createElement("b");
    n.textContent = count(step.count);
    const rate = document.createElement("small");
    rate.textContent = step.rate === null ? "" : pct(step.rate);
    li.append(name, n, rate);
    return li;
  }));

  renderFormula($("formula"), r.formula);
  $("moved-hint").textContent = t("review_moved_hint", { m: r.window_s / 60 });
  rows("moved", r.moved, (m) => [clock(m.at), `${m.kind.split("+").map((k) => t(`moment_${k}`)).join(" + ")}: ${m.label}${m.by ? ` · ${m.by}` : ""}`,
    signed(m.orders_before, m.orders_after), signed(m.entries_before, m.entries_after), signed(m.exits_before, m.exits_after)]);
  rows("products", r.products, (p) => [p.title, p.waves, p.released, p.sold, p.refunded, p.back_to_stock, p.orders, money(p.gmv),
    seconds(p.fastest_sell_out_s)]);
  rows("waves", r.waves, (w) => [clock(w.starts_at), w.title, money(w.price), w.quantity, w.sold, w.refunded, w.left, w.back_to_stock,
    seconds(w.sell_out_s)]);
  rows("guides", r.guides, (g) => [g.name, g.shop ?? "—", g.clicks, g.brought, g.stayed, g.orders, money(g.gmv), money(g.commission), formulaText(g.formula)]);
  rows("stores", r.stores, (s) => [s.name, s.brought, s.orders, s.buyers, money(s.gmv), money(s.commission)]);
  rows("segments", r.segments, (s) => [clock(s.start), s.title, ((s.end - s.start) / 60000).toFixed(1), s.avg_online.toFixed(1),
    s.entries, s.exits, s.orders, money(s.gmv)]);
  $("review").setAttribute("aria-busy", "false");
}

function seconds(s) {
  return s === null ? "—" : t("seconds_short", { n: s });
}

function factorText(f) {
  return f.unit === "fen" ? money(Math.round(f.value)) : f.unit === "rate" ? pct(f.value) : Number(f.value.toFixed(2)).toLocaleString();
}

function formulaText(formula) {
  return `${formula.factors.map(factorText).join(" × ")} = ${money(Math.round(formula.product))}`;
}

function renderFormula(box, formula) {
  const parts = [];
  formula.factors.forEach((f, i) => {
    if (i) parts.push(["×", null]);
    parts.push([factorText(f), t(`factor_${f.name}`)]);
  });
  parts.push(["=", null], [money(formula.result), t("gmv")]);
  box.replaceChildren(...parts.map(([value, label]) => {
    const div = document.createElement("div");
    div.className = label ? "factor" : "op";
    const b = document.createElement("b");
    b.textContent = value;
    div.append(b);
    if (label) {
      const span = document.createElement("span");
      span.textContent = label;
      div.append(span);
    }
    return div;
  }));
}

function rows(id, items, cells) {
  $(id).querySelector("tbody").replaceChildren(...items.map((item) => {
    const tr = document.createElement("tr");
    for (const value of cells(item)) {
      const td = document.createElement("td");
      td.textContent = String(value);
      tr.append(td);
    }
    return tr;
  }));
}

document.addEventListener("click", async (e) => {
  const button = e.target.closest("button.csv");
  if (!button) return;
  const table = button.dataset.table;
  try {
    await download(reviewPath(`&format=csv&table=${table}`), token, `${page.room}-${table}.csv`);
  } catch (error) {
    notice(t("error", { message: error.message }));
  }
});

$("print").addEventListener("click", () => window.print());

async function refresh() {
  try {
    render(await fetchJson(reviewPath(""), token));
  } catch (error) {
    notice(t("error", { message: error.message }), { sticky: true });
  }
}

$("window").addEventListener("change", refresh);
if (!token) notice(t("needs_token", { role: "controller", room: page.room }), { sticky: true });
else refresh();
