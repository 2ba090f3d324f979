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
