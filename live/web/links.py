"""Tracked links: `/r/{code}` counts the click and sends the viewer to the live.

A click is counted once per viewer per link per hour, durably, before the redirect, so
every counted click is on disk; crawlers and link previews are redirected uncounted,
and so are clicks past the client address's budgets (new viewer ids, counted clicks:
`live.web.limits`). Codes are random (about 58 bits): they cannot be guessed, and a
client that keeps asking for codes that do not exist is slowed down (a token bucket per
address) and then refused. Each link also has its QR code (`/r/{code}.svg`, `.png`) and a poster
(`/r/{code}/poster.svg`, and `poster.png` for chats that take no SVG) to share in chats
and groups.
"""

from __future__ import annotations

import io

import segno
from starlette.requests import Request
from starlette.responses import Response

from ..domain.bots import is_bot
from ..errors import NotFound
from ..tokens import VIEWER_COOKIE, VIEWER_COOKIE_TTL_S
from .limits import client_key
from .pages import render
from .services import Live


async def _known(request: Request) -> tuple[Live, object] | Response:
    live: Live = request.app.state.live
    code = request.path_params["code"]
    try:
        return live, await live.ops.link(code)
    except NotFound:
        if not live.limits.link_misses.take(client_key(request.scope), live.ops.clock()):
            return Response("too many unknown links; try again later\n", status_code=429, media_type="text/plain")
        return render(request, "link_not_found.html", status=404)


async def follow(request: Request) -> Response:
    found = await _known(request)
    if isinstance(found, Response):
        return found
    live, link = found
    cookie = None
    if not is_bot(request.headers.get("user-agent")):
        address = client_key(request.scope)
        viewer, cookie = _viewer(request, live, address)
        if viewer is not None and _counts(live, address):
            await live.ops.record_click(link.code, viewer)
    target = f"/watch/{link.room}" + (f"?product={link.sku}" if link.sku else "")
    # Every click of a shared link lands here: the headers are written out, not built
    # through RedirectResponse, MutableHeaders and http.cookies (a third of the time).
    response = Response(status_code=302)
    response.raw_headers = [
        (b"location", target.encode()),
        (b"cache-control", b"no-store"),  # never from a cache: every click must reach us
        (b"content-length", b"0"),
    ]
    if cookie is not None:
        secure = "; Secure" if request.scope.get("scheme") == "https" else ""
        value = f"{VIEWER_COOKIE}={cookie}; HttpOnly; Max-Age={VIEWER_COOKIE_TTL_S}; Path=/; SameSite=lax{secure}"
        response.raw_headers.append((b"set-cookie", value.encode()))
    return response


def _viewer(request: Request, live: Live, address: str) -> tuple[str | None, str | None]:
    """The clicking viewer's id, and a new cookie when one was minted for them; no one
    when their address has minted its budget of new viewer ids."""
    viewer = live.tokens.viewer_id(request.cookies.get(VIEWER_COOKIE))
    if viewer is not None:
        return viewer, None
    return live.new_viewer(address) or (None, None)


def _counts(live: Live, address: str) -> bool:
    """Whether the click is within its address's budget of counted clicks."""
    if live.limits.clicks.take(address, live.ops.clock()):
        return True
    live.metrics.limited["clicks"].inc()
    return False


async def qr(request: Request) -> Response:
    found = await _known(request)
    if isinstance(found, Response):
        return found
    live, link = found
    kind = request.path_params["kind"]
    if kind not in ("svg", "png"):
        return render(request, "link_not_found.html", status=404)
    code = segno.make(live.url(request, f"/r/{link.code}"), error="m")
    buffer = io.BytesIO()
    if kind == "png":
        code.save(buffer, kind="png", scale=8, border=2)
        media = "image/png"
    else:
        code.save(buffer, kind="svg", scale=8, border=2, dark="#111", light="#fff")
        media = "image/svg+xml"
    return Response(buffer.getvalue(), media_type=media, headers={"Cache-Control": live.url_cache_control(86400)})


async def _poster(request: Request) -> tuple[Live, str] | Response:
    """A poster to share: the live, who invites, the product if the link is for one, and
    the QR code, as SVG text (`templates/poster.svg`)."""
    found = await _known(request)
    if isinstance(found, Response):
        return found
    live, link = found
    room = await live.ops.get_room(link.room)
    people = {p.id: p for p in [*await live.ops.guides(), *await live.ops.distributors()]}
    product = next((p for p in await live.ops.list_products() if p.sku == link.sku), None) if link.sku else None
    url = live.url(request, f"/r/{link.code}")
    code = segno.make(url, error="m")
    matrix = [[1 if cell else 0 for cell in row] for row in code.matrix]
    context = {"room": room, "who": people.get(link.owner), "product": product, "matrix": matrix, "url": url}
    return live, live.templates.get_template("poster.svg").render(context)


async def poster(request: Request) -> Response:
    made = await _poster(request)
    if isinstance(made, Response):
        return made
    live, svg = made
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": live.url_cache_control(600)})


async def poster_png(request: Request) -> Response:
    """The poster as PNG, for chats and albums that take no SVG (`posters.py`)."""
    made = await _poster(request)
    if isinstance(made, Response):
        return made
    live, svg = made
    png = await live.posters.png(svg)
    return Response(png, media_type="image/png", headers={"Cache-Control": live.url_cache_control(600)})
