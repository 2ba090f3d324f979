// An order's receipt in the page's language: the rule that decided and each touch's
// verdict come as codes with params (`rule_<code>`, `verdict_<code>` in the locale
// files); durations (`*_ms`) are said in the largest unit, people by their names,
// kinds of touch as nouns (`kind_<kind>`).
// A receipt written before codes existed has only its English text.

import { lang, t } from "./i18n.js";
import { duration } from "./format.js";

function shown(params, names) {
  const out = {};
  for (const [name, value] of Object.entries(params ?? {})) {
    if (name.endsWith("_ms")) out[name] = duration(value, lang);
    else if (name === "kind") out[name] = t(`kind_${value}`);
    else if (name === "owner") out[name] = names.get(value) ?? value;
    else out[name] = value;
  }
  return out;
}

/** Why the order went where it went. */
export function ruleText(receipt, names = new Map()) {
  return receipt.rule_code ? t(`rule_${receipt.rule_code}`, shown(receipt.rule_params, names)) : receipt.rule;
}

/** Why a touch won or lost. */
export function verdictText(touch, names = new Map()) {
  return touch.verdict_code ? t(`verdict_${touch.verdict_code}`, shown(touch.verdict_params, names)) : touch.verdict;
}

/** "Tracked link · Mei". */
export function touchLabel(touch, names = new Map()) {
  return `${t(`touch_${touch.kind}`)} · ${names.get(touch.owner) ?? touch.owner}`;
}
