"""Brands, stores, guides and distributors; tracked links and their clicks; portals.

Guides and distributors are "promoters": one namespace of ids and of checkout codes,
so a touch's owner names exactly one person.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection

import msgspec

from ..domain import attribution
from ..domain import people as people_rules
from ..errors import BadMessage, Forbidden, NotFound
from ..protocol import Brand, Distributor, Guide, Link, Shop
from ..protocol.records import Click, Portal, Revoked, SelfViewer
from ..store.base import ClickAsk
from ..store.tx import Tx
from .core import Base
from .tables import BRANDS, CLICKS, DISTRIBUTORS, GUIDES, LINKS, PORTALS, REVOKED, SELF_VIEWERS, SHOPS, STAGE

DEFAULT_BRAND = "default"
LINK_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no look-alikes
LINK_LENGTH = 10  # 56^10: about 58 bits

Person = Guide | Distributor


def new_code() -> str:
    return "".join(secrets.choice(LINK_ALPHABET) for _ in range(LINK_LENGTH))


def default_brand(brand_id: str) -> Brand:
    return Brand(brand_id, "Default brand" if brand_id == DEFAULT_BRAND else brand_id)


class People(Base):
    # --- brands and people --------------------------------------------------------------

    async def put_brand(self, brand: Brand) -> None:
        """Insert or replace a brand: its binding rules, commission rates and after-sales window."""

        async def decide(tx: Tx) -> None:
            (tx.put if await tx.get(BRANDS, brand.id) else tx.insert)(BRANDS, brand)

        await self.run(None, decide)

    async def brands(self) -> list[Brand]:
        """Every brand (the `default` one always), ordered by id."""
        brands = {b.id: b for b in await (await self.store.begin(None)).all(BRANDS)}
        brands.setdefault(DEFAULT_BRAND, default_brand(DEFAULT_BRAND))
        return [brands[k] for k in sorted(brands)]

    async def brand_of(self, tx: Tx, brand_id: str) -> Brand:
        return await tx.get(BRANDS, brand_id) or default_brand(brand_id)

    async def put_people(self, shops: list[Shop], guides: list[Guide], distributors: list[Distributor] | None = None) -> None:
        """Insert or replace stores, guides and distributors by id, all or none: every
        store's brand, guide's store and distributor's parent must exist; ids and
        checkout codes are unique across guides and distributors; a distributor's parent
        has no parent (two levels at most). Existing orders keep who they went to."""
        distributors = distributors or []

        async def decide(tx: Tx) -> None:
            known = people_rules.Known(
                brands={b.id for b in await tx.all(BRANDS)} | {DEFAULT_BRAND},
                shops={s.id for s in await tx.all(SHOPS)},
                guides={g.id: g.code for g in await tx.all(GUIDES)},
                distributors={d.id: (d.code, d.parent) for d in await tx.all(DISTRIBUTORS)},
            )
            people_rules.check(shops, guides, distributors, known)
            for table, records in ((SHOPS, shops), (GUIDES, guides), (DISTRIBUTORS, distributors)):
                for record in records:
                    (tx.put if await tx.get(table, record.id) else tx.insert)(table, record)

        await self.run(None, decide)

    async def shops(self) -> list[Shop]:
        return await (await self.store.begin(None)).all(SHOPS)

    async def guides(self) -> list[Guide]:
        return sorted(await (await self.store.begin(None)).all(GUIDES), key=lambda g: g.id)

    async def distributors(self) -> list[Distributor]:
        return sorted(await (await self.store.begin(None)).all(DISTRIBUTORS), key=lambda d: d.id)

    async def guide(self, guide_id: str) -> Guide:
        guide = await (await self.store.begin(None)).get(GUIDES, guide_id)
        if guide is None:
            raise NotFound(f"no guide {guide_id!r}", path="$.guide", what="guide", id=guide_id)
        return guide

    async def person_of(self, tx: Tx, person_id: str | None) -> tuple[str, Person] | None:
        if person_id is None:
            return None
        guide = await tx.get(GUIDES, person_id)
        if guide is not None:
            return "guide", guide
        dist = await tx.get(DISTRIBUTORS, person_id)
        return ("distributor", dist) if dist is not None else None

    async def promoter(self, tx: Tx, person_id: str, path: str) -> tuple[str, Person]:
        found = await self.person_of(tx, person_id)
        if found is None:
            raise NotFound(f"no guide or distributor {person_id!r}", path=path, what="promoter", id=person_id)
        return found

    async def brand_of_person(self, tx: Tx, person: Person) -> str:
        if isinstance(person, Guide):
            shop = await tx.get(SHOPS, person.shop)
            return shop.brand if shop else DEFAULT_BRAND
        return person.brand

    async def set_reach(self, person_id: str, reach: int) -> None:
        """How many customers a guide or distributor can reach (their funnel's start)."""

        async def decide(tx: Tx) -> None:
            kind, person = await self.promoter(tx, person_id, "$.guide")
            tx.put(GUIDES if kind == "guide" else DISTRIBUTORS, msgspec.structs.replace(person, reach=reach))

        await self.run(None, decide)

    async def note_self(self, owner: str, viewer: str) -> None:
        """This viewer is that guide or distributor (for self-referral)."""

        async def decide(tx: Tx) -> None:
            await self.promoter(tx, owner, "$.owner")
            record = SelfViewer(viewer, owner)
            if await tx.get(SELF_VIEWERS, record.key) is None:
                tx.insert(SELF_VIEWERS, record)

        await self.run(None, decide)

    async def reissue_portal(self, person_id: str, since_ms: int) -> None:
        """Tokens of `person_id` issued before `since_ms` (epoch ms) no longer open
        anything: a new portal link replaces the old ones."""

        async def decide(tx: Tx) -> None:
            await self.promoter(tx, person_id, "$.person")
            record = Portal(person_id, since_ms)
            (tx.put if await tx.get(PORTALS, person_id) else tx.insert)(PORTALS, record)

        await self.run(None, decide)

    async def portal_since(self, person_id: str) -> int | None:
        """When `person_id`'s current portal links began (epoch ms), if ever reissued.
        (Stores written before tokens had ids hold seconds here: older than any token
        that can still be verified.)"""
        portal = await (await self.store.begin(None)).get(PORTALS, person_id)
        return None if portal is None else portal.since

    async def revoke_token(self, jti: str, until: int) -> None:
        """Refuse the staff token with this id from now on, until `until` (epoch ms;
        the token has expired by then, and the entry is dropped)."""

        async def decide(tx: Tx) -> None:
            for gone in [r for r in await tx.all(REVOKED) if r.until <= tx.now and r.jti != jti]:
                tx.delete(REVOKED, gone.jti)
            held = await tx.get(REVOKED, jti)
            record = Revoked(jti, max(until, held.until if held else until))
            (tx.put if held else tx.insert)(REVOKED, record)

        await self.run(None, decide)

    async def revoked_tokens(self, jtis: Collection[str]) -> set[str]:
        """Which of these token ids are revoked now."""
        tx = await self.store.begin(None)
        return {r.jti for r in await tx.get_many(REVOKED, sorted(jtis)) if r.until > tx.now}

    # --- tracked links and clicks -------------------------------------------------------

    async def create_link(self, owner: str, room_id: str, sku: str | None = None) -> Link:
        """The tracked link of a guide or distributor for a live (and one of its
        products): made once with a random code, the same link after."""
        await self.known(room_id)

        async def decide(tx: Tx) -> Link:
            room = await self.room_of(tx, room_id)
            kind, person = await self.promoter(tx, owner, "$.owner")
            if await self.brand_of_person(tx, person) != room.brand:
                raise Forbidden(f"{owner!r} is not of the brand of room {room_id!r}", path="$.owner", reason="other_brand")
            if sku is not None:
                stage = await tx.get(STAGE, "stage", room_id)
                if stage is None or sku not in stage.lineup:
                    raise NotFound(f"{sku!r} is not in the lineup", path="$.sku", what="product", id=sku)
            made = await tx.find_one(LINKS.index("for"), f"{owner}\0{room_id}\0{sku or ''}")
            if made is not None:
                return made  # one link per person, live and product
            code = new_code()
            while await tx.get(LINKS, code) is not None:
                code = new_code()
            link = Link(code, owner, kind, room_id, tx.now, sku)
            tx.insert(LINKS, link)
            return link

        link, _ = await self.run(None, decide)
        return link

    async def link(self, code: str) -> Link:
        """The link with this code, or `NotFound`."""
        link = self._links.get(code)
        if link is None:
            link = await (await self.store.begin(None)).get(LINKS, code)
            if link is None:
                raise NotFound("no such link", path="$.code", what="link")
            self._links[code] = link  # a link never changes once made
        return link

    async def links(self, owner: str) -> list[Link]:
        """A person's links, oldest first."""
        return await (await self.store.begin(None)).find(LINKS.index("owner"), owner)

    async def record_click(self, code: str, viewer: str) -> str | None:
        """Record a click on a link, durably, and return its id (an order webhook may
        name it); None (nothing recorded) if the same viewer clicked it within the hour."""
        link = await self.link(code)
        click = Click(new_click_id(), code, link.owner, link.room, viewer, self.clock())
        counted = await self.store.click(ClickAsk(click, code, viewer, attribution.CLICK_DEDUPE_MS))
        return click.id if counted else None

    async def clicks_of(self, tx: Tx, viewer: str) -> list[Click]:
        return await tx.find(CLICKS.index("viewer"), viewer)


def new_click_id() -> str:
    """Click ids go to shops (a webhook may name one): random, so none can be guessed."""
    return "k" + secrets.token_urlsafe(12)


__all__ = ["DEFAULT_BRAND", "People", "BadMessage", "new_code"]
