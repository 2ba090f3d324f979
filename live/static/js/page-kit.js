// What every page does: connect, show the connection state and the server clock.

import { LiveSocket } from "./live-socket.js";
import { page, refusal, t } from "./i18n.js";
import { clock, money } from "./format.js";

/** The staff token: taken from the URL fragment once, then kept for this tab only. */
export function staffToken() {
  const key = `live.token.${location.pathname}`;
  const match = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(key, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(key);
}

export function connect({ token = null } = {}) {
  const socket = new LiveSocket({ path: page.ws, token, heartbeatMs: page.heartbeat_ms });
  const badge = document.getElementById("conn");
  let lastError = null;
  socket.addEventListener("state", (e) => {
    if (e.detail.state === "denied") notice(lastError ?? t("state_denied"), { sticky: true });
    if (!badge) return;
    badge.dataset.state = e.detail.state;
    badge.textContent = t(`state_${e.detail.state}`);
  });
  socket.addEventListener("message", (e) => {
    if (e.detail.type !== "error") return;
    lastError = t("error", { message: refusal(e.detail) });
    notice(lastError);
  });
  const clockEl = document.getElementById("clock");
  if (clockEl) setInterval(() => (clockEl.textContent = clock(socket.serverNow())), 250);
  return socket;
}

/**
 * JSON from an API that takes the staff token as a Bearer header. `json` is sent as the
 * body. A refusal throws an Error saying what the server said, with its body as `body`
 * (`{code, message, path}`, or an import's `{imported, errors}`).
 */
export async function fetchJson(path, token, { json, headers = {}, ...options } = {}) {
  const sent = { Authorization: `Bearer ${token}`, ...headers };
  if (json !== undefined) {
    options.body = JSON.stringify(json);
    sent["Content-Type"] = "application/json";
  }
  const response = await fetch(path, { ...options, headers: sent });
  const body = await response.json();
  if (!response.ok) throw refused(response, body);
  return body;
}

function refused(response, body) {
  const message = body.code ? refusal(body) : body.errors?.map((e) => e.message).join("; ") ?? response.statusText;
  return Object.assign(new Error(message), { body, status: response.status });
}

/**
 * Save what an API answers as a file: the token never goes in a URL, so fetch, then
 * save the bytes as they came (a CSV's byte order mark included, which Excel needs).
 * The browser's time zone goes along, so an export's times are the ones the page shows.
 */
export async function download(path, token, filename) {
  const url = new URL(path, location.href);
  url.searchParams.set("tz", Intl.DateTimeFormat().resolvedOptions().timeZone);
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) throw refused(response, await response.json().catch(() => ({})));
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await response.blob());
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** Show a notice; it fades after 6 s unless `sticky` (a page that cannot work). */
export function notice(text, { sticky = false } = {}) {
  const el = document.getElementById("notice");
  if (!el) return;
  el.textContent = text;
  el.hidden = false;
  clearTimeout(notice.timer);
  if (sticky) el.dataset.sticky = "true";
  if (el.dataset.sticky !== "true") notice.timer = setTimeout(() => (el.hidden = true), 6000);
}

/** Show a product (or nothing) in elements with ids prefix-image, -title, -price, -list-price. */
export function showProduct(prefix, product, emptyText = "") {
  const image = document.getElementById(`${prefix}-image`);
  const title = document.getElementById(`${prefix}-title`);
  const price = document.getElementById(`${prefix}-price`);
  const listPrice = document.getElementById(`${prefix}-list-price`);
  title.textContent = product ? product.title : emptyText;
  price.textContent = product ? money(product.price) : "";
  listPrice.textContent = product && product.list_price ? money(product.list_price) : "";
  if (product && product.image) {
    image.src = product.image;
    image.hidden = false;
  } else {
    image.removeAttribute("src");
    image.hidden = true;
  }
}

/**
 * A button that asks before it acts, in the page rather than in a browser dialog: the
 * first click arms it (its text becomes `data-confirm`, or `confirmText`), a second
 * within 5 s runs `action`; otherwise it disarms.
 */
export function armed(button, action, confirmText = button.dataset.confirm) {
  if (button.dataset.armed === "true") {
    clearTimeout(button.armTimer);
    disarm(button);
    action();
    return;
  }
  button.dataset.label = button.textContent;
  button.dataset.armed = "true";
  button.textContent = confirmText;
  button.armTimer = setTimeout(() => disarm(button), 5000);
}

function disarm(button) {
  button.dataset.armed = "false";
  if (button.dataset.label) button.textContent = button.dataset.label;
}
