// People on the admin page: stores, guides and distributors, and the portal link (a
// magic link with its token in the fragment) an admin sends each of them.

import { notice } from "./page-kit.js";
import { t } from "./i18n.js";
import { api, attempt, button, fillRows, options } from "./admin-kit.js";

const $ = (id) => document.getElementById(id);

export function renderPeople({ shops, guides, distributors }) {
  const personName = new Map([...guides, ...distributors].map((p) => [p.id, p.name]));
  fillRows($("shops"), shops, (s) => [s.id, s.name, s.region ?? "", s.brand], (s) => s.id);
  fillRows($("guides"), guides, (g) => [g.id, g.name, storeSelect(g, shops), g.code, portalButton(g)], (g) => g.id);
  fillRows($("distributors"), distributors, (d) => [d.id, d.name, d.parent ? personName.get(d.parent) ?? d.parent : "–", d.code, portalButton(d)],
    (d) => d.id);
}

/** Moving a guide to another store: their orders so far keep the store they had. */
function storeSelect(guide, shops) {
  const select = document.createElement("select");
  select.name = "shop";
  options(select, shops.map((s) => [s.id, s.name]), false);
  select.value = guide.shop;
  select.addEventListener("change", () => attempt(async () => {
    const moved = { ...guide, shop: select.value };
    try {
      await api("/api/people/import?format=json", { method: "POST", json: { guides: [moved] } });
    } catch (error) {
      select.value = guide.shop;
      throw error;
    }
    guide.shop = moved.shop;
    notice(t("guide_moved", { name: guide.name, shop: select.selectedOptions[0].textContent }));
  }));
  return select;
}

function portalButton(person) {
  return button(t("portal_link"), () => attempt(async () => {
    const { url } = await api(`/api/people/${encodeURIComponent(person.id)}/portal`, { method: "POST" });
    $("portal-for").textContent = t("portal_link_for", { name: person.name });
    $("portal-url").value = url;
    $("portal-share").hidden = false;
  }), { person: person.id });
}

document.addEventListener("click", async (e) => {
  const source = e.target.closest("button[data-copy-from]");
  if (!source) return;
  const input = document.getElementById(source.dataset.copyFrom);
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
  }
  notice(t("copied"));
});
