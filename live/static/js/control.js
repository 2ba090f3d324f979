// Control panel: live numbers and chart, the lineup, stock releases, the order feed,
// coupons, the guides' board, the script library and the activity log.

import { armed, connect, fetchJson, notice, staffToken } from "./page-kit.js";
import { apply, createRoomState, lifeOf } from "./room-state.js";
import { page, t } from "./i18n.js";
import { clock, count, dwell, money } from "./format.js";
import { LiveChart } from "./chart.js";
import { renderGuidesBoard } from "./guides-board.js";
import { enableDrag, renderCatalogResults, renderLineup } from "./lineup-editor.js";
import { fillRules, renderAlerts, renderTier, rulesFromForm } from "./pacing-view.js";
import { addRow, fillEditor, renderShow, showFromEditor } from "./show-view.js";
import { bannerText, exportLines, fillProductChoices, importLines, linesFromPaste, renderLibrary } from "./scripts-editor.js";
import { fill } from "./prompt-fill.js";
import { position } from "./show-clock.js";
import { fillAudiences, fillProducts, planFromForm, renderWaves } from "./releases-view.js";
import { renderOrders } from "./orders-view.js";
import { couponFromForm, renderCoupons } from "./coupons-view.js";
import { lifeText } from "./life-view.js";

const $ = (id) => document.getElementById(id);
const state = createRoomState();
const chart = new LiveChart($("chart"), [t("chart_online"), t("chart_entries"), t("chart_exits")]);
const planner = $("planner");
const couponForm = $("coupon-form");
const showForm = $("show-form");
let refs = 0;

const token = staffToken();
const socket = connect({ token });
if (token) {
  const review = $("review-link");
  review.href = `/rooms/${encodeURIComponent(page.room)}/review#token=${encodeURIComponent(token)}`;
  review.hidden = false;
}
if (!token) {
  notice(t("needs_token", { role: "controller", room: page.room }), { sticky: true });
} else {
  socket.addEventListener("message", (e) => {
    const message = e.detail;
    if (apply(state, message)) render(message);
    const note = systemNote(message);
    if (note) {
      state.actions.unshift({ at: message.ts, role: "live", sub: "", action: "", summary: note, result: "ok" });
      renderLog();
    }
  });
  socket.start();
  setInterval(renderClocks, 500);
}

function command(message) {
  refs += 1;
  if (!socket.send({ ...message, ref: `c${refs}` })) notice(t("state_reconnecting"));
}

$("lineup").addEventListener("click", (e) => {
  const button = e.target.closest("button[data-action]");
  if (!button) return;
  const sku = button.dataset.sku;
  if (button.dataset.action === "pin") command({ type: "pin", sku });
  if (button.dataset.action === "on" || button.dataset.action === "off") {
    command({ type: "set_on_sale", sku, on_sale: button.dataset.action === "on" });
  }
  if (button.dataset.action === "release") {
    planner.elements.sku.value = sku;
    planner.elements.quantity.focus();
  }
  if (button.dataset.action === "remove") command({ type: "remove_from_lineup", sku });
});

// --- the live's life, and products from the catalog --------------------------------

$("start-live").addEventListener("click", () => command({ type: "start_live" }));
$("end-live").addEventListener("click", (e) => armed(e.currentTarget, () => command({ type: "end_live" })));

let searchTimer = null;
let lastFound = [];
$("catalog-search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(searchCatalog, 250);
});
$("lineup-add").addEventListener("toggle", (e) => e.target.open && searchCatalog());
$("catalog-results").addEventListener("click", (e) => {
  const add = e.target.closest("button[data-add]");
  if (add) command({ type: "add_to_lineup", sku: add.dataset.add });
});

async function searchCatalog() {
  const q = $("catalog-search").value.trim();
  try {
    lastFound = await fetchJson(`/api/rooms/${encodeURIComponent(page.room)}/catalog?q=${encodeURIComponent(q)}`, token);
    renderCatalogResults($("catalog-results"), lastFound, state.lineup);
  } catch (error) {
    notice(t("error", { message: error.message }));
  }
}

function renderLife() {
  const life = lifeOf(state);
  const el = $("life");
  el.dataset.status = life.status;
  el.textContent = lifeText(life);
  $("start-live").hidden = life.status !== "scheduled";
  $("end-live").hidden = life.status !== "live";
  document.body.dataset.life = life.status;
}
enableDrag($("lineup"), (skus) => command({ type: "set_lineup", skus }));
$("unpin").addEventListener("click", () => command({ type: "pin", sku: null }));

planner.addEventListener("submit", (e) => {
  e.preventDefault();
  const { plan, error } = planFromForm(planner, socket.serverNow());
  if (error) return notice(t("error", { message: t(error) }));
  const units = plan.quantity * plan.waves;
  const title = state.lineup.find((p) => p.sku === plan.sku)?.title ?? plan.sku;
  if (units > (page.confirm_units ?? 500) && !confirm(t("confirm_release", { units, title }))) return;
  command(plan);
});

couponForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const { coupon, error } = couponFromForm(couponForm, socket.serverNow());
  if (error) return notice(t("error", { message: t(error) }));
  command(coupon);
  couponForm.closest("details").open = false;
});

$("waves").addEventListener("click", (e) => {
  const button = e.target.closest("button[data-close]");
  if (button) command({ type: "close_release", release: button.dataset.close });
});
$("coupons").addEventListener("click", (e) => {
  const button = e.target.closest("button[data-push]");
  if (button) command({ type: "push_coupon", coupon: button.dataset.push });
});

// --- pacing ---------------------------------------------------------------------------

$("alerts").addEventListener("click", (e) => {
  const act = e.target.closest("button[data-alert]");
  const dismiss = e.target.closest("button[data-dismiss]");
  if (act) {
    const alert = state.alerts[Number(act.dataset.alert)];
    const action = alert.action;
    if (action.type === "plan_release") {
      const title = state.lineup.find((p) => p.sku === action.sku)?.title ?? action.sku;
      if (action.quantity > (page.confirm_units ?? 500) && !confirm(t("confirm_release", { units: action.quantity, title }))) return;
    }
    command(action);
    state.alerts.splice(Number(act.dataset.alert), 1);
  } else if (dismiss) state.alerts.splice(Number(dismiss.dataset.dismiss), 1);
  else return;
  renderAlerts($("alerts"), $("alerts-empty"), state.alerts);
});
$("rules").addEventListener("submit", (e) => {
  e.preventDefault();
  command(rulesFromForm(e.target));
});
$("show-controls").addEventListener("click", (e) => {
  const button = e.target.closest("button[data-show]");
  if (!button) return;
  command({ type: "show", action: button.dataset.show, minutes: Number(button.dataset.minutes ?? 0) });
});
$("segments").addEventListener("click", (e) => {
  const li = e.target.closest("li[data-index]");
  if (li) command({ type: "show", action: "jump", index: Number(li.dataset.index) });
});
showForm.closest("details").addEventListener("toggle", (e) => {
  if (e.target.open) fillEditor($("segment-rows"), state.pacing?.show, state.lineup, [...state.coupons.values()]);
});
$("add-segment").addEventListener("click", () => addRow($("segment-rows"), state.lineup, [...state.coupons.values()]));
showForm.addEventListener("submit", (e) => {
  e.preventDefault();
  command(showFromEditor($("segment-rows"), showForm.elements.repeat.checked));
  showForm.closest("details").open = false;
});
$("push-line").addEventListener("submit", (e) => {
  e.preventDefault();
  command({ type: "push_line", text: e.target.elements.text.value.trim() });
  e.target.reset();
});
$("push-banner").addEventListener("submit", (e) => {
  e.preventDefault();
  command({ type: "push_banner", text: e.target.elements.text.value.trim(), seconds: Number(e.target.elements.seconds.value) || 30 });
  e.target.elements.text.value = "";
});
$("paste").addEventListener("submit", (e) => {
  e.preventDefault();
  const message = linesFromPaste(e.target);
  if (!message) return;
  command(message);
  e.target.elements.lines.value = "";
});
$("scripts").addEventListener("click", (e) => {
  const push = e.target.closest("button[data-push]");
  const banner = e.target.closest("button[data-banner]");
  const remove = e.target.closest("button[data-delete]");
  if (push) command({ type: "push_line", line: push.dataset.push });
  if (remove) armed(remove, () => command({ type: "delete_script_line", line: remove.dataset.delete }));
  if (banner) {
    const line = state.scripts.find((l) => l.id === banner.dataset.banner);
    const now = socket.serverNow();
    const seconds = Number($("push-banner").elements.seconds.value) || 30;
    if (line) command({ type: "push_banner", text: bannerText(line, (text) => fill(text, state, now)), seconds });
  }
});
for (const button of document.querySelectorAll("button[data-export]")) {
  button.addEventListener("click", () => exportLines(page.room, token, button.dataset.export).catch((error) => notice(error.message)));
}
$("scripts-file").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) importLines(page.room, token, file).catch((error) => notice(t("error", { message: error.message })));
  e.target.value = "";
});

function render(message) {
  const type = message.type;
  if (["snapshot", "numbers", "tick"].includes(type)) renderNumbers();
  if (type === "snapshot" || type === "numbers") {
    chart.update(state.series);
    renderGuidesBoard(state.numbers?.guides ?? [], state.numbers?.stores ?? []);
  }
  if (["snapshot", "numbers", "tier"].includes(type)) renderTier(state);
  if (type === "snapshot" || type === "alert") renderAlerts($("alerts"), $("alerts-empty"), state.alerts);
  if (type === "snapshot" || type === "scripts") renderLibrary($("scripts"), state.scripts);
  if (type === "snapshot" || type === "action") renderLog();
  if (["snapshot", "show_changed", "prompt"].includes(type)) renderClocks();
  if (type === "snapshot" || type === "live") renderLife();
  if (["snapshot", "lineup", "pinned"].includes(type) || (type === "numbers" && message.stockChanged)) {
    renderLineup($("lineup"), state);
    $("lineup-empty").hidden = state.lineup.length > 0;
    if (type === "lineup") renderCatalogResults($("catalog-results"), lastFound, state.lineup);
    $("unpin").disabled = state.pinned === null;
    fillProducts(planner.elements.sku, state.lineup);
  }
  if (["snapshot", "release", "sold_out", "returned", "numbers"].includes(type)) renderClocks();
  if (["snapshot", "order", "lineup"].includes(type)) {
    renderOrders($("orders"), $("orders-empty"), state.orders, new Map(state.lineup.map((p) => [p.sku, p.title])));
  }
  if (type === "snapshot") {
    $("room-title").textContent = state.room.title;
    fillRules($("rules"), state.pacing?.rules);
    fillProductChoices($("paste").elements.product, state.lineup);
    fillAudiences(planner.elements.audience, state.guides ?? [], state.shops ?? []);
    fillAudiences(couponForm.elements.audience, state.guides ?? [], state.shops ?? []);
  }
}

function renderClocks() {
  const now = socket.serverNow();
  renderWaves($("waves"), $("waves-empty"), state, now);
  renderCoupons($("coupons"), $("coupons-empty"), state.coupons.values(), now);
  renderShow(state, now);
  renderPrompts(now);
}

function renderPrompts(now) {
  const where = position(state.pacing?.show, now);
  const auto = state.pacing?.prompt;
  $("prompt-auto").textContent = auto?.text ? fill(auto.text, state, now, where?.remaining ?? null) : t("prompt_empty");
  const pushed = state.pacing?.pushed;
  const live = pushed && (pushed.expires_at == null || pushed.expires_at > now);
  $("prompt-pushed").hidden = !live;
  if (live) $("prompt-pushed").textContent = fill(pushed.text, state, now, where?.remaining ?? null);
}

function renderLog() {
  const items = state.actions.map((entry) => {
    const li = document.createElement("li");
    li.className = `log-${entry.result}`;
    const time = document.createElement("time");
    time.textContent = clock(entry.at);
    const what = document.createElement("span");
    what.textContent = describe(entry);
    li.append(time, " ", what);
    if (entry.result !== "ok") {
      const refused = document.createElement("span");
      refused.className = "refused";
      refused.textContent = ` — ${t("log_refused", { code: entry.code })}`;
      li.append(refused);
    }
    return li;
  });
  $("activity").replaceChildren(...items);
}

function renderNumbers() {
  const n = state.numbers || { online: state.online, likes: state.likes };
  const values = {
    online: count(n.online),
    peak: count(n.peak),
    entries: count(n.entries),
    unique: count(n.unique),
    exits: count(n.exits),
    avg_dwell: dwell(n.avg_dwell_s, t),
    likes: count(n.likes),
    orders: count(n.orders),
    buyers: count(n.buyers),
    gmv: typeof n.gmv === "number" ? money(n.gmv) : "–",
  };
  for (const el of document.querySelectorAll("[data-number]")) {
    el.textContent = values[el.dataset.number] ?? "–";
  }
}

/** A log entry in words: the common actions by name, the others as sent; what a
 * run-of-show segment fired in its setter's name says which segment. */
function describe(entry) {
  let fields = {};
  try {
    fields = JSON.parse(entry.summary);
  } catch {
    // a long summary is cut short: show it as it is
  }
  const what = describeAction(entry, fields);
  return typeof fields.segment === "string" ? t("ev_fired", { what, segment: fields.segment }) : what;
}

function describeAction(entry, fields) {
  const by = entry.sub ? `${entry.role}:${entry.sub}` : entry.role;
  if (!entry.action) return `${by} · ${entry.summary}`;
  const title = (sku) => state.lineup.find((p) => p.sku === sku)?.title ?? sku;
  switch (entry.action) {
    case "pin":
      return fields.sku ? t("ev_pinned", { by, title: title(fields.sku) }) : t("ev_unpinned", { by });
    case "set_lineup":
      return t("ev_lineup", { by });
    case "plan_release":
      if (fields.sku) return t("ev_release", { by, quantity: fields.quantity, sku: title(fields.sku) });
      break;
    case "close_release":
      return t("ev_release_closed", { by, id: fields.release });
  }
  return `${by} ${entry.action} ${entry.summary}`;
}

/** What the room did by itself, for the log beside the staff's actions. */
function systemNote(message) {
  switch (message.type) {
    case "sold_out":
      return t("ev_sold_out", { sku: message.sku, seconds: (message.after_ms / 1000).toFixed(1) });
    case "returned":
      return t("ev_returned", { units: message.units, release: message.release });
    case "tier":
      return t("ev_tier", { tier: t(`tier_${message.tier}`), online: message.online });
    case "segment":
      return t("ev_segment", { title: message.title });
    default:
      return null;
  }
}
