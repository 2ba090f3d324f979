"""Who may be added to a brand's people: the checks an import passes, all or none.

Guides and distributors share one namespace of ids and one of checkout codes (a code
typed at checkout names exactly one person); every store belongs to a known brand and
every guide to a known store; distributors go two levels deep at most (一级/二级).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadMessage, NotFound


@dataclass(frozen=True, slots=True)
class Known:
    """What is there already."""

    brands: set[str]
    shops: set[str]
    guides: dict[str, str] = field(default_factory=dict)  # id -> code
    distributors: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # id -> (code, parent)


def check(shops: Sequence[Any], guides: Sequence[Any], distributors: Sequence[Any], known: Known) -> None:
    """Raise the first problem, naming the row (`$.guides[3].code`)."""
    shop_ids = known.shops | {s.id for s in shops}
    for i, shop in enumerate(shops):
        if shop.brand not in known.brands:
            raise NotFound(f"store {shop.id!r} belongs to unknown brand {shop.brand!r}", path=f"$.shops[{i}].brand",
                           what="brand", id=shop.brand)
    kinds = {gid: "guide" for gid in known.guides} | {did: "distributor" for did in known.distributors}
    replaced = {p.id for p in [*guides, *distributors]}
    codes = {code: pid for pid, code in known.guides.items() if pid not in replaced}
    codes |= {code: pid for pid, (code, _) in known.distributors.items() if pid not in replaced}
    for group, people in (("guides", guides), ("distributors", distributors)):
        kind = group[:-1]
        seen: set[str] = set()
        for i, person in enumerate(people):
            if person.id in seen or kinds.get(person.id, kind) != kind:
                raise BadMessage(f"id {person.id!r} is used twice (guides and distributors share ids)",
                                 path=f"$.{group}[{i}].id", reason="id_taken", id=person.id)
            seen.add(person.id)
            kinds[person.id] = kind
            if codes.setdefault(person.code, person.id) != person.id:
                raise BadMessage(f"code {person.code!r} is already someone's", path=f"$.{group}[{i}].code",
                                 reason="code_taken", value=person.code)
    for i, guide in enumerate(guides):
        if guide.shop not in shop_ids:
            raise NotFound(f"guide {guide.id!r} belongs to unknown store {guide.shop!r}", path=f"$.guides[{i}].shop",
                           what="store", id=guide.shop)
    parents = {did: parent for did, (_, parent) in known.distributors.items()} | {d.id: d.parent for d in distributors}
    for i, dist in enumerate(distributors):
        path = f"$.distributors[{i}]"
        if dist.brand not in known.brands:
            raise NotFound(f"distributor {dist.id!r} belongs to unknown brand {dist.brand!r}", path=f"{path}.brand",
                           what="brand", id=dist.brand)
        if dist.parent is None:
            continue
        if dist.parent == dist.id:
            raise BadMessage(f"distributor {dist.id!r} cannot be their own parent", path=f"{path}.parent",
                             reason="own_parent", id=dist.id)
        if dist.parent not in parents:
            raise NotFound(f"distributor {dist.id!r} has unknown parent {dist.parent!r}", path=f"{path}.parent",
                           what="distributor", id=dist.parent)
    for i, dist in enumerate(distributors):
        path = f"$.distributors[{i}].parent"
        if dist.parent is not None and parents.get(dist.parent) is not None:
            raise BadMessage(
                f"{dist.id!r} -> {dist.parent!r} -> {parents[dist.parent]!r}: two levels of distributors at most",
                path=path, reason="too_deep", id=dist.id,
            )
        if any(parents.get(child) == dist.id for child in parents) and dist.parent is not None:
            raise BadMessage(f"{dist.id!r} has sub-distributors, so cannot have a parent (two levels at most)",
                             path=path, reason="too_deep", id=dist.id)
