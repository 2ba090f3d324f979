"""zh-CN and English. The language comes from `?lang=`, then the `live_lang` cookie,
then Accept-Language; the page gets its whole catalog so scripts translate too."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from starlette.requests import Request

LANGS = ("zh-CN", "en")
DEFAULT = "en"
LANG_COOKIE = "live_lang"
_DIR = Path(__file__).parent / "locales"


@cache
def catalog(lang: str) -> dict[str, str]:
    return json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def pick(request: Request) -> str:
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        lang = normalize(candidate)
        if lang:
            return lang
    return from_accept_language(request.headers.get("accept-language", ""))


def normalize(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().lower()
    if value.startswith("zh"):
        return "zh-CN"
    if value.startswith("en"):
        return "en"
    return None


def from_accept_language(header: str) -> str:
    """The best of LANGS by q-value, or DEFAULT."""
    best, best_q = DEFAULT, 0.0
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        lang = normalize(tag)
        if lang and q > best_q:
            best, best_q = lang, q
    return best


def translator(lang: str):
    strings = catalog(lang)
    fallback = catalog(DEFAULT)

    def t(key: str, **values: object) -> str:
        text = strings.get(key) or fallback.get(key) or key
        return text.format(**values) if values else text

    return t
