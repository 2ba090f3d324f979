"""One `Settings` object, built once from the environment and command-line flags, and
passed to `create_app()`. Nothing in `live` reads the environment anywhere else, so a
test can build as many differently configured apps as it likes."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .datadir import FILE_MODE, private_dir, private_file
from .errors import ConfigError

PACKAGE = Path(__file__).resolve().parent  # templates/ and static/ ship inside it
# The environment that turns the limits per client address off, for load that comes
# from one machine (the benchmarks, tests with thousands of clients): one address there
# is one load generator, not one store's crowd.
ONE_MACHINE_LOAD = {"LIVE_ADDRESS_SOCKETS": "0", "LIVE_ADDRESS_NEW_VIEWERS_BURST": "0", "LIVE_ADDRESS_CLICKS_BURST": "0"}


@dataclass(frozen=True, kw_only=True)
class Settings:
    store: str = "local"
    data_dir: Path = Path(".live")
    secret: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    public_url: str = ""
    # Host names requests may carry, besides the public URL's (`accepted_hosts`).
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")
    # addresses or networks (CIDR) of the reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed; from anyone else they are ignored
    trusted_proxies: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    log_level: str = "info"
    log_format: str = "text"  # text (a terminal) or json (one object per line, for production)
    metrics_token: str = ""  # when set, /metrics needs "Authorization: Bearer <it>"

    # fan-out and connections (docs/protocol.md explains each)
    viewer_tick_ms: int = 1000
    staff_tick_ms: int = 1000
    resume_window: int = 1000
    backlog_bytes: int = 512 * 1024
    max_frame_bytes: int = 64 * 1024
    hello_timeout_s: float = 10.0
    header_timeout_s: float = 10.0  # a request's head (request line and headers) must arrive within this
    idle_timeout_s: float = 75.0
    ws_ping_interval_s: float = 20.0
    rate_per_s: float = 20.0
    rate_burst: int = 40
    presence_grace_ms: int = 5000
    token_ttl_s: int = 12 * 3600

    # per client address, per worker process (README, "Limits per address"); 0 turns one off
    address_sockets: int = 500
    address_new_viewers_per_min: float = 120.0
    address_new_viewers_burst: int = 500
    address_clicks_per_min: float = 120.0
    address_clicks_burst: int = 500

    # commerce
    demo_pay: bool = False  # viewers confirm their own payment: `live demo` only, never where money is real
    webhook_secret: str = ""
    webhook_window_s: int = 300
    confirm_release_units: int = 500

    # exports: the time zone of their dates when the page does not send its own (?tz=)
    timezone: str = "Asia/Shanghai"

    templates_dir: Path = PACKAGE / "templates"
    static_dir: Path = PACKAGE / "static"

    def __post_init__(self) -> None:
        if zone_named(self.timezone) is None:
            raise ConfigError(f"timezone {self.timezone!r} is not an IANA time zone name such as Asia/Shanghai")
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry)
            except ValueError as exc:
                raise ConfigError(f"trusted proxy {entry!r} is not an address or a network (CIDR): {exc}") from None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **flags: Any) -> Settings:
        """Environment first, then flags that were given (not None) on top."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get("LIVE_" + f.name.upper())
            if raw:
                values[f.name] = _parse(f.name, type(f.default), raw)
        known = {f.name for f in fields(cls)}
        unknown = set(flags) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in flags.items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"])
        return cls(**values)

    def accepted_hosts(self) -> list[str]:
        """The `Host` names the server answers for: `allowed_hosts` and the public URL's.
        Links, QR codes and posters are built from the public URL or else from the
        request's `Host`, so accepting any name (`*`) needs a public URL."""
        hosts = list(self.allowed_hosts)
        public = urlsplit(self.public_url).hostname if self.public_url else None
        if public:
            hosts.append(f"[{public}]" if ":" in public else public)
        elif "*" in hosts:
            raise ConfigError(
                "LIVE_ALLOWED_HOSTS=* needs LIVE_PUBLIC_URL: links and QR codes would carry any Host a client sends"
            )
        return hosts

    def resolved(self) -> Settings:
        """Create the data dir (private: `live/datadir.py`) and fill the secret from it
        when none was given."""
        private_dir(self.data_dir)
        if self.secret:
            return self
        path = self.data_dir / "secret"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
        private_file(path)
        return replace(self, secret=path.read_text().strip())


_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$")


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA time zone of that name (`Asia/Shanghai`, `UTC`), or None. The name is
    checked before any file is looked up, since it may come from a request."""
    if len(name) > 64 or not _ZONE_NAME.match(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones, such as Asia
        return None


def _parse(name: str, field_type: type, raw: str) -> Any:
    if field_type is bool:
        if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ConfigError(f"LIVE_{name.upper()}={raw!r} is not a yes/no value")
        return raw.lower() in ("1", "true", "yes", "on")
    if field_type is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    try:
        return field_type(raw)
    except ValueError:
        raise ConfigError(f"LIVE_{name.upper()}={raw!r} is not a valid {field_type.__name__}") from None
