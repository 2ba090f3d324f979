// The live leaderboards on the control panel: guides and distributors (viewers
// brought, watching now, orders, GMV), and stores.

import { count, money } from "./format.js";

export function renderGuidesBoard(guides, stores = []) {
  fill("guides-board", guides, (g, i) => [i + 1, g.name, g.shop, count(g.brought), count(g.watching), count(g.orders ?? 0), money(g.gmv ?? 0)], (g) => g.guide);
  fill("stores-board", stores, (s, i) => [i + 1, s.name, count(s.brought), count(s.watching), count(s.orders), money(s.gmv)], (s) => s.shop);
  const empty = document.getElementById("guides-empty");
  if (empty) empty.hidden = guides.length > 0;
}

function fill(id, items, cells, key) {
  const body = document.querySelector(`#${id} tbody`);
  if (!body) return;
  body.replaceChildren(
    ...items.map((item, i) => {
      const tr = document.createElement("tr");
      tr.dataset.key = key(item);
      for (const value of cells(item, i)) {
        const td = document.createElement("td");
        td.textContent = value;
        tr.append(td);
      }
      return tr;
    }),
  );
}
