"""The teleprompter's automatic line, as both stores choose it (they differ only in
where the room's pacing, waves and scripts are read from), and the script library's
size limit, as both stores enforce it."""

from __future__ import annotations

import random
from collections.abc import Iterable

import msgspec

from ..domain import scripts as script_rules
from ..domain.releases import Wave
from ..errors import Conflict
from ..protocol import Pacing, Product, Prompt, ScriptLine, Segment


def auto_prompt(
    pacing: Pacing, key: tuple | None, segment: Segment | None, sku: str | None, product: Product | None,
    waves: Iterable[Wave], lines: list[ScriptLine], now: int,
) -> tuple[Prompt | None, tuple | None]:
    """A new line when the purpose, tier or product changed (`key` is the last one's),
    or when the line on screen has been there `rotate_s`; None to keep the one there.
    Also the key to remember."""
    purpose = segment.purpose if segment else ("explain" if product else "hold")
    new_key = (purpose, pacing.tier, sku)
    current = pacing.prompt
    if key == new_key and current is not None and now - current.at < pacing.rules.rotate_s * 1000:
        return None, key
    selling = any(w.sku == sku and w.status(now) in ("open", "scheduled") for w in waves)
    known = {
        "product": "x" if product else None,
        "price": "x" if product else None,
        "online": "x",
        "left": "x" if selling else None,
        "countdown": "x" if selling or segment else None,
    }
    rng = random.Random()
    line = script_rules.choose(
        [msgspec.structs.asdict(line) for line in lines], purpose, pacing.tier, sku, product.role if product else None,
        known, rng, avoid=current.line if current else None,
    )
    text = script_rules.pick_variants(line["text"], rng) if line else ""
    if current is not None and current.text == text and (current.purpose, current.tier) == (purpose, pacing.tier):
        return None, new_key
    return Prompt(text, "auto", line["id"] if line else None, purpose, pacing.tier, now), new_key


def check_library(held: int, added: int, replace: bool) -> None:
    """Refuse an add that would take a library past its limit. Every way lines come in
    (the socket, the HTTP command, a CSV or JSON import) ends in the store's
    `add_script_lines`, which calls this before it changes anything."""
    lines = script_rules.library_size(held, added, replace)
    if lines > script_rules.LIBRARY_LIMIT:
        raise Conflict(f"a script library holds at most {script_rules.LIBRARY_LIMIT} lines; this would make {lines}",
                       path="$.lines", code="script_library_full", limit=script_rules.LIBRARY_LIMIT, lines=lines)
