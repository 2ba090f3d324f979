// Guide portal: the guide's share link and QR code, and the live count of the viewers
// they brought, next to the other guides'.

import { connect, notice, staffToken } from "./page-kit.js";
import { apply, createRoomState } from "./room-state.js";
import { page, t } from "./i18n.js";
import { count } from "./format.js";
import { renderGuidesBoard } from "./guides-board.js";

const state = createRoomState();
const token = staffToken();
const socket = connect({ token });
if (!token) {
  notice(t("needs_token", { role: "guide", room: page.room }), { sticky: true });
} else {
  socket.addEventListener("message", (e) => {
    const message = e.detail;
    if (!apply(state, message)) return;
    if (message.type === "snapshot") showMe();
    render();
  });
  socket.start();
}

function showMe() {
  const me = state.me;
  if (!me) return;
  document.getElementById("me").textContent = t("you_guide", { name: me.name, shop: me.shop_name });
  const link = `${location.origin}/watch/${encodeURIComponent(page.room)}?via=${encodeURIComponent(me.code)}`;
  document.getElementById("share-link").value = link;
  const qr = document.getElementById("qr");
  qr.src = `/share/${encodeURIComponent(page.room)}/${encodeURIComponent(me.code)}.svg`;
  qr.hidden = false;
}

function render() {
  const guides = state.numbers?.guides ?? [];
  const mine = guides.find((g) => g.guide === state.me?.id);
  document.getElementById("my-brought").textContent = count(mine?.brought ?? 0);
  document.getElementById("my-watching").textContent = count(mine?.watching ?? 0);
  document.getElementById("online").textContent = count(state.online);
  renderGuidesBoard(guides, state.me?.id);
}

document.getElementById("copy").addEventListener("click", async () => {
  const input = document.getElementById("share-link");
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
  }
  notice(t("copied"));
});
