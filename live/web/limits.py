"""Limits per client address: what one address may open, mint and count.

One phone, one tab: a viewer id is minted once (a signed cookie) and one socket is
open. A script on one machine can do either a thousand times a second, inflating the
room's online count, its unique viewers and a guide's clicks. So each client address
gets budgets, sized for what real crowds behind one address do (a store's Wi-Fi during
a relayed live, a carrier's NAT; README, "Limits per address"):

- `sockets`: room websockets open at once (`LIVE_ADDRESS_SOCKETS`);
- `new_viewers`: viewer ids minted, a token bucket: the overlay page's cookie, a
  tracked link's cookie, a socket that came without one;
- `clicks`: tracked-link clicks counted, a token bucket (past it a click is still
  redirected, just not counted);
- `commands`: the HTTP command API, by address and by token subject, at the room
  socket's per-connection rate (`LIVE_RATE_PER_S`, `LIVE_RATE_BURST`);
- `link_misses`: unknown link codes asked for (guessing codes gets slow, then refused).

The address is the ASGI scope's client: the peer, or, behind a proxy listed in
`LIVE_TRUSTED_PROXIES`, the address that proxy forwarded (uvicorn's proxy-headers
middleware puts it in the scope before the app runs), so limits, access logs and our
log lines all name the same one. IPv6 addresses count by their /64
(`address_key`). The budgets live in each worker process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain.ratelimit import Buckets, Counts, address_key
from ..settings import Settings

LINK_MISSES_PER_MIN = 30


@dataclass(frozen=True, slots=True)
class Limits:
    sockets: Counts
    new_viewers: Buckets
    clicks: Buckets
    commands_by_address: Buckets
    commands_by_subject: Buckets
    link_misses: Buckets

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            sockets=Counts(settings.address_sockets),
            new_viewers=Buckets(settings.address_new_viewers_per_min / 60, settings.address_new_viewers_burst),
            clicks=Buckets(settings.address_clicks_per_min / 60, settings.address_clicks_burst),
            commands_by_address=Buckets(settings.rate_per_s, settings.rate_burst),
            commands_by_subject=Buckets(settings.rate_per_s, settings.rate_burst),
            link_misses=Buckets(LINK_MISSES_PER_MIN / 60, LINK_MISSES_PER_MIN),
        )


def client_address(scope: dict[str, Any]) -> str:
    """The client's address as the server and its trusted proxies tell it."""
    client = scope.get("client")
    return client[0] if client else "?"


def client_key(scope: dict[str, Any]) -> str:
    """What the client's address is limited by (an IPv6 address: its /64)."""
    return address_key(client_address(scope))
