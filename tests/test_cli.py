"""The `live` command: every subcommand answers --help, and each does its job."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from live.cli import _settings, _settings_env, build_parser
from live.tokens import Tokens

SECRET = "cli-secret-0123456789-0123456789-abcdef"


def run(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "live", *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd)


@pytest.mark.parametrize("command", [[], ["serve"], ["demo"], ["token"], ["token", "revoke"], ["backup"], ["restore"], ["migrate"], ["schema"], ["bench"]])
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.returncode == 0 and "usage: live" in result.stdout


def test_token_mints_a_verifiable_token(tmp_path):
    result = run("token", "--role", "host", "--room", "r1", "--sub", "amy", "--ttl", "45m", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    secret = (tmp_path / "secret").read_text().strip()
    claims = Tokens(secret).verify(result.stdout.strip(), "r1")
    assert (claims.role, claims.sub) == ("host", "amy")
    assert f"jti: {claims.jti}" in result.stderr  # the id to revoke it by, beside the token
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    refused = run("token", "--role", "viewer", "--room", "r1", "--data-dir", str(tmp_path))
    assert refused.returncode != 0
    bad_ttl = run("token", "--role", "host", "--room", "r1", "--ttl", "soon", "--data-dir", str(tmp_path))
    assert bad_ttl.returncode != 0 and "duration" in bad_ttl.stderr
    too_long = run("token", "--role", "host", "--room", "r1", "--ttl", "31d", "--data-dir", str(tmp_path))
    assert too_long.returncode == 2 and "30 days" in too_long.stderr
    assert run("token", "--room", "r1", "--data-dir", str(tmp_path)).returncode == 2  # no role


def test_token_revoke_writes_to_the_store(tmp_path):
    from live.ops import open_ops

    issued = run("token", "--role", "host", "--room", "r1", "--data-dir", str(tmp_path))
    jti = issued.stderr.split("jti: ")[1].split()[0]
    revoked = run("token", "revoke", jti, "--data-dir", str(tmp_path))
    assert revoked.returncode == 0 and revoked.stdout.strip() == f"revoked {jti}", revoked.stderr
    assert run("token", "revoke", "not a jti", "--data-dir", str(tmp_path)).returncode == 2

    async def check() -> set[str]:
        store = open_ops("local", tmp_path)
        await store.open()
        try:
            return await store.revoked_tokens([jti, "other-token-id"])
        finally:
            await store.close()

    assert asyncio.run(check()) == {jti}


def test_schema_prints_json_schema_of_both_directions():
    schema = json.loads(run("schema").stdout)
    assert {"client_to_server", "server_to_client"} <= set(schema["properties"])
    assert "Snapshot" in schema["$defs"] and "Hello" in schema["$defs"]


def test_demo_seeds_once_and_prints_every_page_in_both_languages(tmp_path):
    env = {"LIVE_SECRET": SECRET, "PATH": ""}
    first = run("demo", "--no-serve", "--data-dir", str(tmp_path), "--port", "8123", env=env)
    assert first.returncode == 0, first.stderr
    for lang in ("zh-CN", "en"):
        for page in ("control/demo", "host/demo", "watch/demo", "guide", "admin", "rooms/demo/review"):
            assert f"http://127.0.0.1:8123/{page}?lang={lang}" in first.stdout
    token = first.stdout.split("/control/demo?lang=en#token=")[1].split()[0]
    assert Tokens(SECRET).verify(token, "demo").role == "controller"
    second = run("demo", "--no-serve", "--data-dir", str(tmp_path), env=env)
    assert second.returncode == 0


def test_workers_need_a_shared_store(tmp_path):
    result = run("serve", "--workers", "2", "--data-dir", str(tmp_path))
    assert result.returncode == 2 and "shared store" in result.stderr


def test_unknown_store_is_a_clear_error(tmp_path):
    result = run("serve", "--store", "mongodb://x", "--data-dir", str(tmp_path))
    assert result.returncode == 2 and "unknown store" in result.stderr


def test_unknown_benchmark_lists_the_known_ones():
    result = run("bench", "nope")
    assert result.returncode == 2 and "no benchmark 'nope'" in result.stderr


@pytest.mark.parametrize(
    "argv, env, demo_pay",
    [
        (["serve"], {}, False),
        (["serve"], {"LIVE_DEMO_PAY": "1"}, True),
        (["serve", "--demo-pay"], {}, True),
        (["demo"], {}, True),
        (["demo"], {"LIVE_DEMO_PAY": "0"}, True),  # the demo's own default is a flag: it wins
        (["demo", "--no-demo-pay"], {}, False),
    ],
)
def test_viewers_pay_themselves_only_in_the_demo_or_when_told(monkeypatch, argv, env, demo_pay):
    monkeypatch.delenv("LIVE_DEMO_PAY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = _settings(build_parser().parse_args(argv))
    assert settings.demo_pay is demo_pay
    assert _settings_env(settings)["LIVE_DEMO_PAY"] == ("1" if demo_pay else "0")  # and so do its workers


def test_version_comes_from_the_package_metadata():
    from importlib import metadata

    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"live {metadata.version('live')}"


async def test_import_reads_a_catalog_excel_saved_in_gbk(tmp_path):
    from live.ops import open_ops

    path = tmp_path / "目录.csv"
    path.write_bytes("sku,title,price\r\nT1,明前龙井,5990\r\n".encode("gb18030"))
    env = {"LIVE_SECRET": SECRET, "PATH": ""}
    result = run("import", str(path), "--data-dir", str(tmp_path / "d"), env=env)
    assert result.returncode == 0 and "imported 1 product(s)" in result.stdout, result.stderr
    path.write_bytes("sku,title,price\r\nT2,x,1\r\n".encode("utf-16"))
    refused = run("import", str(path), "--data-dir", str(tmp_path / "d"), env=env)
    assert refused.returncode == 2 and "neither UTF-8 nor GB18030" in refused.stderr
    store = open_ops("local", tmp_path / "d")
    await store.open()
    try:
        assert [(p.sku, p.title) for p in await store.list_products()] == [("T1", "明前龙井")]
    finally:
        await store.close()


def test_an_unknown_time_zone_is_a_clear_error(tmp_path):
    result = run("serve", "--timezone", "Asia/Atlantis", "--data-dir", str(tmp_path))
    assert result.returncode == 2 and "IANA time zone" in result.stderr


def test_forwarded_headers_are_believed_from_the_trusted_proxies_only(tmp_path):
    from live.cli import uvicorn_config
    from live.settings import Settings

    # uvicorn's own default believes X-Forwarded-For from 127.0.0.1; ours believes nobody.
    assert uvicorn_config(Settings())["proxy_headers"] is False
    config = uvicorn_config(Settings(trusted_proxies=("127.0.0.1", "10.0.0.0/8")))
    assert (config["proxy_headers"], config["forwarded_allow_ips"]) == (True, "127.0.0.1,10.0.0.0/8")
    refused = run("serve", "--trusted-proxies", "127.0.0.1,nginx", "--data-dir", str(tmp_path))
    assert refused.returncode == 2 and "'nginx' is not an address or a network" in refused.stderr
