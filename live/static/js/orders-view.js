// The live order feed on the control panel.

import { t } from "./i18n.js";
import { clock, money } from "./format.js";
import { ruleText } from "./receipts.js";

function broughtBy(order) {
  return order.guide ?? order.distributor ?? order.shop ?? "";
}

/** Each order with who brought the buyer and the rule that decided it (its receipt). */
export function renderOrders(table, empty, orders, titles) {
  const rows = orders.map((order) => {
    const tr = document.createElement("tr");
    tr.dataset.order = order.id;
    tr.className = `order-${order.status}`;
    const cells = [
      clock(order.paid_at ?? order.created_at),
      order.id,
      `${titles.get(order.sku) ?? order.sku} × ${order.qty}`,
      order.discount ? `${money(order.amount)} (−${money(order.discount)})` : money(order.amount),
      t(`order_status_${order.status}`),
      (order.viewer || order.click || "").slice(-6) + (broughtBy(order) ? ` · ${broughtBy(order)}` : ""),
    ];
    for (const value of cells) {
      const td = document.createElement("td");
      td.textContent = value;
      tr.append(td);
    }
    if (order.receipt?.winner) {
      const why = document.createElement("small");
      why.className = "why";
      why.textContent = ruleText(order.receipt);
      tr.lastElementChild.append(why);
    }
    return tr;
  });
  table.querySelector("tbody").replaceChildren(...rows);
  empty.hidden = orders.length > 0;
}
