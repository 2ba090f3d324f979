// Host view: the pinned product, large, and the room's numbers, for reading at a distance.

import { connect, notice, showProduct, staffToken } from "./page-kit.js";
import { apply, createRoomState } from "./room-state.js";
import { page, t } from "./i18n.js";
import { count } from "./format.js";
import { lineItem, linesFor } from "./scripts-view.js";

const state = createRoomState();
const token = staffToken();
const socket = connect({ token });
if (!token) {
  notice(t("needs_token", { role: "host", room: page.room }), { sticky: true });
} else {
  socket.addEventListener("message", (e) => {
    if (apply(state, e.detail)) render();
  });
  socket.start();
}

function render() {
  document.getElementById("online").textContent = count(state.online);
  document.getElementById("likes").textContent = count(state.likes);
  document.getElementById("pinned").dataset.empty = state.product ? "false" : "true";
  showProduct("pinned", state.product, t("nothing_pinned"));
  const lines = linesFor(state.scripts, state.product);
  document.getElementById("host-lines").hidden = lines.length === 0;
  document.getElementById("lines").replaceChildren(...lines.map(lineItem));
}
