// Admin page: the rooms (with staff links), the catalog, and the catalog import.

import { notice, staffToken } from "./page-kit.js";
import { t } from "./i18n.js";
import { money } from "./format.js";

const $ = (id) => document.getElementById(id);
const token = staffToken();

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { Authorization: `Bearer ${token}`, ...(options.headers ?? {}) } });
  const body = await response.json();
  if (!response.ok && body.code) throw Object.assign(new Error(body.message), { body, status: response.status });
  return body;
}

async function load() {
  try {
    const [rooms, products] = await Promise.all([api("/api/rooms"), api("/api/catalog")]);
    renderRooms(rooms);
    renderCatalog(products);
  } catch (error) {
    notice(t("error", { message: error.message }), { sticky: true });
  }
}

function renderRooms(rooms) {
  $("rooms").replaceChildren(
    ...rooms.map((room) => {
      const li = document.createElement("li");
      const title = document.createElement("strong");
      title.textContent = `${room.title} `;
      li.append(title);
      for (const [page, label] of [["control", "control_panel"], ["host", "host_view"], ["watch", "overlay"]]) {
        const a = document.createElement("a");
        a.href = page === "watch" ? `/watch/${room.id}` : `/${page}/${room.id}#token=${encodeURIComponent(token)}`;
        a.textContent = t(label);
        li.append(" · ", a);
      }
      return li;
    }),
  );
}

function renderCatalog(products) {
  $("catalog").querySelector("tbody").replaceChildren(
    ...products.map((p) => {
      const tr = document.createElement("tr");
      tr.dataset.sku = p.sku;
      for (const value of [p.sku, p.title, money(p.price), t(`role_${p.role}`), p.stock, p.limit ?? "–"]) {
        const td = document.createElement("td");
        td.textContent = value;
        tr.append(td);
      }
      return tr;
    }),
  );
}

$("import").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  const file = form.elements.file.files[0];
  if (!file) return;
  const format = file.name.toLowerCase().endsWith(".json") ? "json" : "csv";
  const query = new URLSearchParams({ format, skip_bad: form.elements.skip_bad.checked ? "1" : "0" });
  let report;
  try {
    report = await api(`/api/catalog/import?${query}`, { method: "POST", body: await file.text() });
  } catch (error) {
    report = error.body?.errors ? error.body : { imported: 0, errors: [{ line: 1, field: null, message: error.message }] };
  }
  const bad = report.errors.length;
  const result = $("import-result");
  result.hidden = false;
  result.dataset.ok = String(report.imported > 0);
  result.textContent = !bad
    ? t("imported", { n: report.imported })
    : report.imported ? t("import_skipped", { n: report.imported, bad }) : t("import_failed", { n: bad });
  const table = $("import-errors");
  table.hidden = bad === 0;
  table.querySelector("tbody").replaceChildren(
    ...report.errors.map((error) => {
      const tr = document.createElement("tr");
      for (const value of [error.line, error.field ?? "", error.message]) {
        const td = document.createElement("td");
        td.textContent = value;
        tr.append(td);
      }
      return tr;
    }),
  );
  load();
});

if (!token) notice(t("needs_admin"), { sticky: true });
else load();
