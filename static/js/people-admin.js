// People on the admin page: stores, guides and distributors, and the portal link (a
// magic link with its token in the fragment) an admin sends each of them.

import { notice } from "./page-kit.js";
import { t } from "./i18n.js";
import { api, attempt, button, fillRows } from "./admin-kit.js";

const $ = (id) => document.getElementById(id);

export function renderPeople({ shops, guides, distributors }) {
  const shopName = new Map(shops.map((s) => [s.id, s.name]));
  const personName = new Map([...guides, ...distributors].map((p) => [p.id, p.name]));
  fillRows($("shops"), shops, (s) => [s.id, s.name, s.region ?? "", s.brand], (s) => s.id);
  fillRows($("guides"), guides, (g) => [g.id, g.name, shopName.get(g.shop) ?? g.shop, g.code, portalButton(g)], (g) => g.id);
  fillRows($("distributors"), distributors, (d) => [d.id, d.name, d.parent ? personName.get(d.parent) ?? d.parent : "–", d.code, portalButton(d)],
    (d) => d.id);
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
