// Control panel: live numbers and chart, the lineup, stock releases, the order feed,
// coupons, the guides' board, the script library and the activity log.

import { connect, notice, staffToken } from "./page-kit.js";
import { apply, createRoomState } from "./room-state.js";
import { page, t } from "./i18n.js";
import { clock, count, dwell, money } from "./format.js";
import { LiveChart } from "./chart.js";
import { renderGuidesBoard } from "./guides-board.js";
import { renderLibrary } from "./scripts-view.js";
import { enableDrag, renderLineup } from "./lineup-editor.js";
import { fillAudiences, fillProducts, planFromForm, renderWaves } from "./releases-view.js";
import { renderOrders } from "./orders-view.js";
import { couponFromForm, renderCoupons } from "./coupons-view.js";

const $ = (id) => document.getElementById(id);
const state = createRoomState();
const chart = new LiveChart($("chart"), [t("chart_online"), t("chart_entries"), t("chart_exits")]);
const planner = $("planner");
const couponForm = $("coupon-form");
let refs = 0;

const token = staffToken();
const socket = connect({ token });
if (!token) {
  notice(t("needs_token", { role: "controller", room: page.room }), { sticky: true });
} else {
  socket.addEventListener("message", (e) => {
    const message = e.detail;
    if (apply(state, message)) render(message);
    logActivity(message);
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
});
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

function render(message) {
  const type = message.type;
  if (["snapshot", "numbers", "tick"].includes(type)) renderNumbers();
  if (type === "snapshot" || type === "numbers") {
    chart.update(state.series);
    renderGuidesBoard(state.numbers?.guides ?? []);
  }
  if (["snapshot", "lineup", "pinned"].includes(type) || (type === "numbers" && message.stockChanged)) {
    renderLineup($("lineup"), state);
    $("unpin").disabled = state.pinned === null;
    fillProducts(planner.elements.sku, state.lineup);
  }
  if (["snapshot", "release", "sold_out", "returned", "numbers"].includes(type)) renderClocks();
  if (["snapshot", "order", "lineup"].includes(type)) {
    renderOrders($("orders"), $("orders-empty"), state.orders, new Map(state.lineup.map((p) => [p.sku, p.title])));
  }
  if (type === "snapshot") {
    $("room-title").textContent = state.room.title;
    renderLibrary($("scripts"), state.scripts);
    fillAudiences(planner.elements.audience, state.guides ?? [], state.shops ?? []);
    fillAudiences(couponForm.elements.audience, state.guides ?? [], state.shops ?? []);
  }
}

function renderClocks() {
  const now = socket.serverNow();
  renderWaves($("waves"), $("waves-empty"), state, now);
  renderCoupons($("coupons"), $("coupons-empty"), state.coupons.values(), now);
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

function logActivity(message) {
  let text;
  switch (message.type) {
    case "pinned":
      text = message.product ? t("ev_pinned", { by: message.by, title: message.product.title }) : t("ev_unpinned", { by: message.by });
      break;
    case "lineup":
      text = t("ev_lineup", { by: message.by });
      break;
    case "release":
      text = message.release.closed_at != null
        ? t("ev_release_closed", { by: message.by, id: message.release.id })
        : t("ev_release", { by: message.by, quantity: message.release.quantity, sku: message.release.sku });
      break;
    case "sold_out":
      text = t("ev_sold_out", { sku: message.sku, seconds: (message.after_ms / 1000).toFixed(1) });
      break;
    case "returned":
      text = t("ev_returned", { units: message.units, release: message.release });
      break;
    case "coupon":
      text = t("ev_coupon", { title: message.coupon.title });
      break;
    case "snapshot":
      if (message.reason !== "join") text = t("resync", { reason: message.reason });
      break;
  }
  if (!text) return;
  const li = document.createElement("li");
  const time = document.createElement("time");
  time.textContent = clock(message.ts ?? message.server_time);
  li.append(time, " ", text);
  $("activity").prepend(li);
  while ($("activity").children.length > 200) $("activity").lastChild.remove();
}
