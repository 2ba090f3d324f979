"""What every route needs, built once by `create_app()` and kept on `app.state.live`."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from ..access import Gate
from ..hub import Hub
from ..metrics import Metrics
from ..commands import RoomCommands
from ..settings import Settings
from ..ops import Ops
from ..tokens import Tokens
from .posters import PosterPainter
from .limits import Limits


@dataclass(frozen=True, slots=True)
class Live:
    settings: Settings
    ops: Ops
    hub: Hub
    tokens: Tokens
    gate: Gate
    commands: RoomCommands
    templates: Jinja2Templates
    metrics: Metrics
    posters: PosterPainter
    limits: Limits

    def new_viewer(self, address: str) -> tuple[str, str] | None:
        """A new viewer id and its signed cookie, out of the budget of new viewer ids of
        the client address `address` (`client_key`); None past it."""
        if not self.limits.new_viewers.take(address, self.ops.clock()):
            self.metrics.limited["new_viewers"].inc()
            return None
        return self.tokens.viewer_cookie()

    def url(self, request: Request, path: str) -> str:
        """An absolute URL to hand out (QR codes, portal links): `LIVE_PUBLIC_URL` if set,
        else the address this request came to (a host name the server accepts)."""
        base = self.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
        return base + path

    def url_cache_control(self, max_age: int) -> str:
        """`Cache-Control` for a response holding a `url()`: shared caches may keep it
        only when the public URL made it; from the request's `Host`, it is the asker's."""
        return f"{'public' if self.settings.public_url else 'private'}, max-age={max_age}"
