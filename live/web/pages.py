"""The pages: control panel, host view, viewer overlay, and a landing page.

Pages carry no secrets. Staff open them with the token in the URL fragment
(`/control/demo#token=...`), which browsers never send to the server, so it stays out
of access logs and Referer headers; the page moves it to sessionStorage and strips it
from the address bar. Viewers get a signed viewer id in an HttpOnly cookie on their
first visit to the overlay.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..errors import RoomNotFound
from ..tokens import VIEWER_COOKIE, VIEWER_COOKIE_TTL_S
from . import i18n
from .limits import client_key
from .services import Live

CSP = (
    "default-src 'self'; img-src * data: blob:; media-src * blob:; connect-src 'self' ws: wss: http: https:; "
    "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors *"
)


def render(request: Request, name: str, status: int = 200, **context: object) -> Response:
    live: Live = request.app.state.live
    lang = i18n.pick(request)
    context.update(
        lang=lang,
        t=i18n.translator(lang),
        catalog=i18n.catalog(lang),
        other_lang="en" if lang == "zh-CN" else "zh-CN",
    )
    response = live.templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.query_params.get("lang") == lang:
        response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


async def index(request: Request) -> Response:
    """A landing page that names no live: viewers come through a live's link, staff
    through their own (the admin page lists the rooms, to an admin)."""
    return render(request, "index.html")


async def _room_page(request: Request, template: str, **extra: object) -> Response:
    live: Live = request.app.state.live
    room_id = request.path_params["room"]
    try:
        room = await live.ops.get_room(room_id)
    except RoomNotFound:
        return render(request, "not_found.html", status=404, room_id=room_id)
    page = {
        "room": room.id,
        "title": room.title,
        "ws": f"/ws/{room.id}",
        "heartbeat_ms": 15_000,
        **extra,
    }
    return render(request, template, room=room, page=page)


async def admin(request: Request) -> Response:
    return render(request, "admin.html", page={"page": "admin"})


async def guide(request: Request) -> Response:
    return render(request, "guide.html", page={"page": "guide"})


async def control(request: Request) -> Response:
    live: Live = request.app.state.live
    return await _room_page(request, "control.html", page="control", confirm_units=live.settings.confirm_release_units)


async def host(request: Request) -> Response:
    return await _room_page(request, "host.html", page="host")


async def watch(request: Request) -> Response:
    live: Live = request.app.state.live
    video = request.query_params.get("video") or None
    if video is None:
        try:
            video = (await live.ops.get_room(request.path_params["room"])).video_url
        except RoomNotFound:
            pass
    if video is not None and not video.startswith(("https://", "http://", "/")):
        video = None
    response = await _room_page(request, "watch.html", page="watch", video=video, demo_pay=live.settings.demo_pay)
    # A new phone gets its viewer id here, out of its address's budget; past it the page
    # comes without one, and its socket is refused until the budget refills.
    known = live.tokens.viewer_id(request.cookies.get(VIEWER_COOKIE)) is not None
    if not known and (minted := live.new_viewer(client_key(request.scope))) is not None:
        _, cookie = minted
        response.set_cookie(
            VIEWER_COOKIE, cookie, max_age=VIEWER_COOKIE_TTL_S, httponly=True, samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response
