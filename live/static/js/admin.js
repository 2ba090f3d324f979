// Admin page: lives (with staff links; new ones, copies) and the catalog, people and their portal links,
// revoking a staff token by its id,
// a brand's binding rules and commission rates with the rule simulator, and the
// commission ledger. Each part is its own module; this one loads what they share.

import { notice } from "./page-kit.js";
import { t } from "./i18n.js";
import { api, attempt, showImport, token, upload } from "./admin-kit.js";
import { renderLives } from "./lives-admin.js";
import { renderPeople } from "./people-admin.js";
import { renderRules } from "./rules-admin.js";
import { loadLedger } from "./ledger-admin.js";

const $ = (id) => document.getElementById(id);

export async function load() {
  try {
    const [rooms, products, people] = await Promise.all([api("/api/rooms"), api("/api/catalog"), api("/api/people")]);
    renderLives(rooms, products, people);
    renderPeople(people);
    renderRules(people, rooms, products);
    await loadLedger(people, rooms);
  } catch (error) {
    notice(t("error", { message: error.message }), { sticky: true });
  }
}

/** The lives and the catalog again, after a change made on this page. */
async function reloadLives() {
  const [rooms, products, people] = await Promise.all([api("/api/rooms"), api("/api/catalog"), api("/api/people")]);
  renderLives(rooms, products, people);
}

document.addEventListener("admin:changed", (e) => {
  if (/^\/api\/(rooms|catalog)/.test(e.detail.path)) reloadLives().catch(() => {});
});

$("import").addEventListener("submit", async (e) => {
  e.preventDefault();
  const file = e.target.elements.file.files[0];
  if (!file) return;
  showImport("import", await upload("/api/catalog/import", file, { skip_bad: e.target.elements.skip_bad.checked ? "1" : "0" }));
  load();
});

$("people-import").addEventListener("submit", async (e) => {
  e.preventDefault();
  const file = e.target.elements.file.files[0];
  if (!file) return;
  showImport("people-import", await upload("/api/people/import", file), "imported_people");
  load();
});

$("revoke").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  const revoked = await attempt(() => api("/api/tokens/revoke", { method: "POST", json: { jti: form.elements.jti.value.trim() } }));
  if (!revoked) return;
  $("revoke-result").textContent = t("revoked_done", { jti: revoked.jti });
  $("revoke-result").hidden = false;
  form.reset();
});

if (!token) notice(t("needs_admin"), { sticky: true });
else load();
