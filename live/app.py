"""`create_app(settings)`: the routing table, the ops over their store, the hub and their lifespan."""

from __future__ import annotations

import contextlib
import logging

import jinja2

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from .access import Gate
from .errors import LiveError
from .hub import Hub
from .logs import RequestIdMiddleware
from .metrics import Metrics
from .commands import RoomCommands
from .settings import Settings
from .ops import open_ops
from .tokens import Tokens
from .web import api, links, pages, review
from .web import metrics as web_metrics
from .web.posters import PosterPainter
from .web.h11_protocol import STATE_KEY, HeaderDeadline
from .web.limits import Limits
from .web.services import Live
from .web.sockets import room_socket

log = logging.getLogger("live")

MAX_BODY_BYTES = 8 * 1024 * 1024


def create_app(settings: Settings) -> Starlette:
    settings = settings.resolved()
    metrics = Metrics()
    ops = metrics.instrument(open_ops(settings.store, settings.data_dir))
    tokens = Tokens(settings.secret)
    live = Live(
        settings=settings,
        ops=ops,
        hub=Hub(ops, settings, metrics=metrics),
        tokens=tokens,
        gate=Gate(tokens, ops),
        commands=RoomCommands(ops, demo_pay=settings.demo_pay, metrics=metrics),
        templates=Jinja2Templates(env=_templates(settings)),
        metrics=metrics,
        posters=PosterPainter(),
        limits=Limits.of(settings),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await ops.open()
        await live.hub.start()
        try:
            # The lifespan state reaches every connection's protocol (live.web.h11_protocol).
            yield {STATE_KEY: HeaderDeadline(settings.header_timeout_s, metrics.header_timeouts.inc)}
        finally:
            await live.hub.stop()
            await ops.close()
            live.posters.close()

    routes = [
        # Tracked links first: every click of a shared link is matched against the table.
        Route("/r/{code}.{kind}", links.qr),
        Route("/r/{code}/poster.svg", links.poster),
        Route("/r/{code}/poster.png", links.poster_png),
        Route("/r/{code}", links.follow),
        Route("/", pages.index),
        Route("/control/{room}", pages.control),
        Route("/host/{room}", pages.host),
        Route("/watch/{room}", pages.watch),
        Route("/guide", pages.guide),
        Route("/admin", pages.admin),
        WebSocketRoute("/ws/{room}", room_socket),
        Route("/healthz", api.healthz),
        Route("/readyz", api.readyz),
        Route("/metrics", web_metrics.metrics),
        Route("/api/schema", api.schema),
        Route("/api/rooms/{room}", api.room_state),
        Route("/api/rooms/{room}/commands", api.room_command, methods=["POST"]),
        Route("/api/rooms/{room}/shop", api.relay, methods=["PUT"]),
        Route("/rooms/{room}/review", review.page),
        Route("/api/rooms/{room}/review", review.numbers),
        Route("/api/rooms/{room}/scripts", api.scripts_export),
        Route("/api/rooms/{room}/scripts", api.scripts_import, methods=["POST"]),
        Route("/api/rooms", api.rooms),
        Route("/api/rooms", api.create_room, methods=["POST"]),
        Route("/api/rooms/{room}/copy", api.copy_room, methods=["POST"]),
        Route("/api/rooms/{room}/catalog", api.room_catalog),
        Route("/api/catalog", api.catalog),
        Route("/api/catalog/{sku}", api.edit_product, methods=["PUT"]),
        Route("/api/catalog/import", api.catalog_import, methods=["POST"]),
        Route("/api/webhooks/orders", api.order_webhook, methods=["POST"]),
        Route("/api/guide/me", api.guide_me),
        Route("/api/guide/me/links", api.guide_link, methods=["POST"]),
        Route("/api/guide/me/reach", api.guide_reach, methods=["POST"]),
        Route("/api/guide/me/device", api.guide_device, methods=["POST"]),
        Route("/api/people", api.people),
        Route("/api/people/import", api.people_import, methods=["POST"]),
        Route("/api/people/{person}/portal", api.portal_link, methods=["POST"]),
        Route("/api/tokens/revoke", api.revoke_token, methods=["POST"]),
        Route("/api/brands/{brand}", api.put_brand, methods=["PUT"]),
        Route("/api/simulate", api.simulate, methods=["POST"]),
        Route("/api/ledger", api.ledger_view),
        Route("/api/ledger/payouts", api.payout, methods=["POST"]),
        Route("/api/rooms/{room}/orders/{order}/reassign", api.reassign, methods=["POST"]),
        Mount("/static", StaticFiles(directory=settings.static_dir), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={LiveError: api.live_error, HTTPException: _http_error},
        max_body_size=MAX_BODY_BYTES,
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=settings.accepted_hosts(), www_redirect=False),
            Middleware(RequestIdMiddleware),
        ],
    )
    app.state.live = live
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and not request.url.path.startswith("/api/"):
        return pages.render(request, "not_found.html", status=404, room_id=None)
    return api.error_response(LiveError(exc.detail or "error"), status=exc.status_code)


def _templates(settings: Settings) -> jinja2.Environment:
    """Every template escapes what it shows, SVG posters included."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(settings.templates_dir),
        autoescape=jinja2.select_autoescape(["html", "htm", "xml", "svg"], default_for_string=True),
    )


def create_app_from_env() -> Starlette:
    """The factory uvicorn's worker processes call (`live serve --workers N`)."""
    return create_app(Settings.from_env())
