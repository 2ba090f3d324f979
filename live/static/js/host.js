// Host view: the pinned product, large, and the room's numbers, for reading at a distance.

import { connect, notice, showProduct, staffToken } from "./page-kit.js";
import { apply, createRoomState, lifeOf } from "./room-state.js";
import { lifeText } from "./life-view.js";
import { page, t } from "./i18n.js";
import { count, countdown, money } from "./format.js";
import { currentWave, releaseStatus } from "./room-state.js";
import { position } from "./show-clock.js";
import { fill } from "./prompt-fill.js";

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
  setInterval(() => {
    renderSale();
    renderPrompter();
  }, 250);
}

function render() {
  const life = lifeOf(state);
  document.getElementById("life").textContent = lifeText(life);
  document.getElementById("life").dataset.status = life.status;
  document.getElementById("online").textContent = count(state.online);
  document.getElementById("likes").textContent = count(state.likes);
  document.getElementById("pinned").dataset.empty = state.product ? "false" : "true";
  showProduct("pinned", state.product, t("nothing_pinned"));
  renderSale();
  renderPrompter();
}

/** The teleprompter: the segment and its countdown, the line to say now (its
 * placeholders filled live), a line the controller pushed, and what comes next. */
function renderPrompter() {
  const now = socket.serverNow();
  const pacing = state.pacing;
  const where = position(pacing?.show, now);
  const remaining = where ? where.remaining : null;
  const $ = (id) => document.getElementById(id);
  $("segment-now").hidden = !where;
  if (where) {
    $("segment-title").textContent = where.segment.title;
    const over = where.overrun > 0;
    $("segment-countdown").classList.toggle("over", over);
    $("segment-countdown").textContent = over ? `+${countdown(where.overrun)}` : countdown(where.remaining);
  }
  const say = pacing?.prompt?.text ? fill(pacing.prompt.text, state, now, remaining) : "";
  $("say-line").textContent = say;
  const pushed = pacing?.pushed;
  const live = Boolean(pushed && (pushed.expires_at == null || pushed.expires_at > now));
  $("pushed-line").hidden = !live;
  if (live) $("pushed-line").textContent = fill(pushed.text, state, now, remaining);
  $("next-segment").textContent = where?.next ? `${t("hv_next")}: ${where.next.title}` : "";
  $("prompter").hidden = !(where || say || live);
}

/** The release on sale or next: its countdown (or price), units left and sold, large. */
function renderSale() {
  const now = socket.serverNow();
  const release = currentWave(state, now);
  const el = document.getElementById("host-sale");
  el.hidden = !release;
  if (!release) return;
  el.dataset.release = release.id;
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
