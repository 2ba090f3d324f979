"""Who a staff token lets in, and whether it still does: the one check every HTTP route,
the room socket's hello and the hub's re-check of open sockets go through.

`Tokens.verify` answers for the signature, the expiry and the room. A valid token may
still have been taken back since it was minted:

- **revoked** by its id (`live token revoke JTI`, `POST /api/tokens/revoke`);
- **replaced**: a guide's portal link sent after it (`POST /api/people/{id}/portal`)
  replaces every guide token of that person issued before it, to the millisecond.

And a route may want more than a valid token: the room's staff data (its numbers,
orders, scripts, commands) is for the room's staff, `ROOM_STAFF`; a guide reads only
their own figures, through the portal, whatever room their token names.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from .errors import Forbidden, LiveError, Unauthorized
from .ops import Ops as Store
from .tokens import MAX_TTL_S, Claims, Tokens

ROOM_STAFF = frozenset({"host", "controller", "admin"})


def refusal(claims: Claims, revoked: bool, portal_since_ms: int | None) -> LiveError | None:
    """Why a token that verifies is nonetheless refused, if it is."""
    if revoked:
        return Unauthorized("this token was revoked: ask for a new link", code="token_revoked")
    if claims.role == "guide" and portal_since_ms is not None and claims.iat_ms < portal_since_ms:
        return Unauthorized("this portal link was replaced by a newer one: ask your admin for it", code="link_replaced")
    return None


async def refusals(store: Store, claims: Sequence[Claims]) -> list[LiveError | None]:
    """`refusal` for each token, with one read of the revocation list for them all."""
    revoked = await store.revoked_tokens({c.jti for c in claims})
    since = {sub: await store.portal_since(sub) for sub in {c.sub for c in claims if c.role == "guide"}}
    return [refusal(c, c.jti in revoked, since.get(c.sub)) for c in claims]


async def revoke(store: Store, jti: str, now_ms: int) -> int:
    """Revoke a staff token by its id; return until when the store keeps the entry (as
    long as a token minted now could live: the id alone does not say when it expires)."""
    until = now_ms + MAX_TTL_S * 1000
    await store.revoke_token(jti, until)
    return until


class Gate:
    def __init__(self, tokens: Tokens, store: Store) -> None:
        self.tokens = tokens
        self.store = store

    async def admit(self, token: str, room: str | None = None, roles: Collection[str] | None = None) -> Claims:
        """The claims of a token that is valid (for `room`, if given), not taken back,
        and of one of `roles` (if given); else the error that says why not."""
        claims = self.tokens.verify(token, room)
        if roles is not None and claims.role not in roles:
            raise Forbidden(f"a {claims.role} token does not open this; it is for {', '.join(sorted(roles))}")
        [refused] = await refusals(self.store, [claims])
        if refused is not None:
            raise refused
        return claims
