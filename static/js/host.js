// Host view: the pinned product, large, and the room's numbers, for reading at a distance.

import { connect, notice, showProduct, staffToken } from "./page-kit.js";
import { apply, createRoomState } from "./room-state.js";
import { page, t } from "./i18n.js";
import { count, countdown, money } from "./format.js";
import { lineItem, linesFor } from "./scripts-view.js";
import { releaseStatus } from "./room-state.js";

const state = createRoomState();
const token = staffToken();
const socket = connect({ token });
if (!token) {
  notice(t("needs_token", { role: "host", room: page.room }), { sticky: true });
} else {
  socket.addEventListener("message", (e) => {
    if (apply(state, e.detail)) render();
  });
  socket.start();
  setInterval(renderSale, 250);
}

function render() {
  document.getElementById("online").textContent = count(state.online);
  document.getElementById("likes").textContent = count(state.likes);
  document.getElementById("pinned").dataset.empty = state.product ? "false" : "true";
  showProduct("pinned", state.product, t("nothing_pinned"));
  const lines = linesFor(state.scripts, state.product);
  document.getElementById("host-lines").hidden = lines.length === 0;
  document.getElementById("lines").replaceChildren(...lines.map(lineItem));
  renderSale();
}

/** The release on sale or next: its countdown (or price), units left and sold, large. */
function renderSale() {
  const now = socket.serverNow();
  const live = [...state.releases.values()].filter((r) => releaseStatus(r, now) !== "closed");
  const release =
    live.find((r) => releaseStatus(r, now) === "open") ?? live.sort((a, b) => a.starts_at - b.starts_at)[0];
  const el = document.getElementById("host-sale");
  el.hidden = !release;
  if (!release) return;
  const status = releaseStatus(release, now);
  const main = document.getElementById("host-sale-main");
  main.classList.toggle("countdown", status === "scheduled");
  main.textContent = status === "scheduled" ? countdown(release.starts_at - now) : money(release.price);
  const product = state.lineup.find((p) => p.sku === release.sku);
  document.getElementById("host-sale-label").textContent =
    `${t(`status_${status}`, { countdown: "" }).trim()} · ${product?.title ?? release.sku}`;
  document.getElementById("host-left").textContent = count(release.left);
  document.getElementById("host-sold").textContent = count(release.sold + release.held);
  el.dataset.status = status;
}
