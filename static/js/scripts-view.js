// Script lines (话术): the library grouped by purpose, and the lines that fit a product.

import { t } from "./i18n.js";

const PURPOSES = ["welcome", "hold", "explain", "urgency", "coupon", "qa", "thanks"];

export function renderLibrary(el, lines) {
  const groups = PURPOSES.map((purpose) => {
    const mine = lines.filter((line) => line.purpose === purpose);
    if (!mine.length) return null;
    const section = document.createElement("section");
    const h3 = document.createElement("h3");
    h3.textContent = t(`purpose_${purpose}`);
    const ul = document.createElement("ul");
    for (const line of mine) ul.append(lineItem(line));
    section.append(h3, ul);
    return section;
  }).filter(Boolean);
  el.replaceChildren(...groups);
}

/** Lines to say about `product`: explain lines tied to its sku, then to its role. */
export function linesFor(lines, product) {
  if (!product) return [];
  const bySku = lines.filter((l) => l.purpose === "explain" && l.sku === product.sku);
  const byRole = lines.filter((l) => l.purpose === "explain" && !l.sku && l.product_role === product.role);
  return [...bySku, ...byRole];
}

export function lineItem(line) {
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
