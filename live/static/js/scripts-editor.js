// The script library on the control panel: bulk paste (one line per row), the lines by
// purpose with push-to-host and delete, and import/export as CSV or JSON.

import { t } from "./i18n.js";
import { download, fetchJson } from "./page-kit.js";

const PURPOSES = ["welcome", "hold", "explain", "urgency", "coupon", "qa", "thanks"];
const ROLES = ["traffic", "hit", "regular", "margin"];

export function fillProductChoices(select, lineup) {
  const current = select.value;
  const options = [["", t("any_product")], ...ROLES.map((r) => [`role:${r}`, t("role_option", { role: t(`role_${r}`) })]), ...lineup.map((p) => [`sku:${p.sku}`, p.title])];
  select.replaceChildren(...options.map(([v, label]) => new Option(label, v)));
  if (options.some(([v]) => v === current)) select.value = current;
}

/** The add_script_lines message of the paste form: one line per non-empty row. */
export function linesFromPaste(form) {
  const f = form.elements;
  const [kind, value] = f.product.value.split(":");
  const rows = f.lines.value.split("\n").map((row) => row.trim()).filter(Boolean);
  const lines = rows.map((text) => {
    const line = { purpose: f.purpose.value, tier: f.tier.value, text: text.slice(0, 500) };
    if (kind === "sku") line.sku = value;
    if (kind === "role") line.product_role = value;
    return line;
  });
  return lines.length ? { type: "add_script_lines", lines } : null;
}

export function renderLibrary(el, lines) {
  const groups = PURPOSES.map((purpose) => {
    const mine = lines.filter((line) => line.purpose === purpose);
    if (!mine.length) return null;
    const section = document.createElement("section");
    const h3 = document.createElement("h3");
    h3.textContent = t(`purpose_${purpose}`);
    const ul = document.createElement("ul");
    for (const line of mine) {
      const li = lineItem(line);
      if (line.sku || line.product_role) {
        const tag = document.createElement("span");
        tag.className = "badge";
        tag.textContent = line.sku ?? t(`role_${line.product_role}`);
        li.append(" ", tag);
      }
      for (const [action, icon, label] of [["push", "▶", "push_to_host"], ["banner", "▭", "push_banner"], ["delete", "✕", "delete"]]) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = `secondary small line-${action}`;
        b.dataset[action] = line.id;
        b.textContent = `${icon} ${t(label)}`;
        if (action === "delete") b.dataset.confirm = t("delete_line_confirm");
        li.append(" ", b);
      }
      ul.append(li);
    }
    section.append(h3, ul);
    return section;
  }).filter(Boolean);
  el.replaceChildren(...groups);
}

export async function exportLines(room, token, format) {
  const path = `/api/rooms/${encodeURIComponent(room)}/scripts`;
  if (format === "csv") return download(`${path}?format=csv`, token, `${room}-scripts.csv`);
  const blob = new Blob([JSON.stringify(await fetchJson(`${path}?format=json`, token), null, 2)]);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${room}-scripts.json`;
  a.click();
  URL.revokeObjectURL(a.href);
}

/** Send the chosen file's bytes: the server reads UTF-8 (with or without BOM) or GBK. */
export async function importLines(room, token, file) {
  const format = file.name.toLowerCase().endsWith(".json") ? "json" : "csv";
  await fetchJson(`/api/rooms/${encodeURIComponent(room)}/scripts?format=${format}`, token, { method: "POST", body: file });
}

function lineItem(line) {
  const li = document.createElement("li");
  li.dataset.line = line.id;
  const text = document.createElement("span");
  text.textContent = line.text;
  li.append(text);
  if (line.tier !== "any") {
    const tier = document.createElement("span");
    tier.className = `badge tier-${line.tier}`;
    tier.textContent = t(`tier_${line.tier}`);
    li.append(" ", tier);
  }
  return li;
}

/** A library line as banner text: one variant picked, placeholders filled now. */
export function bannerText(line, fillNow) {
  const picked = line.text.replace(/\{([^{}]*\/[^{}]*)\}/g, (_, choices) => {
    const options = choices.split("/");
    return options[Math.floor(Math.random() * options.length)].trim();
  });
  return fillNow(picked).slice(0, 120);
}
