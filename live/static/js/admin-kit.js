// What the admin page's parts share: the authorised fetch, table rows, import reports.

import { fetchJson, notice, staffToken } from "./page-kit.js";
import { t } from "./i18n.js";

export const token = staffToken();

/**
 * The admin API with the page's token. Whatever a change does (or fails to do: it may
 * be refused because the state moved on), the page's parts hear `admin:changed` after
 * it and read again what they show.
 */
export async function api(path, options) {
  try {
    return await fetchJson(path, token, options);
  } finally {
    if (options?.method && options.method !== "GET") document.dispatchEvent(new CustomEvent("admin:changed", { detail: { path } }));
  }
}

/** Run `action`; a refusal becomes a notice that says what the server said. */
export async function attempt(action) {
  try {
    return await action();
  } catch (error) {
    notice(t("error", { message: error.body?.path ? `${error.message} (${error.body.path})` : error.message }));
    return undefined;
  }
}

/** Replace a table's rows: `cells(item)` gives each row's values (text, or a node). */
export function fillRows(table, items, cells, key) {
  table.querySelector("tbody").replaceChildren(
    ...items.map((item) => {
      const tr = document.createElement("tr");
      if (key) tr.dataset.key = key(item);
      for (const value of cells(item)) {
        const td = document.createElement("td");
        td.append(value instanceof Node ? value : String(value ?? ""));
        tr.append(td);
      }
      return tr;
    }),
  );
}

export function button(label, action, data = {}) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  Object.assign(b.dataset, data);
  b.addEventListener("click", action);
  return b;
}

export function options(select, items, keep = true) {
  const before = select.value;
  select.replaceChildren(
    ...items.map(([value, label]) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = label;
      return option;
    }),
  );
  if (keep && items.some(([value]) => value === before)) select.value = before;
}

/** Show an import's outcome: a line of result, and each refused row with its reason. */
export function showImport(prefix, report, importedKey = "imported") {
  const bad = report.errors.length;
  const result = document.getElementById(`${prefix}-result`);
  result.hidden = false;
  result.dataset.ok = String(report.imported > 0);
  result.textContent = !bad
    ? t(importedKey, { n: report.imported })
    : report.imported ? t("import_skipped", { n: report.imported, bad }) : t("import_failed", { n: bad });
  const table = document.getElementById(`${prefix}-errors`);
  table.hidden = bad === 0;
  fillRows(table, report.errors, (error) => [error.line, error.field ?? "", error.message]);
}

/** Upload a chosen CSV or JSON file; a refused file comes back as a report too. */
export async function upload(path, file, query = {}) {
  const format = file.name.toLowerCase().endsWith(".json") ? "json" : "csv";
  const params = new URLSearchParams({ format, ...query });
  try {
    return await api(`${path}?${params}`, { method: "POST", body: file });  // the bytes: the server reads UTF-8 or GBK
  } catch (error) {
    return error.body?.errors ? error.body : { imported: 0, errors: [{ line: 1, field: null, message: error.message }] };
  }
}
