"""Signed, expiring tokens for staff, and the signed viewer id in the viewer's cookie.

Both are HS256 JWTs signed with the server secret. A `kind` claim keeps the two apart,
so a viewer cookie can never be replayed as a staff token. Staff tokens name one room;
an admin token may name every room (`*`), and so may a guide's (the portal spans the
brand's lives; what a guide can read is their own, whatever the room).

Every staff token has an id (`jti`), so it can be revoked on its own (`live token revoke
JTI`), and says when it was issued to the millisecond (`iat`, a JWT NumericDate may have
a fraction), so a portal link replaced a moment after it was sent is told apart from its
successor. A token lives at most `MAX_TTL_S`: a revocation is kept that long, then the
token it names has expired anyway. Whether a valid token was revoked is `live.access`'s
question (it asks the store).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

import jwt
import msgspec

from . import ids
from .errors import Forbidden, TokenExpired, Unauthorized
from .protocol import STAFF

_ALGORITHMS = ["HS256"]
_AUDIENCE = "live"
ANY_ROOM = "*"
VIEWER_COOKIE = "live_vid"
VIEWER_COOKIE_TTL_S = 400 * 86400
MAX_TTL_S = 30 * 86400
TOKEN_ID = r"^[A-Za-z0-9_-]{8,64}$"  # what a `jti` may look like (ours: 16 of these characters)


@dataclass(frozen=True, slots=True)
class Claims:
    role: str
    room: str
    sub: str
    exp: int
    jti: str = ""
    iat_ms: int = 0

    def allows_room(self, room: str) -> bool:
        return self.room == room or (self.room == ANY_ROOM and self.role in ("admin", "guide"))


@dataclass(frozen=True, slots=True)
class Issued:
    token: str
    jti: str
    exp: int  # epoch seconds


class Tokens:
    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("the token secret (LIVE_SECRET) must be at least 32 characters")
        self._secret = secret
        self._key = secret.encode()

    def mint(self, role: str, room: str, sub: str, ttl_s: int, now: float | None = None) -> str:
        return self.issue(role, room, sub, ttl_s, now).token

    def issue(self, role: str, room: str, sub: str, ttl_s: int, now: float | None = None) -> Issued:
        """A new staff token with its id (to revoke it by) and expiry."""
        if role not in STAFF:
            raise ValueError(f"staff tokens are for {sorted(STAFF)}, not {role!r}")
        if room == ANY_ROOM and role not in ("admin", "guide"):
            raise ValueError("only admin and guide tokens may be valid for every room")
        if ttl_s > MAX_TTL_S:
            raise ValueError(f"a staff token lives {MAX_TTL_S // 86400} days at most, not {ttl_s} s")
        now = time.time() if now is None else now
        jti, exp = new_token_id(), int(now + ttl_s)
        payload = {"kind": "staff", "role": role, "room": room, "sub": sub, "jti": jti, "iat": round(now, 3), "exp": exp,
                   "aud": _AUDIENCE}
        return Issued(jwt.encode(payload, self._secret, algorithm="HS256"), jti, exp)

    def verify(self, token: str, room: str | None = None, now: float | None = None) -> Claims:
        """Claims of a valid staff token, or `Unauthorized`/`TokenExpired`/`Forbidden`."""
        payload = self._decode(token, now)
        if payload.get("kind") != "staff" or payload.get("role") not in STAFF:
            raise Unauthorized("not a staff token")
        jti, iat = payload.get("jti"), payload.get("iat")
        if not isinstance(jti, str) or not isinstance(iat, (int, float)):
            raise Unauthorized("this token has no id: it was minted by an older release; mint a new one", code="token_outdated")
        claims = Claims(role=payload["role"], room=str(payload["room"]), sub=str(payload["sub"]), exp=int(payload["exp"]),
                        jti=jti, iat_ms=round(iat * 1000))
        if room is not None and not claims.allows_room(room):
            raise Forbidden(f"this token is for room {claims.room!r}, not {room!r}")
        return claims

    def viewer_cookie(self, viewer_id: str | None = None, now: float | None = None) -> tuple[str, str]:
        """A new signed viewer id and the cookie value that carries it.

        The same HS256 JWT that PyJWT makes, signed here with `hmac`: every tracked-link
        click by a new phone mints one, and PyJWT's generality costs four times as much.
        """
        viewer_id = viewer_id or new_viewer_id()
        now = time.time() if now is None else now
        payload = {"kind": "viewer", "sub": viewer_id, "iat": int(now), "exp": int(now + VIEWER_COOKIE_TTL_S), "aud": _AUDIENCE}
        signing_input = _JWT_HEADER + b"." + _b64(_json(payload))
        return viewer_id, (signing_input + b"." + _b64(self._sign(signing_input))).decode()

    def viewer_id(self, cookie: str | None, now: float | None = None) -> str | None:
        """The viewer id in a valid, unexpired viewer cookie, else None (the caller
        makes a new one). Checked by hand for the same reason it is signed by hand."""
        if not cookie or len(cookie) > 1024:
            return None
        head, _, rest = cookie.encode().partition(b".")
        body, _, signature = rest.partition(b".")
        if head != _JWT_HEADER or not hmac.compare_digest(_b64(self._sign(head + b"." + body)), signature):
            return None
        try:
            payload = _decode_json(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
        except (ValueError, msgspec.DecodeError):
            return None
        if not isinstance(payload, dict) or payload.get("kind") != "viewer" or payload.get("aud") != _AUDIENCE:
            return None
        exp, sub = payload.get("exp"), payload.get("sub")
        if not isinstance(exp, int) or exp <= (time.time() if now is None else now) or not isinstance(sub, str):
            return None
        return sub

    def _sign(self, signing_input: bytes) -> bytes:
        return hmac.new(self._key, signing_input, hashlib.sha256).digest()

    def _decode(self, token: str, now: float | None) -> dict:
        options = {"require": ["exp", "sub", "kind"]}
        try:
            if now is None:
                return jwt.decode(token, self._secret, algorithms=_ALGORITHMS, audience=_AUDIENCE, options=options)
            payload = jwt.decode(
                token, self._secret, algorithms=_ALGORITHMS, audience=_AUDIENCE, options={**options, "verify_exp": False}
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("the token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        if int(payload["exp"]) <= now:
            raise TokenExpired("the token has expired")
        return payload


_JWT_HEADER = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"  # {"alg":"HS256","typ":"JWT"}, as PyJWT writes it
_json = msgspec.json.Encoder().encode
_decode_json = msgspec.json.Decoder().decode


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def new_viewer_id() -> str:
    return "v_" + ids.token(12)


def new_token_id() -> str:
    """About 96 random bits: ids cannot be guessed, and an admin can read one out."""
    return ids.token(12)

