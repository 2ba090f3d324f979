// Viewer overlay: a transparent layer over any player. Pinned product, online count,
// likes (taps batched into one message every 400 ms), and the video beneath if given.

import { connect, showProduct } from "./page-kit.js";
import { apply, createRoomState, lifeOf } from "./room-state.js";
import { count, countdown } from "./format.js";
import { lifeText } from "./life-view.js";
import { t } from "./i18n.js";
import { Shop } from "./sale.js";

const state = createRoomState();
const socket = connect();
const shop = new Shop(socket, state);
const card = document.getElementById("pinned");
// A guide's product link lands here with ?product=SKU: that product shows until the host pins one.
const invitedSku = new URLSearchParams(location.search).get("product");
let pendingLikes = 0; // taps not sent yet
let shownLikes = 0; // likes only grow: the count shown never goes back

socket.addEventListener("message", (e) => {
  const message = e.detail;
  const changed = apply(state, message);
  shop.onMessage(message);
  if (changed) render(message);
});
socket.start();

// A banner from the controller, until its expiry (on the server's clock).
setInterval(renderBanner, 250);
setInterval(renderLife, 1000);

/** Before the live: when it starts (and in how long); after it: that it ended. */
function renderLife() {
  if (!state.room) return;
  const life = lifeOf(state);
  const pill = document.getElementById("life");
  pill.hidden = life.status === "live";
  if (life.status === "scheduled") {
    const left = life.at ? life.at - socket.serverNow() : 0;
    pill.textContent = left > 0 ? `${lifeText(life)} · ${t("starts_in", { countdown: countdown(left) })}` : t("starting_soon");
  } else pill.textContent = lifeText(life);
  pill.dataset.status = life.status;
  document.getElementById("ended").hidden = life.status !== "ended";
  document.body.dataset.life = life.status;
}

function renderBanner() {
  const banner = state.banner;
  const el = document.getElementById("banner");
  const live = Boolean(banner && banner.expires_at > socket.serverNow());
  el.hidden = !live;
  if (live) el.textContent = banner.text;
}

function render(message) {
  if (message.type === "banner" || message.type === "snapshot") renderBanner();
  if (message.type === "live" || message.type === "snapshot") renderLife();
  document.getElementById("online").textContent = count(state.online);
  showLikes();
  const hadProduct = !card.hidden;
  const invited = state.product ? null : state.lineup.find((p) => p.sku === invitedSku) ?? null;
  const shown = lifeOf(state).status === "ended" ? null : state.product ?? invited;
  card.hidden = !shown;
  card.dataset.invited = String(Boolean(invited));
  document.getElementById("pinned-badge").textContent = t(invited ? "shared_with_you" : "now_explaining");
  showProduct("pinned", shown);
  if (message.type === "pinned" && state.product) {
    card.classList.remove("flash");
    void card.offsetWidth; // restart the animation
    card.classList.add("flash");
  }
  if (!hadProduct && shown) card.classList.add("enter");
}

document.getElementById("like").addEventListener("click", () => {
  pendingLikes += 1;
  showLikes();
  floatHeart();
});

setInterval(() => {
  if (pendingLikes > 0 && socket.send({ type: "like", n: Math.min(pendingLikes, 100) })) pendingLikes = 0;
}, 400);

function showLikes() {
  shownLikes = Math.max(shownLikes, state.likes + pendingLikes);
  document.getElementById("likes").textContent = count(shownLikes);
}

function floatHeart() {
  const heart = document.createElement("span");
  heart.className = "heart";
  heart.textContent = "❤";
  heart.style.setProperty("--drift", `${Math.round(Math.random() * 40 - 20)}px`);
  document.getElementById("hearts").append(heart);
  setTimeout(() => heart.remove(), 1600);
}

const video = document.getElementById("video");
if (video) startVideo(video, video.dataset.src);

async function startVideo(el, src) {
  const isHls = /\.m3u8(\?|$)/i.test(src);
  if (!isHls || el.canPlayType("application/vnd.apple.mpegurl")) {
    el.src = src;
  } else {
    const { default: Hls } = await import("/static/vendor/hls/hls.light.min.mjs");
    if (!Hls.isSupported()) return;
    const hls = new Hls();
    hls.loadSource(src);
    hls.attachMedia(el);
  }
  el.play().catch(() => {});
}
