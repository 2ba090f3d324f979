// Money arrives in integer fen, time in server epoch ms.

export function money(fen) {
  if (typeof fen !== "number") return "";
  const yuan = (fen / 100).toFixed(2).replace(/\.?0+$/, "");
  return `¥${yuan}`;
}

export function count(n) {
  if (typeof n !== "number") return "–";
  return n.toLocaleString();
}

export function clock(ms) {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((v) => String(v).padStart(2, "0")).join(":");
}

export function dwell(seconds, t) {
  if (typeof seconds !== "number") return "–";
  if (seconds < 60) return t("seconds_short", { n: seconds });
  return t("minutes_short", { m: Math.floor(seconds / 60), s: seconds % 60 });
}

/** "4:05" or "1:02:03" until `ms` from now (never negative). */
export function countdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Integer fen from what a person types in yuan ("59.9", "59.90", "¥59"); null if empty. */
export function fenFromYuan(text) {
  const clean = String(text ?? "").replace(/[¥,\s]/g, "");
  if (clean === "") return null;
  if (!/^\d+(\.\d{1,2})?$/.test(clean)) return NaN;
  const [whole, cents = ""] = clean.split(".");
  return Number(whole) * 100 + Number(cents.padEnd(2, "0"));
}

/** A fresh idempotency key: the same tap resent keeps its key, a new tap gets a new one. */
export function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

const UNITS = [["day", 86_400_000], ["hour", 3_600_000], ["minute", 60_000], ["second", 1000]];

/** A duration in ms in the largest unit it fills at least once, in the page's
 * language: "7 days", "1.5 hours" / "7天", "1.5小时" (as the server's English texts). */
export function duration(ms, lang) {
  const [unit, size] = UNITS.find(([, size]) => Math.abs(ms) >= size) ?? UNITS[UNITS.length - 1];
  return new Intl.NumberFormat(lang, { style: "unit", unit, unitDisplay: "long", maximumFractionDigits: 2 }).format(ms / size);
}
