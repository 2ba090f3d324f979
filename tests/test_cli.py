"""The `live` command: every subcommand answers --help, and each does its job."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from live.tokens import Tokens

SECRET = "cli-secret-0123456789-0123456789-abcdef"


def run(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "live", *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd)


@pytest.mark.parametrize("command", [[], ["serve"], ["demo"], ["token"], ["schema"], ["bench"]])
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.returncode == 0 and "usage: live" in result.stdout


def test_token_mints_a_verifiable_token(tmp_path):
    result = run("token", "--role", "host", "--room", "r1", "--sub", "amy", "--ttl", "45m", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    secret = (tmp_path / "secret").read_text().strip()
    claims = Tokens(secret).verify(result.stdout.strip(), "r1")
    assert (claims.role, claims.sub) == ("host", "amy")
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    refused = run("token", "--role", "viewer", "--room", "r1", "--data-dir", str(tmp_path))
    assert refused.returncode != 0
    bad_ttl = run("token", "--role", "host", "--room", "r1", "--ttl", "soon", "--data-dir", str(tmp_path))
    assert bad_ttl.returncode != 0 and "duration" in bad_ttl.stderr


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


def test_forwarded_headers_are_believed_from_the_trusted_proxies_only(tmp_path):
    from live.cli import uvicorn_config
    from live.settings import Settings

    # uvicorn's own default believes X-Forwarded-For from 127.0.0.1; ours believes nobody.
    assert uvicorn_config(Settings())["proxy_headers"] is False
    config = uvicorn_config(Settings(trusted_proxies=("127.0.0.1", "10.0.0.0/8")))
    assert (config["proxy_headers"], config["forwarded_allow_ips"]) == (True, "127.0.0.1,10.0.0.0/8")
    refused = run("serve", "--trusted-proxies", "127.0.0.1,nginx", "--data-dir", str(tmp_path))
    assert refused.returncode == 2 and "'nginx' is not an address or a network" in refused.stderr
