// Control panel: live numbers, the chart, the lineup with pin buttons, the activity feed.

import { connect, notice, staffToken } from "./page-kit.js";
import { apply, createRoomState } from "./room-state.js";
import { page, t } from "./i18n.js";
import { clock, count, dwell, money } from "./format.js";
import { LiveChart } from "./chart.js";
import { renderGuidesBoard } from "./guides-board.js";
import { renderLibrary } from "./scripts-view.js";

const state = createRoomState();
const lineupEl = document.getElementById("lineup");
const unpinEl = document.getElementById("unpin");
const activityEl = document.getElementById("activity");
const chart = new LiveChart(document.getElementById("chart"), [t("chart_online"), t("chart_entries"), t("chart_exits")]);
let refs = 0;

const token = staffToken();
const socket = connect({ token });
if (!token) {
  notice(t("needs_token", { role: "controller", room: page.room }), { sticky: true });
} else {
  socket.addEventListener("message", (e) => {
    const message = e.detail;
    if (apply(state, message)) render(message);
    logActivity(message, socket);
  });
  socket.start();
}

lineupEl.addEventListener("click", (e) => {
  const button = e.target.closest("button[data-sku]");
  if (button) command({ type: "pin", sku: button.dataset.sku });
});
unpinEl.addEventListener("click", () => command({ type: "pin", sku: null }));

function command(message) {
  refs += 1;
  if (!socket.send({ ...message, ref: `c${refs}` })) notice(t("state_reconnecting"));
}

function render(message) {
  if (message.type === "snapshot" || message.type === "numbers" || message.type === "tick") renderNumbers();
  if (message.type === "snapshot" || message.type === "numbers") chart.update(state.series);
  if (message.type === "snapshot" || message.type === "lineup" || message.type === "pinned") renderLineup();
  if (message.type === "snapshot" || message.type === "numbers") renderGuidesBoard(state.numbers?.guides ?? []);
  if (message.type === "snapshot") {
    document.getElementById("room-title").textContent = state.room.title;
    renderLibrary(document.getElementById("scripts"), state.scripts);
  }
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
  };
  for (const el of document.querySelectorAll("[data-number]")) {
    el.textContent = values[el.dataset.number] ?? "–";
  }
}

function renderLineup() {
  const items = state.lineup.map((product, i) => {
    const li = document.createElement("li");
    li.className = "lineup-item";
    li.dataset.sku = product.sku;
    if (product.sku === state.pinned) li.classList.add("is-pinned");
    const img = document.createElement("img");
    img.alt = "";
    if (product.image) img.src = product.image;
    const text = document.createElement("div");
    text.className = "lineup-text";
    const title = document.createElement("strong");
    title.textContent = `${i + 1}. ${product.title}`;
    const meta = document.createElement("span");
    meta.className = "meta";
    const role = document.createElement("span");
    role.className = `badge role-${product.role}`;
    role.textContent = t(`role_${product.role}`);
    const price = document.createElement("span");
    price.className = "price";
    price.textContent = money(product.price);
    meta.append(role, " ", price, " ", product.sku);
    text.append(title, meta);
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.sku = product.sku;
    const pinned = product.sku === state.pinned;
    button.textContent = pinned ? t("pinned") : t("pin");
    button.className = pinned ? "pinned" : "";
    li.append(img, text, button);
    return li;
  });
  lineupEl.replaceChildren(...items);
  unpinEl.disabled = state.pinned === null;
}

function logActivity(message) {
  let text;
  if (message.type === "pinned") {
    text = message.product ? t("ev_pinned", { by: message.by, title: message.product.title }) : t("ev_unpinned", { by: message.by });
  } else if (message.type === "lineup") {
    text = t("ev_lineup", { by: message.by });
  } else if (message.type === "snapshot" && message.reason !== "join") {
    text = t("resync", { reason: message.reason });
  }
  if (!text) return;
  const li = document.createElement("li");
  const time = document.createElement("time");
  time.textContent = clock(message.ts ?? message.server_time);
  li.append(time, " ", text);
  activityEl.prepend(li);
  while (activityEl.children.length > 100) activityEl.lastChild.remove();
}
