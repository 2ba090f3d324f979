"""One `Settings` object, built once from the environment and command-line flags, and
passed to `create_app()`. Nothing in `live` reads the environment anywhere else, so a
test can build as many differently configured apps as it likes."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
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
    demo_pay: bool = True
    webhook_secret: str = ""
    webhook_window_s: int = 300
    confirm_release_units: int = 500

    templates_dir: Path = ROOT / "templates"
    static_dir: Path = ROOT / "static"

    def __post_init__(self) -> None:
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry)
            except ValueError as exc:
                raise ConfigError(f"trusted proxy {entry!r} is not an address or a network (CIDR): {exc}") from None

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

    def resolved(self) -> Settings:
        """Create the data dir and fill the secret from it when none was given."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.secret:
            return self
        path = self.data_dir / "secret"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
        return replace(self, secret=path.read_text().strip())


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
