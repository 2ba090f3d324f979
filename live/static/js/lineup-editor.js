// The lineup on the control panel: pin, take off or put on sale, release stock, take
// out of the lineup, and reorder by dragging (the new order goes to the server as one
// set_lineup); and products from the catalog to add to it.

import { t } from "./i18n.js";
import { money } from "./format.js";

export function renderLineup(el, state) {
  if (el.querySelector(".dragging")) return; // not under the controller's mouse
  const items = state.lineup.map((product, i) => {
    const li = document.createElement("li");
    li.className = "lineup-item";
    li.dataset.sku = product.sku;
    li.draggable = true;
    const pinned = product.sku === state.pinned;
    const off = state.offSale.has(product.sku);
    li.classList.toggle("is-pinned", pinned);
    li.classList.toggle("is-off", off);
    const img = document.createElement("img");
    img.alt = "";
    if (product.image) img.src = product.image;
    const text = document.createElement("div");
    text.className = "lineup-text";
    const title = document.createElement("strong");
    title.textContent = `${i + 1}. ${product.title}`;
    const meta = document.createElement("span");
    meta.className = "meta";
    const role = document.createElement("span");
    role.className = `badge role-${product.role}`;
    role.textContent = t(`role_${product.role}`);
    const price = document.createElement("span");
    price.className = "price";
    price.textContent = money(product.price);
    const stock = document.createElement("span");
    stock.className = "stock";
    stock.textContent = t("stock_units", { n: product.stock ?? 0 });
    meta.append(role, " ", price, " ", product.sku, " · ", stock);
    if (off) {
      const badge = document.createElement("span");
      badge.className = "badge off";
      badge.textContent = t("off_sale");
      meta.append(" ", badge);
    }
    text.append(title, meta);
    const actions = document.createElement("div");
    actions.className = "actions";
    actions.append(
      button(pinned ? t("pinned") : t("pin"), { action: "pin", sku: product.sku }, pinned ? "pinned" : ""),
      button(t("release_stock"), { action: "release", sku: product.sku }, "secondary"),
      button(off ? t("put_on") : t("take_off"), { action: off ? "on" : "off", sku: product.sku }, "secondary"),
      button(t("remove_from_lineup"), { action: "remove", sku: product.sku }, "secondary"),
    );
    li.append(img, text, actions);
    return li;
  });
  el.replaceChildren(...items);
}

function button(label, data, className) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (className) b.className = className;
  Object.assign(b.dataset, data);
  return b;
}

/** Drag and drop: calls onReorder(skus) with the new order once an item is dropped. */
export function enableDrag(el, onReorder) {
  let dragged = null;
  el.addEventListener("dragstart", (e) => {
    dragged = e.target.closest("li.lineup-item");
    if (!dragged) return;
    dragged.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", dragged.dataset.sku);
  });
  el.addEventListener("dragover", (e) => {
    if (!dragged) return;
    e.preventDefault();
    const over = e.target.closest("li.lineup-item");
    if (!over || over === dragged) return;
    const rect = over.getBoundingClientRect();
    const after = e.clientY > rect.top + rect.height / 2;
    over.parentNode.insertBefore(dragged, after ? over.nextSibling : over);
  });
  el.addEventListener("drop", (e) => e.preventDefault());
  el.addEventListener("dragend", () => {
    if (!dragged) return;
    dragged.classList.remove("dragging");
    dragged = null;
    onReorder([...el.querySelectorAll("li.lineup-item")].map((li) => li.dataset.sku));
  });
}

/** Catalog products found by a search, each with Add (or "in the lineup"). */
export function renderCatalogResults(el, products, lineup) {
  const inLineup = new Set(lineup.map((p) => p.sku));
  el.replaceChildren(...products.map((product) => {
    const li = document.createElement("li");
    li.dataset.sku = product.sku;
    const text = document.createElement("span");
    text.textContent = `${product.title} `;
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = `${product.sku} · ${money(product.price)} · ${t("stock_units", { n: product.stock })}`;
    text.append(meta);
    const add = button(inLineup.has(product.sku) ? t("in_lineup") : t("add_to_lineup"), { add: product.sku }, "small");
    add.disabled = inLineup.has(product.sku);
    li.append(text, " ", add);
    return li;
  }));
  if (!products.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = t("no_products_found");
    el.append(li);
  }
}
