"""Structured logs: the JSON formatter, request ids through the real server, the room
a line is about, and `live serve` with LIVE_LOG_FORMAT=json writing only JSON lines."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx
import pytest

from live.errors import ConfigError
from live.logs import (
    JsonFormatter, TextFormatter, log_config, redact, reset_context, sane_request_id, set_request_id, set_room,
)
from live.settings import Settings
from tests.support import ROOM, SECRET, free_port

SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def record(message: str = "hello %s", args=("world",), **extra) -> logging.LogRecord:
    logger = logging.getLogger("live.test")
    return logger.makeRecord(logger.name, logging.INFO, __file__, 1, message, args, None, extra=extra or None)


def test_a_json_line_has_the_fields_and_the_context():
    rid, room = set_request_id("req-1"), set_room("r9")
    try:
        line = json.loads(JsonFormatter().format(record(subject="lily", units=3)))
    finally:
        reset_context(room)
        reset_context(rid)
    assert line.pop("ts").endswith("Z")
    assert line == {
        "level": "INFO", "logger": "live.test", "message": "hello world",
        "room": "r9", "request_id": "req-1", "subject": "lily", "units": 3,
    }


def test_a_json_line_without_context_leaves_room_and_request_out():
    line = json.loads(JsonFormatter().format(record()))
    assert "room" not in line and "request_id" not in line
    assert set(line) == {"ts", "level", "logger", "message"}


def test_extra_room_wins_over_the_context_and_secrets_are_redacted():
    room = set_room("r9")
    try:
        line = json.loads(JsonFormatter().format(record(
            room="r2", token="eyJhbGciOi.secret", authorization="Bearer x", webhook_signature="sha256=ab",
            cookie="live_vid=1", other={"nested": True},
        )))
    finally:
        reset_context(room)
    assert line["room"] == "r2"
    assert line["token"] == line["authorization"] == line["webhook_signature"] == line["cookie"] == "[redacted]"
    assert line["other"] == {"nested": True}


def test_a_json_line_carries_the_traceback_and_survives_odd_values():
    try:
        raise ValueError("boom")
    except ValueError:
        logger = logging.getLogger("live.test")
        rec = logger.makeRecord(logger.name, logging.ERROR, __file__, 1, "failed", (), sys.exc_info(),
                                extra={"when": object()})
    line = json.loads(JsonFormatter().format(rec))
    assert line["level"] == "ERROR" and "ValueError: boom" in line["exc"]
    assert line["when"].startswith("<object object")
    assert "\n" not in JsonFormatter().format(rec)


@pytest.mark.parametrize("line, logged", [
    ('GET /r1?token=abc.def HTTP/1.1', 'GET /r1?token=[redacted] HTTP/1.1'),
    ("/x?lang=en&access_token=s3&n=1", "/x?lang=en&access_token=[redacted]&n=1"),
    ("/x?API_KEY=k;jwt=j#frag", "/x?API_KEY=[redacted];jwt=[redacted]#frag"),
    ("/x?t=eyJhbGciOi.eyJzdWIi.c2ln", "/x?t=[redacted]"),
    ("/ws/eyJhbGciOi.eyJzdWIi.c2ln", "/ws/[redacted]"),
    ("/metrics?lang=en&room=r1", "/metrics?lang=en&room=r1"),
])
def test_secrets_in_a_url_are_blanked(line, logged):
    assert redact(line) == logged


def test_the_text_formatter_names_room_and_request():
    rid, room = set_request_id("req-1"), set_room("r9")
    try:
        text = TextFormatter().format(record())
    finally:
        reset_context(room)
        reset_context(rid)
    assert text.endswith("INFO    live.test [room=r9 req=req-1] hello world")


@pytest.mark.parametrize("value, sane", [
    ("abc-123", True), ("A.b_c-9", True), ("x" * 64, True),
    ("x" * 65, False), ("", False), ("has space", False), ("semi;colon", False), ("ünï", False),
    ("line\nbreak", False), (None, False),
])
def test_sane_request_ids(value, sane):
    assert (sane_request_id(value) is not None) is sane
    assert sane_request_id(value) in (value, None)


def test_log_formats(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert log_config(settings)["loggers"]["live"]["handlers"] == ["live"]
    config = log_config(Settings(data_dir=tmp_path, log_format="json", log_level="warning"))
    assert config["formatters"]["json"]["()"] == "live.logs.JsonFormatter"
    for name in ("uvicorn", "uvicorn.access", "live"):
        assert config["loggers"][name]["handlers"] == ["json"]
    assert config["loggers"]["live"]["level"] == "WARNING"
    with pytest.raises(ConfigError):
        log_config(Settings(data_dir=tmp_path, log_format="xml"))


# --- through the real server ------------------------------------------------------------


async def test_a_sane_request_id_comes_back(server):
    async with server.http() as http:
        for path in ("/healthz", "/api/rooms/r1", "/no/such/page"):
            response = await http.get(path, headers={"X-Request-ID": "abc-123.X_y"})
            assert response.headers["x-request-id"] == "abc-123.X_y", path


@pytest.mark.parametrize("bad", ["has space", "x" * 65, "semi;colon", "q%20"])
async def test_a_bad_request_id_is_replaced(server, bad):
    async with server.http() as http:
        response = await http.get("/healthz", headers={"X-Request-ID": bad})
    given = response.headers["x-request-id"]
    assert given != bad and SANE.fullmatch(given)
    assert response.headers.get_list("x-request-id") == [given]


async def test_every_request_gets_its_own_id(server):
    async with server.http() as http:
        ids = {(await http.get("/healthz")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5 and all(SANE.fullmatch(i) for i in ids)


@contextmanager
def captured_json(logger_name: str = "live"):
    """The JSON lines `logger_name` writes meanwhile (added after the server started:
    uvicorn's log config replaces the handlers of `live`)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        lines.extend(json.loads(line) for line in out.getvalue().splitlines())
        lines.append({"raw": out.getvalue()})


async def test_a_command_on_a_room_socket_logs_its_room_and_request(server):
    token = server.token("controller")
    with captured_json() as lines:
        controller = await server.client(additional_headers={"X-Request-ID": "ws-conn-7"})
        await controller.hello(token=token)
        await controller.send({"type": "pin", "sku": "P2"})
        await controller.recv_type("ack")
    raw = lines.pop()["raw"]
    [line] = [line for line in lines if line["logger"] == "live.commands"]
    assert line["room"] == ROOM and line["request_id"] == "ws-conn-7"
    assert line["command"] == "pin" and line["subject"] == "tester" and line["message"] == "controller pin: ok"
    assert token not in raw


async def test_a_command_over_http_logs_its_room_and_request(server):
    token = server.token("controller")
    with captured_json() as lines:
        async with server.http() as http:
            response = await http.post(
                f"/api/rooms/{ROOM}/commands", json={"type": "pin", "sku": "P9"},
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "cmd-42"},
            )
    assert response.status_code == 404 and response.headers["x-request-id"] == "cmd-42"
    raw = lines.pop()["raw"]
    [line] = [line for line in lines if line["logger"] == "live.commands"]
    assert (line["room"], line["request_id"], line["message"]) == (ROOM, "cmd-42", "controller pin: refused")
    assert line["code"] == "product_not_found"
    assert token not in raw


async def test_live_serve_with_json_logs_writes_only_json_and_no_secrets(tmp_path):
    """A real `live serve` child process: uvicorn's lines and the access log are JSON,
    the access line has the request id, and no token, cookie or signature shows up."""
    port = free_port()
    env = {**os.environ, "LIVE_SECRET": SECRET, "LIVE_LOG_FORMAT": "json", "LIVE_METRICS_TOKEN": "metrics-secret-123456"}
    process = subprocess.Popen(
        [sys.executable, "-m", "live", "serve", "--port", str(port), "--data-dir", str(tmp_path / "d"), "--log-level", "info"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    secrets = ["metrics-secret-123456", "v_cookie_value_123", "sha256=deadbeef", "Bearer-ish-token-xyz"]
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(base + "/healthz", timeout=0.5)
                break
            except httpx.HTTPError:
                assert process.poll() is None and time.monotonic() < deadline, "live serve did not start"
                time.sleep(0.05)
        response = httpx.get(
            base + "/metrics?lang=en",
            headers={"X-Request-ID": "scrape-1", "Authorization": "Bearer metrics-secret-123456",
                     "Cookie": "live_vid=v_cookie_value_123"},
        )
        assert response.status_code == 200
        httpx.post(base + "/api/webhooks/orders", content=b"{}",
                   headers={"X-Live-Signature": "sha256=deadbeef", "Authorization": "Bearer Bearer-ish-token-xyz"})
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert any(line["logger"] == "uvicorn.error" and "Uvicorn running" in line["message"] for line in lines)
    [access] = [line for line in lines if line["logger"] == "uvicorn.access" and line.get("request_id") == "scrape-1"]
    assert (access["method"], access["path"], access["status"]) == ("GET", "/metrics?lang=en", 200)
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    for secret in secrets:
        assert secret not in stdout and secret not in stderr


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_token_put_in_a_query_string_never_reaches_the_log(tmp_path, log_format):
    """Tokens belong in URL fragments and headers; a client that puts one in a query
    string by mistake (`?token=`, `?access_token=`, or any JWT) gets it blanked in the
    access lines and the websocket lines of a real `live serve`, in both formats."""
    from websockets.sync.client import connect

    from live.tokens import Tokens

    port = free_port()
    env = {**os.environ, "LIVE_SECRET": SECRET, "LIVE_LOG_FORMAT": log_format}
    process = subprocess.Popen(
        [sys.executable, "-m", "live", "serve", "--port", str(port), "--data-dir", str(tmp_path / "d"), "--log-level", "info"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    jwt = Tokens(SECRET).mint("controller", ROOM, "lily", 600)
    secrets = [jwt, jwt.split(".")[1], "plain-secret-abc123"]
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(base + "/healthz", timeout=0.5)
                break
            except httpx.HTTPError:
                assert process.poll() is None and time.monotonic() < deadline, "live serve did not start"
                time.sleep(0.05)
        assert httpx.get(f"{base}/api/rooms/{ROOM}?token={jwt}").status_code == 401
        assert httpx.get(f"{base}/control/{ROOM}?lang=en&token={jwt}").status_code == 404
        httpx.get(f"{base}/guide?access_token=plain-secret-abc123&x=1")
        httpx.get(f"{base}/?t={jwt}")
        with connect(f"ws://127.0.0.1:{port}/ws/{ROOM}?token={jwt}") as ws:
            ws.send('{"type": "hello", "v": 1}')
            ws.recv(timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)
    logged = stdout + stderr
    for secret in secrets:
        assert secret not in logged
    assert f"/api/rooms/{ROOM}?token=[redacted]" in logged and "access_token=[redacted]&x=1" in logged
    assert f"/ws/{ROOM}?token=[redacted]" in logged and "/?t=[redacted]" in logged
