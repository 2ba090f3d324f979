"""`create_app(settings)`: the routing table, the store, the hub and their lifespan."""

from __future__ import annotations

import contextlib
import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from .errors import LiveError
from .hub import Hub
from .rooms import RoomCommands
from .settings import Settings
from .store import open_store
from .tokens import Tokens
from .web import api, pages
from .web.services import Live
from .web.sockets import room_socket

log = logging.getLogger("live")

MAX_BODY_BYTES = 8 * 1024 * 1024


def create_app(settings: Settings) -> Starlette:
    settings = settings.resolved()
    store = open_store(settings.store, settings.data_dir)
    live = Live(
        settings=settings,
        store=store,
        hub=Hub(store, settings),
        tokens=Tokens(settings.secret),
        commands=RoomCommands(store, demo_pay=settings.demo_pay),
        templates=Jinja2Templates(directory=settings.templates_dir),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await store.open()
        await live.hub.start()
        try:
            yield
        finally:
            await live.hub.stop()
            await store.close()

    routes = [
        Route("/", pages.index),
        Route("/control/{room}", pages.control),
        Route("/host/{room}", pages.host),
        Route("/watch/{room}", pages.watch),
        Route("/guide/{room}", pages.guide),
        Route("/admin", pages.admin),
        Route("/share/{room}/{code}.svg", pages.share_qr),
        WebSocketRoute("/ws/{room}", room_socket),
        Route("/healthz", api.healthz),
        Route("/readyz", api.readyz),
        Route("/api/schema", api.schema),
        Route("/api/rooms/{room}", api.room_state),
        Route("/api/rooms/{room}/commands", api.room_command, methods=["POST"]),
        Route("/api/rooms/{room}/scripts", api.scripts_export),
        Route("/api/rooms/{room}/scripts", api.scripts_import, methods=["POST"]),
        Route("/api/rooms", api.rooms),
        Route("/api/catalog", api.catalog),
        Route("/api/catalog/import", api.catalog_import, methods=["POST"]),
        Route("/api/webhooks/orders", api.order_webhook, methods=["POST"]),
        Mount("/static", StaticFiles(directory=settings.static_dir), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={LiveError: api.live_error, HTTPException: _http_error},
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.live = live
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and not request.url.path.startswith("/api/"):
        return pages.render(request, "not_found.html", status=404, room_id=None)
    return api.error_response(LiveError(exc.detail or "error"), status=exc.status_code)


def create_app_from_env() -> Starlette:
    """The factory uvicorn's worker processes call (`live serve --workers N`)."""
    return create_app(Settings.from_env())
