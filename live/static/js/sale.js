// The overlay's shop: the current release (countdown, "only N left", buy), the claim ->
// checkout -> pay sheet with the hold's countdown, and coupon pop-ups. The sheet's Pay
// button is the demo payment, there only when the server turned it on (`live demo`);
// elsewhere the shop confirms payment and the order updates from its webhook.
//
// A tap claims with a fresh key; if the connection drops before the answer, the same
// claim is sent again with the same key once back, so it can never claim twice.

import { page, t } from "./i18n.js";
import { countdown, money, newKey } from "./format.js";
import { currentWave, releaseStatus } from "./room-state.js";
import { couponRule } from "./coupons-view.js";

const $ = (id) => document.getElementById(id);
const DISMISSED = "live.coupons.dismissed";

export class Shop {
  constructor(socket, state) {
    this.socket = socket;
    this.state = state;
    this.pendingClaim = null; // {release, key}: sent, no answer yet
    this.order = null; // the order in the sheet
    this.popped = null; // the coupon in the pop-up
    $("buy").addEventListener("click", () => this.buy());
    $("sheet-pay")?.addEventListener("click", () => this.order && this.socket.send({ type: "pay", order: this.order.id }));
    $("sheet-cancel").addEventListener("click", () => this.order && this.socket.send({ type: "cancel_order", order: this.order.id }));
    $("coupon-pop-close").addEventListener("click", () => this.dismissCoupon());
    $("guide-code").addEventListener("submit", (e) => {
      e.preventDefault();
      const code = e.target.elements.code.value.trim();
      if (this.order && code) {
        this.codeSent = this.order.id;
        this.socket.send({ type: "guide_code", order: this.order.id, code });
      }
    });
    $("coupon-pop-claim").addEventListener("click", () => this.claimCoupon());
    socket.addEventListener("state", (e) => {
      if (e.detail.state === "live" && this.pendingClaim) this.socket.send({ type: "claim", ...this.pendingClaim });
    });
    setInterval(() => this.renderClocks(), 250);
  }

  /** The release to show: the current wave, as every page picks it. */
  current(now) {
    return currentWave(this.state, now);
  }

  buy() {
    const release = this.current(this.socket.serverNow());
    if (!release || this.pendingClaim) return;
    this.pendingClaim = { release: release.id, key: newKey() };
    $("buy").disabled = true;
    this.socket.send({ type: "claim", ...this.pendingClaim });
  }

  onMessage(message) {
    switch (message.type) {
      case "snapshot":
      case "resume":
        this.resumeOrder();
        this.offerCoupon();
        break;
      case "claim_result":
        if (this.pendingClaim?.key !== message.key) return;
        this.pendingClaim = null;
        if (message.outcome === "claimed") this.socket.send({ type: "checkout", hold: message.hold.id });
        else this.toast(t(`outcome_${message.outcome}`));
        break;
      case "order_result":
      case "order":
        this.showOrder(message.order);
        break;
      case "coupon":
        this.offerCoupon(message.coupon);
        break;
      case "coupon_result":
        this.toast(t(message.outcome === "claimed" ? "coupon_claimed" : `coupon_${message.outcome}`));
        this.hideCoupon();
        break;
      case "sold_out":
        this.toast(t("sold_out_after", { seconds: (message.after_ms / 1000).toFixed(1) }));
        break;
      case "returned":
        this.toast(t("units_back", { units: message.units }));
        break;
      case "error":
        this.pendingClaim = null;
        this.toast(message.message);
        break;
    }
    this.render();
  }

  /** After a reload or a reconnect: bring back the order that still waits for payment. */
  resumeOrder() {
    const now = this.socket.serverNow();
    const pending = this.state.mine.orders.find((o) => o.status === "pending" && o.expires_at > now);
    if (pending) return this.showOrder(pending);
    const hold = this.state.mine.holds.find((h) => h.status === "held" && h.expires_at > now);
    if (hold) this.socket.send({ type: "checkout", hold: hold.id });
  }

  showOrder(order) {
    if (this.order && order.id !== this.order.id && order.status !== "pending") return; // old news
    this.order = order;
    const product = this.state.lineup.find((p) => p.sku === order.sku);
    $("sheet-product").textContent = `${product?.title ?? order.sku} × ${order.qty}`;
    $("sheet-subtotal").textContent = money(order.subtotal);
    $("sheet-discount-row").hidden = !order.discount;
    $("sheet-discount").textContent = `−${money(order.discount)}`;
    $("sheet-amount").textContent = money(order.amount);
    const done = order.status !== "pending";
    if (page.demo_pay) {
      $("sheet-pay").textContent = t("pay_demo", { amount: money(order.amount) });
      $("sheet-pay").hidden = done;
    } else $("sheet-shop").hidden = done;
    $("sheet-cancel").hidden = done;
    $("sheet-code").hidden = done;
    if (order.guide || order.distributor) $("sheet-code").open = false;
    // Say whether the code the buyer typed counts (its receipt's winning touch), in words.
    const byCode = order.receipt?.winner?.kind === "checkout_code";
    const typed = this.codeSent === order.id || byCode;
    $("sheet-applied").hidden = !typed;
    if (typed) $("sheet-applied").textContent = t(byCode ? "guide_code_applied" : "guide_code_not_applied");
    if (byCode) $("sheet-code").hidden = true;
    $("sheet").hidden = false;
    $("sheet").dataset.status = order.status;
    if (done) {
      const text = { paid: "paid_thanks", expired: "order_expired", cancelled: "order_cancelled", refunded: "order_status_refunded" };
      $("sheet-timer").textContent = t(text[order.status]);
      clearTimeout(this.sheetTimer);
      this.sheetTimer = setTimeout(() => {
        if (this.order?.id === order.id) {
          $("sheet").hidden = true;
          this.order = null;
        }
      }, 2500);
    }
    this.renderClocks();
  }

  offerCoupon(coupon = null) {
    const now = this.socket.serverNow();
    const dismissed = new Set(JSON.parse(sessionStorage.getItem(DISMISSED) || "[]"));
    const mine = new Set(this.state.mine.coupons.map((c) => c.coupon));
    const candidates = coupon ? [coupon] : [...this.state.coupons.values()].sort((a, b) => b.pushed_at - a.pushed_at);
    const offer = candidates.find(
      (c) => c.pushed_at != null && !mine.has(c.id) && !dismissed.has(c.id) && (c.claim_until == null || c.claim_until > now),
    );
    if (!offer) return;
    this.popped = offer;
    $("coupon-pop-rule").textContent = couponRule(offer);
    $("coupon-pop-name").textContent = offer.title;
    $("coupon-pop").hidden = false;
  }

  claimCoupon() {
    if (this.popped) this.socket.send({ type: "claim_coupon", coupon: this.popped.id, key: newKey() });
  }

  dismissCoupon() {
    if (this.popped) {
      const dismissed = new Set(JSON.parse(sessionStorage.getItem(DISMISSED) || "[]"));
      dismissed.add(this.popped.id);
      sessionStorage.setItem(DISMISSED, JSON.stringify([...dismissed]));
    }
    this.hideCoupon();
  }

  hideCoupon() {
    this.popped = null;
    $("coupon-pop").hidden = true;
  }

  toast(text) {
    const el = $("toast");
    el.textContent = text;
    el.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => (el.hidden = true), 3500);
  }

  render() {
    const usable = this.state.mine.coupons.filter((c) => c.status === "claimed").length;
    $("pocket").hidden = usable === 0;
    $("pocket").textContent = t("my_coupons", { n: usable });
    this.renderClocks();
  }

  renderClocks() {
    const now = this.socket.serverNow();
    const release = this.current(now);
    const card = $("sale");
    card.hidden = !release;
    // The pinned product's card leaves its price to the sale card while one of its waves shows.
    $("pinned").dataset.flash = String(Boolean(release && release.sku === this.state.pinned));
    if (release) {
      const status = releaseStatus(release, now);
      const product = this.state.lineup.find((p) => p.sku === release.sku);
      card.dataset.release = release.id;
      card.dataset.status = status;
      $("sale-title").textContent = product?.title ?? release.sku;
      $("sale-price").textContent = money(release.price);
      $("sale-list-price").textContent = product && product.price > release.price ? money(product.price) : "";
      $("sale-left").textContent = status === "sold_out" ? t("sold_out") : t("only_left", { left: release.left });
      const buy = $("buy");
      buy.disabled = status !== "open" || this.pendingClaim !== null;
      buy.textContent =
        status === "scheduled" ? t("buy_soon", { countdown: countdown(release.starts_at - now) })
        : status === "sold_out" ? t("sold_out") : t("buy");
    }
    if (this.order && this.order.status === "pending") {
      const left = this.order.expires_at - now;
      $("sheet-timer").textContent = t("pay_within", { countdown: countdown(left) });
    }
  }
}
