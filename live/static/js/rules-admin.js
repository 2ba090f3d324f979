// A brand's binding rules and commission rates, and the rule simulator: a viewer's
// timeline typed in (clicks, orders with the guide code typed at checkout, refunds),
// which the server replays with the brand's rules as the product would, answering each
// order's receipt.

import { notice } from "./page-kit.js";
import { t } from "./i18n.js";
import { api, attempt, button, options } from "./admin-kit.js";
import { ruleText, touchLabel, verdictText } from "./receipts.js";

const $ = (id) => document.getElementById(id);
const form = $("brand");
const STEPS = ["click", "order", "refund"];
const DAY_MS = 86_400_000;
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
  if (!$("timeline").querySelector("tbody tr")) example([...people.guides, ...people.distributors].map((p) => p.id));
}

/** Issue 18's case: a purchase through one person, another's click the next day, two
 * repeat purchases. */
function example([one = "", other = ""]) {
  addStep("click", one, 1, "10:00:00");
  addStep("order", "", 1, "10:05:00");
  addStep("click", other, 2, "10:00:00");
  addStep("order", "", 3, "10:00:00");
  addStep("order", "", 4, "10:00:00");
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

function cell(...nodes) {
  const td = document.createElement("td");
  td.append(...nodes);
  return td;
}

function addStep(kind = "click", who = "", day = 1, time = "10:00:00") {
  const tr = document.createElement("tr");
  tr.className = "step";
  const select = document.createElement("select");
  select.name = "kind";
  options(select, STEPS.map((k) => [k, t(`step_${k}`)]), false);
  select.value = kind;
  const dayInput = Object.assign(document.createElement("input"), { name: "day", type: "number", min: 1, max: 365, step: 1, value: day, required: true });
  const timeInput = Object.assign(document.createElement("input"), { name: "time", type: "time", step: 1, value: time, required: true });
  const whoCell = cell();
  tr.append(cell(), cell(dayInput), cell(timeInput), cell(select), whoCell, cell(button(t("remove"), () => { tr.remove(); numberOrders(); })));
  select.addEventListener("change", () => { fillWho(tr, ""); numberOrders(); });
  $("timeline").querySelector("tbody").append(tr);
  fillWho(tr, who);
  numberOrders();
}

/** The step's "who": whose link (a click), whose code was typed (an order, optional),
 * which order (a refund). */
function fillWho(tr, who) {
  const kind = tr.querySelector("[name=kind]").value;
  let node;
  if (kind === "refund") {
    node = document.createElement("select");
    node.name = "order";
  } else {
    node = Object.assign(document.createElement("input"), { name: "who", value: who, maxLength: 64, required: kind === "click" });
    node.placeholder = t(kind === "click" ? "step_whose_link" : "step_code_typed");
    node.setAttribute("list", "touch-owners");
  }
  tr.children[4].replaceChildren(node);
}

/** Orders are #1, #2... in the order of the list (as the server names them); each
 * refund chooses among them. */
function numberOrders() {
  const rows = [...$("timeline").querySelectorAll("tr.step")];
  const ids = [];
  for (const tr of rows) {
    const order = tr.querySelector("[name=kind]").value === "order";
    if (order) ids.push(`#${ids.length + 1}`);
    tr.children[0].textContent = order ? ids[ids.length - 1] : "";
    delete tr.dataset.uncounted;
    tr.querySelector(".uncounted")?.remove();
  }
  for (const select of $("timeline").querySelectorAll("select[name=order]")) options(select, ids.map((id) => [id, id]));
}

/** Epoch ms of a step: day 1 is today, in the browser's time zone. */
function timeOf(tr, start) {
  const [h, m, s = 0] = tr.querySelector("[name=time]").value.split(":").map(Number);
  return start + (Number(tr.querySelector("[name=day]").value) - 1) * DAY_MS + ((h * 60 + m) * 60 + s) * 1000;
}

function when(at, start) {
  const day = Math.floor((at - start) / DAY_MS) + 1;
  const d = new Date(at);
  const time = [d.getHours(), d.getMinutes(), d.getSeconds()].map((v) => String(v).padStart(2, "0")).join(":");
  return t("step_when", { day, time });
}

form.elements.brand.addEventListener("change", () => showBrand(brands.get(form.elements.brand.value)));
$("add-rate").addEventListener("click", () => $("rates").querySelector("tbody").append(rateRow()));
$("add-step").addEventListener("click", () => addStep());

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
  const start = new Date().setHours(0, 0, 0, 0);
  const rows = [...$("timeline").querySelectorAll("tr.step")];
  const timeline = rows.map((tr) => {
    const step = { kind: tr.querySelector("[name=kind]").value, at: timeOf(tr, start) };
    const who = tr.querySelector("[name=who]")?.value.trim();
    if (step.kind === "click") step.owner = who;
    if (step.kind === "order" && who) step.code = who;
    if (step.kind === "refund") step.order = tr.querySelector("[name=order]").value;
    return step;
  });
  attempt(async () => {
    const answer = await api("/api/simulate", { method: "POST", json: { room: e.target.elements.room.value, brand: form.elements.brand.value, timeline } });
    numberOrders();
    for (const i of answer.uncounted) {
      rows[i].dataset.uncounted = "";
      rows[i].children[4].append(Object.assign(document.createElement("small"), { className: "uncounted", textContent: t("step_not_counted") }));
    }
    showReceipts(answer.orders, start);
  });
});

function showReceipts(orders, start) {
  $("verdict").hidden = false;
  $("receipts").replaceChildren(
    ...orders.map((order) => {
      const li = document.createElement("li");
      li.className = "receipt";
      li.dataset.order = order.id;
      const { receipt } = order;
      const head = document.createElement("strong");
      head.className = "receipt-winner";
      const winner = receipt.winner ? t("winner_is", { who: touchLabel(receipt.winner, names) }) : t("nobody_wins");
      head.textContent = `${order.id} · ${when(order.at, start)} — ${winner}`;
      const rule = Object.assign(document.createElement("p"), { className: "hint-dark receipt-rule", textContent: ruleText(receipt, names) });
      const touches = document.createElement("ul");
      touches.className = "receipt-touches";
      touches.replaceChildren(
        ...receipt.touches.map((touch) => {
          const item = document.createElement("li");
          item.dataset.verdict = touch.verdict_code === "won" ? "won" : "lost";
          item.textContent = `${touchLabel(touch, names)} (${when(touch.at, start)}): ${verdictText(touch, names)}`;
          return item;
        }),
      );
      li.append(head, rule, touches);
      return li;
    }),
  );
}
