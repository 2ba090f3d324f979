"""Both languages say everything the pages ask for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from live.domain import attribution
from live.web import i18n

PACKAGE = Path(i18n.__file__).resolve().parent.parent
USED = re.compile(r"""\bt\(\s*["']([a-z0-9_]+)["']\s*[,)]""")


def keys_used() -> set[str]:
    used: set[str] = set()
    for path in [*PACKAGE.glob("templates/*.html"), *PACKAGE.glob("static/js/*.js")]:
        used |= set(USED.findall(path.read_text(encoding="utf-8")))
    return used


def test_both_languages_have_the_same_keys():
    assert set(i18n.catalog("en")) == set(i18n.catalog("zh-CN"))


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_every_key_the_pages_use_is_translated(lang):
    missing = keys_used() - set(i18n.catalog(lang))
    assert not missing, f"{lang} lacks {sorted(missing)}"


@pytest.mark.parametrize(
    "header, lang",
    [("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"), ("en-US,en;q=0.9,zh;q=0.5", "en"), ("fr-FR", "en"), ("", "en"), ("zh-TW", "zh-CN")],
)
def test_accept_language(header, lang):
    assert i18n.from_accept_language(header) == lang


@pytest.mark.parametrize("lang", i18n.LANGS)
@pytest.mark.parametrize("code, params", [
    ("file_encoding", set()), ("script_library_full", {"limit", "lines"}), ("bad_timezone", {"tz"}),
])
def test_refusals_of_imports_and_exports_have_a_text_with_their_params(lang, code, params):
    """The pages say these refusals by code (`refusal()` in i18n.js), with the params
    the server sends."""
    text = i18n.catalog(lang)[f"error_{code}"]
    assert set(re.findall(r"\{(\w+)\}", text)) == params


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_every_receipt_code_has_a_text_with_its_params(lang):
    """Receipts carry codes and params (`live.domain.attribution`); the pages say them
    with `rule_<code>` and `verdict_<code>` (`receipts.js`), and a kind of touch with
    `kind_<kind>`: each text names the params the English one names, no other."""
    catalog = i18n.catalog(lang)
    for prefix, texts in (("rule", attribution.RULE_TEXTS), ("verdict", attribution.VERDICT_TEXTS)):
        for code, english in texts.items():
            text = catalog[f"{prefix}_{code}"]
            assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", english)), (lang, code)
    assert all(f"kind_{kind}" in catalog for kind in attribution.PRECEDENCE)
