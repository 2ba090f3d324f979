"""Staff tokens and viewer cookies: signed, expiring, scoped to a room, never mixed up."""

from __future__ import annotations

import time

import jwt
import pytest

from live.errors import Forbidden, TokenExpired, Unauthorized
from live.tokens import ANY_ROOM, MAX_TTL_S, VIEWER_COOKIE_TTL_S, Tokens

SECRET = "s" * 40
tokens = Tokens(SECRET)


def test_a_minted_token_carries_role_room_subject_expiry_and_its_id():
    now = time.time()
    issued = tokens.issue("controller", "r1", "lily", 60, now=now)
    claims = tokens.verify(issued.token, "r1")
    assert (claims.role, claims.room, claims.sub) == ("controller", "r1", "lily")
    assert claims.exp == issued.exp == int(now + 60)
    assert claims.jti == issued.jti and len(issued.jti) == 16
    assert claims.iat_ms == round(now * 1000)  # to the millisecond
    assert tokens.verify(tokens.mint("controller", "r1", "lily", 60), "r1").jti != claims.jti


def test_a_token_without_an_id_is_refused_and_none_lives_past_the_cap():
    """Tokens minted before they had ids cannot be revoked one by one: refused."""
    old = jwt.encode({"kind": "staff", "role": "admin", "room": "*", "sub": "x", "iat": int(time.time()),
                      "exp": int(time.time()) + 60, "aud": "live"}, SECRET)
    with pytest.raises(Unauthorized) as refused:
        tokens.verify(old)
    assert refused.value.code == "token_outdated"
    assert tokens.verify(tokens.mint("admin", ANY_ROOM, "x", MAX_TTL_S)).role == "admin"
    with pytest.raises(ValueError):
        tokens.mint("admin", ANY_ROOM, "x", MAX_TTL_S + 1)


def test_expired_tokens_are_refused():
    token = tokens.mint("host", "r1", "x", 60, now=1000)
    with pytest.raises(TokenExpired):
        tokens.verify(token, "r1")
    with pytest.raises(TokenExpired):
        tokens.verify(token, "r1", now=1060)
    assert tokens.verify(token, "r1", now=1059).role == "host"


def test_tokens_are_scoped_to_their_room():
    with pytest.raises(Forbidden):
        tokens.verify(tokens.mint("controller", "r1", "x", 60), "r2")
    admin = tokens.mint("admin", ANY_ROOM, "boss", 60)
    assert tokens.verify(admin, "any-room").role == "admin"
    with pytest.raises(ValueError):
        tokens.mint("controller", ANY_ROOM, "x", 60)


def test_forged_and_tampered_tokens_are_refused():
    forged = Tokens("f" * 40).mint("admin", ANY_ROOM, "x", 60)
    with pytest.raises(Unauthorized):
        tokens.verify(forged, "r1")
    header, payload, signature = tokens.mint("host", "r1", "x", 60).split(".")
    escalated = jwt.encode({"kind": "staff", "role": "admin", "room": "*", "sub": "x", "exp": 9e9, "aud": "live"}, "wrong-" * 8)
    with pytest.raises(Unauthorized):
        tokens.verify(f"{header}.{escalated.split('.')[1]}.{signature}", "r1")
    unsigned = jwt.encode({"kind": "staff", "role": "admin", "room": "*", "sub": "x", "exp": 9e9, "aud": "live"}, None, algorithm="none")
    with pytest.raises(Unauthorized):
        tokens.verify(unsigned, "r1")


def test_viewer_cookies_are_not_staff_tokens_and_vice_versa():
    viewer_id, cookie = tokens.viewer_cookie()
    assert tokens.viewer_id(cookie) == viewer_id
    with pytest.raises(Unauthorized):
        tokens.verify(cookie, "r1")
    assert tokens.viewer_id(tokens.mint("admin", ANY_ROOM, "x", 60)) is None
    assert tokens.viewer_id("garbage") is None
    assert tokens.viewer_id(Tokens("f" * 40).viewer_cookie()[1]) is None


def test_only_staff_roles_get_tokens_and_secrets_must_be_long():
    with pytest.raises(ValueError):
        tokens.mint("viewer", "r1", "x", 60)
    with pytest.raises(ValueError):
        Tokens("short")


def test_viewer_cookies_are_the_jwts_pyjwt_makes_and_reads():
    """Signed and checked by hand for speed, the cookie stays a standard HS256 JWT:
    PyJWT reads ours, we read PyJWT's, and a cookie that expired or was edited is no one's."""
    now = time.time()
    viewer_id, cookie = tokens.viewer_cookie(now=now)
    payload = jwt.decode(cookie, SECRET, algorithms=["HS256"], audience="live")
    assert (payload["sub"], payload["kind"], payload["exp"]) == (viewer_id, "viewer", int(now) + VIEWER_COOKIE_TTL_S)
    assert cookie == jwt.encode(payload, SECRET, algorithm="HS256")
    theirs = jwt.encode({"kind": "viewer", "sub": "v_x", "exp": int(now) + 60, "aud": "live"}, SECRET, algorithm="HS256")
    assert tokens.viewer_id(theirs) == "v_x"
    assert tokens.viewer_id(tokens.viewer_cookie(now=now - VIEWER_COOKIE_TTL_S - 1)[1]) is None  # expired
    head, body, signature = cookie.split(".")
    forged = jwt.encode({**payload, "sub": "v_someone_else"}, "not-the-secret-" * 3, algorithm="HS256").split(".")[1]
    assert tokens.viewer_id(f"{head}.{forged}.{signature}") is None
    assert tokens.viewer_id(f"{head}.{body}.{signature[:-2]}") is None
    assert tokens.viewer_id(jwt.encode({**payload, "aud": "other"}, SECRET, algorithm="HS256")) is None
    assert tokens.viewer_id("a.b") is None and tokens.viewer_id("x" * 5000) is None
