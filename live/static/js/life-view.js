// A live's life in words, the same on every page: "Starts Dec 4, 20:00", "Live since
// 20:01", "Ended at 21:30".

import { t } from "./i18n.js";

/** A date and time in the page's language ("" for none). */
export function when(ms) {
  return ms == null ? "" : new Date(ms).toLocaleString(document.documentElement.lang, { dateStyle: "medium", timeStyle: "short" });
}

/** `{status, at}` (`lifeOf` in room-state.js, or a live as the admin API lists it) in words. */
export function lifeText({ status, at }) {
  if (status === "ended") return t("life_ended", { at: when(at) });
  if (status === "live") return t("life_live", { at: when(at) });
  return at ? t("life_scheduled_at", { at: when(at) }) : t("life_scheduled");
}

/** A live as the admin API lists it, as `{status, at}`. */
export function lifeOfListed(live) {
  return { status: live.status, at: { scheduled: live.scheduled_at, live: live.started_at, ended: live.ended_at }[live.status] };
}
