// Lives on the admin page: every live with its status and staff links, a new live from
// the catalog (id, title, scheduled start, brand, store, video, lineup), copying one
// into next week's, and editing a catalog product's price and stock.

import { notice } from "./page-kit.js";
import { t } from "./i18n.js";
import { fenFromYuan, money } from "./format.js";
import { api, attempt, button, fillRows, options, token } from "./admin-kit.js";
import { lifeOfListed, lifeText } from "./life-view.js";

const $ = (id) => document.getElementById(id);
const form = $("live-form");
let catalog = [];
let picked = []; // skus of the new live's lineup, in order

export function renderLives(rooms, products, people) {
  catalog = products;
  $("rooms-empty").hidden = rooms.length > 0;
  $("rooms").replaceChildren(...[...rooms].reverse().map(liveItem));
  options(form.elements.brand, people.brands.map((b) => [b.id, b.name]).concat(people.brands.some((b) => b.id === "default") ? [] : [["default", "default"]]));
  options(form.elements.shop, [["", t("no_store")], ...people.shops.map((s) => [s.id, s.name])]);
  renderPicks();
  fillRows($("catalog"), products, (p) => [p.sku, p.title, money(p.price), t(`role_${p.role}`), p.stock, p.limit ?? "–",
    secondary(button(t("edit"), () => editProduct(p), { edit: p.sku }))], (p) => p.sku);
}

function liveItem(room) {
  const li = document.createElement("li");
  li.dataset.room = room.id;
  li.dataset.status = room.status;
  const head = document.createElement("div");
  const title = document.createElement("strong");
  title.textContent = room.title;
  const status = document.createElement("span");
  status.className = `badge life-${room.status}`;
  status.textContent = t(`status_live_${room.status}`);
  const times = document.createElement("span");
  times.className = "meta";
  times.textContent = `${room.id} · ${lifeText(lifeOfListed(room))}`;
  head.append(title, " ", status, " ", times);
  const links = document.createElement("div");
  links.className = "live-links";
  for (const [page, label] of [["control", "control_panel"], ["host", "host_view"], ["watch", "overlay"], ["review", "review"]]) {
    const a = document.createElement("a");
    const path = page === "review" ? `/rooms/${room.id}/review` : `/${page}/${room.id}`;
    a.href = page === "watch" ? path : `${path}#token=${encodeURIComponent(token)}`;
    a.textContent = t(label);
    a.target = "_blank";
    a.rel = "noopener";
    links.append(a);
  }
  links.append(secondary(button(t("copy_live"), () => startCopy(room), { copy: room.id })));
  li.append(head, links);
  return li;
}

function secondary(b) {
  b.classList.add("secondary", "small");
  return b;
}

// --- a new live, or a copy --------------------------------------------------------------

function renderPicks() {
  const query = $("pick-search").value.trim().toLowerCase();
  const words = query.split(/\s+/).filter(Boolean);
  const shown = catalog.filter((p) => picked.includes(p.sku) || words.every((w) => `${p.sku} ${p.title}`.toLowerCase().includes(w)));
  shown.sort((a, b) => order(a) - order(b));
  $("pick-list").replaceChildren(...shown.map((p) => {
    const li = document.createElement("li");
    const label = document.createElement("label");
    label.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = p.sku;
    box.checked = picked.includes(p.sku);
    box.addEventListener("change", () => {
      picked = box.checked ? [...picked, p.sku] : picked.filter((sku) => sku !== p.sku);
      renderPicks();
    });
    const at = picked.indexOf(p.sku);
    label.append(box, ` ${at >= 0 ? `${at + 1}. ` : ""}${p.title} `);
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = `${p.sku} · ${money(p.price)} · ${t("stock_units", { n: p.stock })}`;
    label.append(meta);
    li.append(label);
    return li;
  }));
  $("pick-count").textContent = t("picked_n", { n: picked.length });
}

function order(product) {
  const at = picked.indexOf(product.sku);
  return at >= 0 ? at : picked.length + catalog.indexOf(product);
}

$("pick-search").addEventListener("input", renderPicks);

function startCopy(room) {
  form.elements.copy_of.value = room.id;
  form.elements.id.value = "";
  form.elements.title.value = room.title;
  form.elements.scheduled_at.value = room.scheduled_at ? localInput(room.scheduled_at + 7 * 86_400_000) : "";
  $("live-form-title").textContent = t("copy_live_title", { title: room.title });
  $("copy-hint").textContent = t("copy_live_hint");
  $("copy-hint").hidden = false;
  $("live-form-reset").hidden = false;
  for (const el of form.querySelectorAll(".not-copy")) el.hidden = true;
  form.querySelector("button[type=submit]").textContent = t("copy_live");
  form.elements.id.focus();
}

function resetForm() {
  form.reset();
  picked = [];
  form.elements.copy_of.value = "";
  $("live-form-title").textContent = t("new_live");
  $("copy-hint").hidden = true;
  $("live-form-reset").hidden = true;
  for (const el of form.querySelectorAll(".not-copy")) el.hidden = false;
  form.querySelector("button[type=submit]").textContent = t("create_live");
  renderPicks();
}

$("live-form-reset").addEventListener("click", resetForm);

/** The value of a datetime-local input for epoch ms, in the browser's zone. */
function localInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const f = form.elements;
  const start = f.scheduled_at.value ? new Date(f.scheduled_at.value).getTime() : null;
  const copyOf = f.copy_of.value;
  const body = { id: f.id.value.trim(), title: f.title.value.trim() };
  if (start !== null) body.scheduled_at = start;
  attempt(async () => {
    let live;
    if (copyOf) {
      live = await api(`/api/rooms/${encodeURIComponent(copyOf)}/copy`, { method: "POST", json: body });
      if (live.dropped_fires?.length) notice(t("copy_dropped_fires", { n: live.dropped_fires.length }));
    } else {
      Object.assign(body, { brand: f.brand.value || "default", lineup: picked });
      if (f.shop.value) body.shop = f.shop.value;
      if (f.video_url.value.trim()) body.video_url = f.video_url.value.trim();
      live = await api("/api/rooms", { method: "POST", json: body });
    }
    notice(t(copyOf ? "live_copied" : "live_created", { title: live.title, id: live.id }));
    resetForm();
  });
});

// --- a product's price and stock --------------------------------------------------------

function editProduct(product) {
  const edit = $("product-edit");
  edit.hidden = false;
  edit.elements.sku.value = product.sku;
  $("product-edit-title").textContent = `${product.title} (${product.sku})`;
  edit.elements.price.value = (product.price / 100).toString();
  edit.elements.list_price.value = product.list_price ? (product.list_price / 100).toString() : "";
  edit.elements.stock.value = product.stock;
  edit.elements.limit.value = product.limit ?? "";
  edit.elements.price.focus();
}

$("product-edit-cancel").addEventListener("click", () => ($("product-edit").hidden = true));

$("product-edit").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target.elements;
  const price = fenFromYuan(f.price.value);
  const listPrice = fenFromYuan(f.list_price.value);
  if (price === null || Number.isNaN(price) || Number.isNaN(listPrice)) return notice(t("error", { message: t("col_price") }));
  const body = { price, list_price: listPrice ?? 0, stock: Number(f.stock.value) };
  if (f.limit.value) body.limit = Number(f.limit.value);
  attempt(async () => {
    const product = await api(`/api/catalog/${encodeURIComponent(f.sku.value)}`, { method: "PUT", json: body });
    notice(t("product_saved", { title: product.title }));
    e.target.hidden = true;
  });
});
