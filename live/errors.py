"""The error tree of `live`.

Handlers raise; the edge (a websocket or the HTTP API) turns any `LiveError` into one
shape, `{"code", "message", "path", "params"}`. Codes are stable: clients and tests
match on them. `message` is English, for logs and scripts; a page renders the code
with its `params` from its own locale file (`live/web/locales/`), so no English
sentence reaches a zh-CN page. A refusal that says more than its class names a
`reason` among its params (`Conflict(..., reason="hold_expired")`): clients keep
matching the code, and a page says the reason when its locale has words for it.
"""

from __future__ import annotations


class LiveError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, path: str | None = None, code: str | None = None, **params: str | int | None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        if code is not None:
            self.code = code
        self.params = params


class BadMessage(LiveError):
    """A frame or body that does not decode into a protocol message."""

    code = "bad_message"


class BadJson(BadMessage):
    code = "bad_json"


class UnsupportedVersion(BadMessage):
    code = "unsupported_version"


class NotReady(LiveError):
    """A command before the `hello` that identifies the connection."""

    code = "hello_first"


class Unauthorized(LiveError):
    code = "unauthorized"
    status = 401


class TokenExpired(Unauthorized):
    code = "token_expired"


class BadSignature(Unauthorized):
    """A webhook whose HMAC does not match its body."""

    code = "bad_signature"


class StaleRequest(Unauthorized):
    """A signed request outside the replay window."""

    code = "stale_timestamp"


class Forbidden(LiveError):
    code = "forbidden"
    status = 403


class NotFound(LiveError):
    code = "not_found"
    status = 404


class RoomNotFound(NotFound):
    code = "room_not_found"


class ProductNotFound(NotFound):
    code = "product_not_found"


class Conflict(LiveError):
    code = "conflict"
    status = 409


class RateLimited(LiveError):
    code = "rate_limited"
    status = 429


class NotAvailable(LiveError):
    """What this server cannot do as it is set up (PNG posters without a CJK font)."""

    code = "not_available"
    status = 503


class StoreUnavailable(LiveError):
    code = "store_unavailable"
    status = 503


class ConfigError(LiveError):
    """A setting that cannot work (bad store URL, workers without a shared store)."""

    code = "config"
