// The guides' leaderboard (viewers brought, watching now), on the control panel and the
// guide portal.

import { count } from "./format.js";

export function renderGuidesBoard(guides, highlight = null) {
  const body = document.querySelector("#guides-board tbody");
  const empty = document.getElementById("guides-empty");
  if (!body) return;
  const rows = guides.map((g, i) => {
    const tr = document.createElement("tr");
    tr.dataset.guide = g.guide;
    if (g.guide === highlight) tr.className = "me";
    for (const value of [i + 1, g.name, g.shop, count(g.brought), count(g.watching)]) {
      const td = document.createElement("td");
      td.textContent = value;
      tr.append(td);
    }
    return tr;
  });
  body.replaceChildren(...rows);
  empty.hidden = guides.length > 0;
}
