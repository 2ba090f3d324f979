"""The teleprompter's automatic line: which script line fits the segment's purpose,
the room's tier and the product now, and when it is time for another."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import msgspec

from . import scripts as script_rules


@dataclass(frozen=True, slots=True)
class Line:
    """The line to put on the teleprompter: its text (variants picked), the library
    line it came from, and the purpose it serves."""

    text: str
    line: str | None
    purpose: str


def auto_line(
    pacing: Any, key: tuple | None, segment: Any, sku: str | None, product: Any, selling: bool, lines: list, now: int,
) -> tuple[Line | None, tuple]:
    """A new line when the purpose, tier or product changed (`key` is the last one's),
    or when the line on screen has been there `rotate_s`; None to keep the one there.
    Also the key to remember. `pacing` is the room's `live.protocol.Pacing`, `segment`
    the run-of-show's current segment, `selling` whether the product has a release
    open or coming."""
    purpose = segment.purpose if segment else ("explain" if product else "hold")
    new_key = (purpose, pacing.tier, sku)
    current = pacing.prompt
    if key == new_key and current is not None and now - current.at < pacing.rules.rotate_s * 1000:
        return None, key
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
    return Line(text, line["id"] if line else None, purpose), new_key
