"""`GET /metrics`: the app's metrics in the Prometheus text format.

Open by default, like most exporters; with `LIVE_METRICS_TOKEN` set, a scrape must send
`Authorization: Bearer <that token>` (compared in constant time) or gets 401.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response

from ..errors import Unauthorized
from ..metrics import CONTENT_TYPE
from .api import error_response
from .services import Live


async def metrics(request: Request) -> Response:
    live: Live = request.app.state.live
    expected = live.settings.metrics_token
    if expected:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
            response = error_response(Unauthorized("send the metrics token as 'Authorization: Bearer <token>'"))
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return Response(live.metrics.exposition(), media_type=CONTENT_TYPE)
