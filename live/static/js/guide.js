// Guide portal: my links (QR code, poster, copy), my numbers per live, my commission by
// state, my funnel factor by factor, and the customers I brought who did not buy yet.
// Everything comes from /api/guide/me, which answers with my own data only.

import { fetchJson, notice, staffToken } from "./page-kit.js";
import { t } from "./i18n.js";
import { clock, count, dwell, money } from "./format.js";
import { lifeOfListed, lifeText } from "./life-view.js";

const $ = (id) => document.getElementById(id);
const token = staffToken();
const REFRESH_MS = 2000;

const api = (path, options) => fetchJson(path, token, options);

async function refresh() {
  try {
    render(await api("/api/guide/me"));
  } catch (error) {
    notice(t("error", { message: error.message }), { sticky: true });
  }
}

function render(me) {
  $("me").textContent = me.shop_name ? `${me.name} · ${me.shop_name}` : me.name;
  $("my-code").textContent = t("my_code", { code: me.code });
  for (const el of document.querySelectorAll("[data-commission]")) el.textContent = money(me.commission[el.dataset.commission]);
  renderFunnel(me.funnel);
  renderLives(me.lives);
  renderFollowUps(me.follow_ups, new Map(me.lives.map((l) => [l.room, l.title])));
}

function renderFunnel(f) {
  const pct = (x) => `${(x * 100).toFixed(1)}%`;
  const steps = [
    [t("reachable_customers"), count(f.reachable)],
    ["×", ""],
    [t("delivery_rate"), pct(f.delivery_rate)],
    ["×", ""],
    [t("scene_conversion"), pct(f.conversion)],
    ["×", ""],
    [t("aov"), money(f.aov)],
    ["=", ""],
    [t("gmv"), money(f.gmv)],
  ];
  $("funnel").replaceChildren(
    ...steps.map(([label, value]) => {
      const div = document.createElement("div");
      div.className = value ? "factor" : "op";
      const b = document.createElement("b");
      b.textContent = value || label;
      div.append(b);
      if (value) {
        const span = document.createElement("span");
        span.textContent = label;
        div.append(span);
      }
      return div;
    }),
  );
  const input = document.querySelector("#reach input");
  if (document.activeElement !== input) input.value = f.reachable;
}

// Cards are updated in place: a refresh must not reload the QR images or take away the
// link a guide is selecting.
function renderLives(lives) {
  const cards = lives.map((l) => {
    const li = document.querySelector(`#lives li.live-card[data-room="${CSS.escape(l.room)}"]`) ?? newCard(l);
    li.querySelector("h3").textContent = `${l.title} · ${lifeText(lifeOfListed(l))}`;
    const values = { clicks: count(l.clicks), brought: count(l.viewers), watching_now: count(l.watching),
      avg_dwell: dwell(l.avg_dwell_s, t), orders: count(l.orders), gmv: money(l.gmv) };
    for (const dd of li.querySelectorAll("dd[data-number]")) dd.textContent = values[dd.dataset.number];
    const codes = l.links.map((link) => link.code).join(" ");
    if (li.dataset.codes !== codes) {
      li.dataset.codes = codes;
      li.querySelector(".links").replaceChildren(...l.links.map((link) => linkRow(link, l.products)));
    }
    const select = li.querySelector("select[name=sku]");
    const linked = new Set(l.links.map((link) => link.sku));
    const choices = Object.entries(l.products).filter(([sku]) => !linked.has(sku));
    if (select.dataset.choices !== choices.map(([sku]) => sku).join(" ")) {
      select.dataset.choices = choices.map(([sku]) => sku).join(" ");
      select.replaceChildren(...choices.map(([sku, title]) => new Option(title, sku)));
    }
    li.querySelector("form.product-link").hidden = choices.length === 0;
    return li;
  });
  $("lives").replaceChildren(...cards);
}

function newCard(l) {
  const li = document.createElement("li");
  li.className = "live-card";
  li.dataset.room = l.room;
  const numbers = document.createElement("dl");
  numbers.className = "cards small";
  for (const key of ["clicks", "brought", "watching_now", "avg_dwell", "orders", "gmv"]) {
    const card = document.createElement("div");
    card.className = "card";
    const dt = document.createElement("dt");
    dt.textContent = t(key);
    const dd = document.createElement("dd");
    dd.dataset.number = key;
    card.append(dt, dd);
    numbers.append(card);
  }
  const links = document.createElement("div");
  links.className = "links";
  const form = document.createElement("form");
  form.className = "product-link form-grid";
  const label = document.createElement("label");
  label.textContent = t("link_for_product");
  const select = document.createElement("select");
  select.name = "sku";
  label.append(select);
  const make = document.createElement("button");
  make.type = "submit";
  make.textContent = t("make_link");
  form.append(label, make);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("/api/guide/me/links", { method: "POST", json: { room: l.room, sku: select.value } });
      refresh();
    } catch (error) {
      notice(t("error", { message: error.message }));
    }
  });
  li.append(document.createElement("h3"), numbers, links, form);
  return li;
}

function linkRow(link, products = {}) {
  const url = `${location.origin}/r/${link.code}`;
  const row = document.createElement("div");
  row.className = "share-row";
  const img = document.createElement("img");
  img.className = "qr";
  img.alt = "QR";
  img.src = `/r/${link.code}.svg`;
  const text = document.createElement("div");
  text.className = "share-text";
  const label = document.createElement("strong");
  label.textContent = link.sku ? t("product_link", { sku: products[link.sku] ?? link.sku }) : t("your_link");
  const input = document.createElement("input");
  input.readOnly = true;
  input.value = url;
  input.className = "share-link";
  const copy = document.createElement("button");
  copy.type = "button";
  copy.dataset.copy = url;
  copy.textContent = t("copy");
  const poster = document.createElement("a");
  poster.href = `/r/${link.code}/poster.svg`;
  poster.target = "_blank";
  poster.rel = "noopener";
  poster.textContent = t("poster");
  // WeChat chats and photo albums take no SVG: the same poster as an image to save and send.
  const posterPng = document.createElement("a");
  posterPng.href = `/r/${link.code}/poster.png`;
  posterPng.download = `poster-${link.code}.png`;
  posterPng.textContent = t("poster_png");
  const png = document.createElement("a");
  png.href = `/r/${link.code}.png`;
  png.download = `${link.code}.png`;
  png.textContent = t("qr_png");
  const links = document.createElement("span");
  links.className = "meta";
  links.append(poster, " · ", posterPng, " · ", png);
  text.append(label, input, copy, links);
  row.append(img, text);
  return row;
}

function renderFollowUps(items, titles) {
  $("follow-ups").querySelector("tbody").replaceChildren(
    ...items.map((f) => {
      const tr = document.createElement("tr");
      tr.dataset.viewer = f.viewer;
      for (const value of [f.viewer.slice(-8), titles.get(f.room) ?? f.room, dwell(f.watched_s, t), f.last_title ?? "—",
        f.watching ? t("watching_now") : clock(f.last_seen)]) {
        const td = document.createElement("td");
        td.textContent = value;
        tr.append(td);
      }
      return tr;
    }),
  );
  $("follow-ups-empty").hidden = items.length > 0;
}

document.addEventListener("click", async (e) => {
  const button = e.target.closest("button[data-copy]");
  if (!button) return;
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
  } catch {
    button.previousElementSibling?.select();
  }
  notice(t("copied"));
});

$("reach").addEventListener("submit", async (e) => {
  e.preventDefault();
  await api("/api/guide/me/reach", { method: "POST", json: { reach: Number(e.target.elements.reach.value) || 0 } });
  refresh();
});

if (!token) notice(t("needs_token", { role: "guide", room: "*" }), { sticky: true });
else {
  api("/api/guide/me/device", { method: "POST" }).catch(() => {});
  refresh();
  setInterval(refresh, REFRESH_MS);
}
