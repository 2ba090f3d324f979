"""Logs: the request and room a line is about, a JSON formatter, and uvicorn's config.

- `request_id()` and `room_id()` read a context variable: `RequestIdMiddleware` sets the
  first for every HTTP request and websocket (from a sane `X-Request-ID`, or a new one),
  the room socket and the command handler set the second. It holds per-task values,
  not state: every app in a process shares it the way tasks share `asyncio`.
- `JsonFormatter` writes one JSON object per line: `ts`, `level`, `logger`, `message`,
  `room` and `request_id` when known, then the record's `extra` fields, `exc` for a
  traceback. Extra fields whose names look like secrets are redacted.
- `log_config(settings)` is the `logging.config.dictConfig` dict handed to uvicorn:
  `LIVE_LOG_FORMAT=text` (the default, for a terminal) or `json` (for production),
  uvicorn's own loggers included, so every line of the process has one shape.

What never reaches a log: tokens (staff tokens travel in URL fragments and in the
`hello` frame, neither of which is logged), cookies, `Authorization` headers and
webhook signatures (uvicorn's access line has the method, path, query and status only).
No query string of ours carries a secret, but a client may put a token in one by
mistake (`/control/r1?token=...`): `RedactTokens`, on every handler of `log_config`,
blanks the values of query parameters named like a secret, and anything shaped like a
JWT, in every line before it is written.
"""

from __future__ import annotations

import contextvars
import copy
import datetime
import json
import logging
import re

from collections.abc import Awaitable
from typing import Any

from . import ids
from .errors import ConfigError
from .settings import Settings

# (request id, room id) in one variable: one context entry per task, not two (each
# entry a websocket's task holds costs memory beside every idle viewer).
_context: contextvars.ContextVar[tuple[str | None, str | None]] = contextvars.ContextVar(
    "live_log_context", default=(None, None)
)


def request_id() -> str | None:
    """The id of the request or websocket this task serves, if any."""
    return _context.get()[0]


def room_id() -> str | None:
    """The room this task is handling, if any."""
    return _context.get()[1]


def set_request_id(rid: str | None) -> contextvars.Token:
    return _context.set((rid, _context.get()[1]))


def set_room(room: str | None) -> contextvars.Token:
    return _context.set((_context.get()[0], room))


def reset_context(token: contextvars.Token) -> None:
    """Undo a `set_request_id` or `set_room`."""
    _context.reset(token)


FORMATS = ("text", "json")
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SECRET_NAME = re.compile(r"token|jwt|secret|password|authorization|cookie|signature|api_?key", re.IGNORECASE)
REDACTED = "[redacted]"

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName", "color_message",  # uvicorn's colored copy of the message
}


_QUERY_PARAM = re.compile(r"([?&;])([^=&;#\s\"']+)=([^&;#\s\"']*)")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    """`text` (a URL, or a line holding one) with the value of every query parameter
    named like a secret (`token=`, `access_token=`, `api_key=`...) and every JWT blanked."""
    if "=" in text:
        text = _QUERY_PARAM.sub(_redact_param, text)
    return _JWT.sub(REDACTED, text) if "eyJ" in text else text


def _redact_param(match: re.Match) -> str:
    return f"{match[1]}{match[2]}={REDACTED}" if _SECRET_NAME.search(match[2]) else match[0]


class RedactTokens(logging.Filter):
    """Blanks secrets that a request's URL may carry (see `redact`) in a record's message
    and arguments, before any formatter sees them: uvicorn's access and websocket lines
    print the path with its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        color = record.__dict__.get("color_message")
        if isinstance(color, str):
            record.color_message = redact(color)
        return True


def new_request_id() -> str:
    return ids.hex_token(8)


def sane_request_id(value: str | None) -> str | None:
    """`value` if it is a request id we can echo and log as is: at most 64 characters of
    letters, digits, `.`, `_` and `-`."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


class RequestIdMiddleware:
    """Pure ASGI (it never wraps a websocket's receive or its frames): every HTTP request
    and websocket gets a request id (`request_id()` in its task), taken from its
    `X-Request-ID` header when sane, made up otherwise; HTTP responses carry it back in
    `X-Request-ID`.

    uvicorn runs each request and each websocket in a task of its own, so the id set
    here lives exactly as long as what it names. For a websocket this is a plain call,
    not a coroutine: no frame of ours stays alive beside each of 10,000 idle viewers."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, scope, receive, send) -> Awaitable[None]:
        kind = scope["type"]
        if kind == "http":
            return self._http(scope, receive, send)
        if kind == "websocket":
            set_request_id(_request_id_of(scope))
        return self.app(scope, receive, send)

    async def _http(self, scope, receive, send) -> None:
        rid = _request_id_of(scope)
        token = set_request_id(rid)
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                headers.append(header)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            reset_context(token)


def _request_id_of(scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return sane_request_id(value.decode("latin-1")) or new_request_id()
    return new_request_id()


class JsonFormatter(logging.Formatter):
    """One JSON object per line. `room` and `request_id` come from the record's extra
    fields when given, else from the context variables."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = record.__dict__
        room = fields["room"] if "room" in fields else room_id()
        if room is not None:
            line["room"] = room
        rid = fields["request_id"] if "request_id" in fields else request_id()
        if rid is not None:
            line["request_id"] = rid
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, http_version, status = record.args
            line.update(client=client, method=method, path=path, http_version=http_version, status=status)
        for key, value in fields.items():
            if key in _RECORD_FIELDS or key in ("room", "request_id") or key.startswith("_") or key in line:
                continue
            line[key] = REDACTED if _SECRET_NAME.search(key) else value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`live`'s own lines for a terminal: time, level, logger, [room request], message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        fields = record.__dict__
        room = fields["room"] if "room" in fields else room_id()
        rid = fields["request_id"] if "request_id" in fields else request_id()
        context = " ".join(part for part in (room and f"room={room}", rid and f"req={rid}") if part)
        context = f" [{context}]" if context else ""
        return f"{record.asctime} {record.levelname:<7} {record.name}{context} {record.message}"


def log_config(settings: Settings) -> dict[str, Any]:
    """The dictConfig for uvicorn's `log_config`: uvicorn's own loggers and `live`'s."""
    fmt = settings.log_format.lower()
    if fmt not in FORMATS:
        raise ConfigError(f"LIVE_LOG_FORMAT={settings.log_format!r}: use one of {', '.join(FORMATS)}")
    level = settings.log_level.upper()
    if fmt == "json":
        return {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"redact": {"()": "live.logs.RedactTokens"}},
            "formatters": {"json": {"()": "live.logs.JsonFormatter"}},
            "handlers": {
                "json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout", "filters": ["redact"]},
            },
            "loggers": {
                "uvicorn": {"handlers": ["json"], "level": level, "propagate": False},
                "uvicorn.error": {"level": level},
                "uvicorn.access": {"handlers": ["json"], "level": level, "propagate": False},
                "live": {"handlers": ["json"], "level": level, "propagate": False},
            },
        }
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": "live.logs.RedactTokens"}}
    config["formatters"]["live"] = {"()": "live.logs.TextFormatter"}
    config["handlers"]["live"] = {"class": "logging.StreamHandler", "formatter": "live", "stream": "ext://sys.stderr"}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    config["loggers"]["live"] = {"handlers": ["live"], "level": level, "propagate": False}
    return config
