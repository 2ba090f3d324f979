// The page's catalog (embedded by the server) and the page's own settings.

const catalog = JSON.parse(document.getElementById("i18n")?.textContent || "{}");
export const page = JSON.parse(document.getElementById("page")?.textContent || "{}");
export const lang = document.documentElement.lang || "en";

export function t(key, values = {}) {
  const text = catalog[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (values[name] ?? "").toString());
}

/** A refusal (`{code, message, params}`) in the page's language: the text of
 * `error_<code>` with its params, or the server's own message for a code the page has
 * no text for. */
export function refusal(error) {
  const key = `error_${error.code}`;
  return key in catalog ? t(key, error.params ?? {}) : error.message;
}
