// A brand's binding rules and commission rates, and the rule simulator: "who would win
// this order?" for touches typed in, decided by the server with the brand's rules.

import { notice } from "./page-kit.js";
import { t } from "./i18n.js";
import { api, attempt, button, options } from "./admin-kit.js";

const $ = (id) => document.getElementById(id);
const form = $("brand");
const KINDS = ["checkout_code", "link", "binding", "store_default"];
const ROLES = ["traffic", "hit", "regular", "margin"];
let brands = new Map();
let names = new Map();

export function renderRules(people, rooms, products) {
  brands = new Map(people.brands.map((b) => [b.id, b]));
  if (!brands.has("default")) brands.set("default", { id: "default", name: "Default", rules: {}, rates: [], after_sales_days: 7 });
  for (const s of people.shops) if (!brands.has(s.brand)) brands.set(s.brand, { id: s.brand, name: s.brand, rules: {}, rates: [], after_sales_days: 7 });
  names = new Map([...people.guides, ...people.distributors, ...people.shops].map((p) => [p.id, p.name]));
  options(form.elements.brand, [...brands.values()].map((b) => [b.id, b.name]));
  options($("simulate").elements.room, rooms.map((r) => [r.id, r.title]));
  const scopes = $("rate-scopes") ?? Object.assign(document.createElement("datalist"), { id: "rate-scopes" });
  scopes.replaceChildren(...["brand", ...ROLES.map((r) => `role:${r}`), ...products.map((p) => `sku:${p.sku}`)].map((value) => new Option(value, value)));
  form.append(scopes);
  const owners = $("touch-owners") ?? Object.assign(document.createElement("datalist"), { id: "touch-owners" });
  owners.replaceChildren(...[...names].map(([id, name]) => new Option(name, id)));
  $("simulate").append(owners);
  showBrand(brands.get(form.elements.brand.value));
  if (!$("touches").querySelector("tbody tr")) addTouch("link", "", 10);
}

function showBrand(brand) {
  const rules = { model: "last_click", click_window_days: 7, protect_days: 15, new_viewers_only: false, exclude_self: false, ...brand.rules };
  form.elements.model.value = rules.model;
  form.elements.click_window_days.value = rules.click_window_days;
  form.elements.protect_days.value = rules.protect_days;
  form.elements.after_sales_days.value = brand.after_sales_days ?? 7;
  form.elements.new_viewers_only.checked = rules.new_viewers_only;
  form.elements.exclude_self.checked = rules.exclude_self;
  $("rates").querySelector("tbody").replaceChildren(...brand.rates.map(rateRow));
}

function rateRow(rate = { scope: "brand", level: 1, bp: 0 }) {
  const tr = document.createElement("tr");
  tr.className = "rate";
  const scope = Object.assign(document.createElement("input"), { name: "scope", value: rate.scope, required: true });
  scope.setAttribute("list", "rate-scopes");
  const level = document.createElement("select");
  level.name = "level";
  options(level, [["1", t("level_1")], ["2", t("level_2")]], false);
  level.value = String(rate.level);
  const percent = Object.assign(document.createElement("input"), { name: "percent", type: "number", min: 0, max: 100, step: 0.01, required: true });
  percent.value = rate.bp / 100;
  for (const node of [scope, level, percent, button(t("remove"), () => tr.remove())]) {
    const td = document.createElement("td");
    td.append(node);
    tr.append(td);
  }
  return tr;
}

function addTouch(kind = "link", owner = "", minutes = 0) {
  const tr = document.createElement("tr");
  tr.className = "touch";
  const select = document.createElement("select");
  select.name = "kind";
  options(select, KINDS.map((k) => [k, t(`touch_${k}`)]), false);
  select.value = kind;
  const who = Object.assign(document.createElement("input"), { name: "owner", value: owner, required: true, maxLength: 64 });
  who.setAttribute("list", "touch-owners");
  const ago = Object.assign(document.createElement("input"), { name: "minutes_ago", type: "number", min: 0, step: "any", value: minutes });
  for (const node of [select, who, ago, button(t("remove"), () => tr.remove())]) {
    const td = document.createElement("td");
    td.append(node);
    tr.append(td);
  }
  $("touches").querySelector("tbody").append(tr);
}

form.elements.brand.addEventListener("change", () => showBrand(brands.get(form.elements.brand.value)));
$("add-rate").addEventListener("click", () => $("rates").querySelector("tbody").append(rateRow()));
$("add-touch").addEventListener("click", () => addTouch());

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const id = form.elements.brand.value;
  const brand = {
    id,
    name: brands.get(id).name,
    after_sales_days: Number(form.elements.after_sales_days.value),
    rules: {
      model: form.elements.model.value,
      click_window_days: Number(form.elements.click_window_days.value),
      protect_days: Number(form.elements.protect_days.value),
      new_viewers_only: form.elements.new_viewers_only.checked,
      exclude_self: form.elements.exclude_self.checked,
    },
    rates: [...$("rates").querySelectorAll("tr.rate")].map((tr) => ({
      scope: tr.querySelector("[name=scope]").value.trim(),
      level: Number(tr.querySelector("[name=level]").value),
      bp: Math.round(Number(tr.querySelector("[name=percent]").value) * 100),
    })),
  };
  attempt(async () => {
    brands.set(id, await api(`/api/brands/${encodeURIComponent(id)}`, { method: "PUT", json: brand }));
    notice(t("saved"));
  });
});

$("simulate").addEventListener("submit", (e) => {
  e.preventDefault();
  const touches = [...$("touches").querySelectorAll("tr.touch")].map((tr) => ({
    kind: tr.querySelector("[name=kind]").value,
    owner: tr.querySelector("[name=owner]").value.trim(),
    minutes_ago: Number(tr.querySelector("[name=minutes_ago]").value) || 0,
  }));
  attempt(async () => {
    const receipt = await api("/api/simulate", { method: "POST", json: { room: e.target.elements.room.value, brand: form.elements.brand.value, touches } });
    showReceipt(receipt);
  });
});

function describe(touch) {
  return `${t(`touch_${touch.kind}`)} · ${names.get(touch.owner) ?? touch.owner}`;
}

function showReceipt(receipt) {
  $("verdict").hidden = false;
  $("verdict-winner").textContent = receipt.winner ? t("winner_is", { who: describe(receipt.winner) }) : t("nobody_wins");
  $("verdict-rule").textContent = receipt.rule;
  $("verdict-touches").replaceChildren(
    ...receipt.touches.map((touch) => {
      const li = document.createElement("li");
      li.dataset.verdict = touch.verdict === "won" ? "won" : "lost";
      li.textContent = `${describe(touch)}: ${touch.verdict}`;
      return li;
    }),
  );
}
