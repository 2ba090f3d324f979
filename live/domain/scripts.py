"""Script lines (话术): rendering, choosing the line to say now, and bulk editing.

A line may hold variants in braces, `欢迎{宝宝/家人们/老铁}`, one picked at random each
time it is shown, and placeholders filled from the live state: `{product}`, `{price}`,
`{left}`, `{online}`, `{countdown}`. A placeholder with no value (no release running,
so no `{left}`) renders as "…" and is reported missing; when choosing, a line whose
placeholders can all be filled wins over one that cannot.

Lines are plain dicts here (`id`, `purpose`, `text`, `tier`, `sku`, `product_role`) so
these rules stay free of the wire format.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import Conflict
from . import sheets

PURPOSES = ("welcome", "hold", "explain", "urgency", "coupon", "qa", "thanks")
TIERS = ("any", "cold", "warm", "hot")
PLACEHOLDERS = ("product", "price", "left", "online", "countdown")
MISSING = "…"
FIELDS = ("purpose", "tier", "sku", "product_role", "text")
LIBRARY_LIMIT = 1000  # lines in one room's library


def check_library(held: int, added: int, replace: bool) -> None:
    """Refuse an add that would take a library of `held` lines past its limit (with
    `replace`, the added lines take the others' place). Every way lines come in (the
    socket, the HTTP command, a CSV or JSON import) ends in `add_script_lines`, which
    asks this before it changes anything."""
    lines = added if replace else held + added
    if lines > LIBRARY_LIMIT:
        raise Conflict(f"a script library holds at most {LIBRARY_LIMIT} lines; this would make {lines}",
                       path="$.lines", code="script_library_full", limit=LIBRARY_LIMIT, lines=lines)


_VARIANTS = re.compile(r"\{([^{}]*/[^{}]*)\}")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def pick_variants(text: str, rng: random.Random) -> str:
    """One choice from each `{a/b/c}`; placeholders stay for whoever fills them live."""
    return _VARIANTS.sub(lambda m: rng.choice(m.group(1).split("/")).strip(), text)


def render(text: str, values: Mapping[str, str | None], rng: random.Random) -> tuple[str, set[str]]:
    """The line as the host reads it, and the placeholders that had no value."""
    text = pick_variants(text, rng)
    missing: set[str] = set()

    def fill(match: re.Match) -> str:
        value = values.get(match.group(1))
        if value in (None, ""):
            missing.add(match.group(1))
            return MISSING
        return str(value)

    return _PLACEHOLDER.sub(fill, text), missing


def choose(
    lines: Iterable[Mapping[str, Any]],
    purpose: str,
    tier: str,
    sku: str | None,
    role: str | None,
    values: Mapping[str, str | None],
    rng: random.Random,
    avoid: str | None = None,
) -> Mapping[str, Any] | None:
    """The line for this purpose, tier and product. Best first: tied to the product,
    then to its role, then to no product; written for this tier before `any`; all
    placeholders fillable; not `avoid` (the line on screen) when there is another.
    Among equals, a random one."""

    def fits(line: Mapping[str, Any]) -> bool:
        if line["purpose"] != purpose or line.get("tier", "any") not in (tier, "any"):
            return False
        if line.get("sku"):
            return line["sku"] == sku
        if line.get("product_role"):
            return line["product_role"] == role
        return True

    def rank(line: Mapping[str, Any]) -> tuple[int, int, int, int]:
        product = 0 if line.get("sku") else (1 if line.get("product_role") else 2)
        return (
            product,
            0 if line.get("tier", "any") == tier else 1,
            0 if placeholders(line["text"]) <= {k for k, v in values.items() if v not in (None, "")} else 1,
            1 if line["id"] == avoid else 0,
        )

    candidates = [line for line in lines if fits(line)]
    if not candidates:
        return None
    best = min(rank(line) for line in candidates)
    return rng.choice([line for line in candidates if rank(line) == best])


def parse_paste(text: str, purpose: str, tier: str = "any", sku: str | None = None, role: str | None = None) -> list[dict]:
    """Bulk paste: one line per row, blank rows skipped, as lines of one purpose/tier."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose is one of {', '.join(PURPOSES)}")
    if tier not in TIERS:
        raise ValueError(f"tier is one of {', '.join(TIERS)}")
    rows = [row.strip() for row in text.splitlines()]
    return [
        {"purpose": purpose, "tier": tier, "sku": sku, "product_role": role, "text": row[:500]} for row in rows if row
    ]


def from_csv(text: str) -> list[dict]:
    """Lines from a CSV with a header naming FIELDS (`text` and `purpose` required)."""
    reader = sheets.reader(text)
    out = []
    for number, row in enumerate(reader, start=2):
        line = _line({k.strip(): (v or "").strip() for k, v in row.items() if k}, number)
        out.append(line)
    return out


def from_json(text: str) -> list[dict]:
    document = json.loads(text)
    items = document.get("lines") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise ValueError('expected a list of lines, or {"lines": [...]}')
    return [_line(item, i) for i, item in enumerate(items, start=1)]


def to_csv(lines: Iterable[Mapping[str, Any]]) -> bytes:
    """The library as a CSV file for Excel, which `from_csv` reads back line for line."""
    return sheets.write(FIELDS, lines)


def _line(item: Any, number: int) -> dict:
    if not isinstance(item, Mapping):
        raise ValueError(f"line {number}: a line is an object")
    purpose, tier = item.get("purpose", ""), item.get("tier") or "any"
    text = str(item.get("text") or "").strip()
    if purpose not in PURPOSES:
        raise ValueError(f"line {number}: purpose is one of {', '.join(PURPOSES)}")
    if tier not in TIERS:
        raise ValueError(f"line {number}: tier is one of {', '.join(TIERS)}")
    if not text or len(text) > 500:
        raise ValueError(f"line {number}: text is 1-500 characters")
    return {
        "purpose": purpose, "tier": tier, "sku": item.get("sku") or None,
        "product_role": item.get("product_role") or None, "text": text,
    }
