// Pacing on the control panel: the tier and trend, alerts with their one-click action,
// and the rules form.

import { t } from "./i18n.js";

export function renderTier(state) {
  const tier = state.pacing?.tier ?? "cold";
  const el = document.getElementById("tier");
  el.dataset.tier = tier;
  el.textContent = t(`tier_${tier}`);
  const n = state.numbers;
  document.getElementById("trend").textContent = n ? t("trend_text", { in: n.entries_per_min ?? 0, out: n.exits_per_min ?? 0 }) : "";
}

/** Alerts, newest first; each offers its action (sent as is) and a dismiss. */
export function renderAlerts(el, empty, alerts) {
  el.replaceChildren(
    ...alerts.map((alert, i) => {
      const li = document.createElement("li");
      li.className = `alert alert-${alert.kind}`;
      li.dataset.kind = alert.kind;
      const text = document.createElement("span");
      text.textContent = t(`alert_${alert.kind}`, alert.data ?? {});
      li.append(text);
      if (alert.action) {
        const act = document.createElement("button");
        act.type = "button";
        act.className = "small";
        act.dataset.alert = String(i);
        act.textContent = t("do_it");
        li.append(act);
      }
      const dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "secondary small";
      dismiss.dataset.dismiss = String(i);
      dismiss.textContent = "✕";
      dismiss.title = t("dismiss");
      li.append(dismiss);
      return li;
    }),
  );
  empty.hidden = alerts.length > 0;
}

export function fillRules(form, rules) {
  for (const [name, value] of Object.entries(rules ?? {})) {
    if (form.elements[name] && document.activeElement !== form.elements[name]) form.elements[name].value = value;
  }
}

export function rulesFromForm(form) {
  const rules = { mode: form.elements.mode.value };
  for (const name of ["warm", "hot"]) rules[name] = Number(form.elements[name].value);
  for (const name of ["hold_s", "floor", "window_s", "cool_pct", "heat_pct", "slow_s", "slow_pct", "cooldown_s", "rotate_s"]) {
    if (form.elements[name].value !== "") rules[name] = Math.round(Number(form.elements[name].value));
  }
  return { type: "set_pacing", rules };
}
