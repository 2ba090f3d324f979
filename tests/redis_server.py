"""A real `redis-server` for tests: on a free port, in a directory of the test's own,
with the append-only file fsynced on every write (`appendfsync always`, what the
"nothing acknowledged is lost" promise needs), and killable with SIGKILL and
restartable on the same data, for the fault tests of the Redis store.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


class RedisServer:
    def __init__(self, data_dir: Path, appendfsync: str = "always", cluster: bool = False) -> None:
        self.data_dir = data_dir
        self.appendfsync = appendfsync
        self.cluster = cluster
        self.port = free_port()
        while cluster and self.port > 55_535:  # a cluster node also listens on port + 10000
            self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
                "--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", "",
                "--protected-mode", "yes", "--loglevel", "warning",
                *(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"] if self.cluster else []),
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.process.stderr.read().decode() if self.process.stderr else ''}")
            if time.monotonic() > deadline:
                raise TimeoutError("redis-server did not answer PING within 10 s")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """kill -9: no shutdown, no last save; what is on disk is what the AOF holds."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def restart(self) -> RedisServer:
        self.kill()
        return self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class RedisCluster:
    """A Redis Cluster of three masters (no replicas) on free ports: every key's slot
    lives on one of them, so a script whose keys spanned slots would fail here."""

    def __init__(self, data_dir: Path, nodes: int = 3) -> None:
        self.nodes = [RedisServer(data_dir / f"node{i}", cluster=True) for i in range(nodes)]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisCluster:
        for node in self.nodes:
            node.start()
        subprocess.run(
            [REDIS_CLI, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30,
        )
        deadline = time.monotonic() + 20
        while not self._ready():
            if time.monotonic() > deadline:
                raise TimeoutError("the Redis Cluster did not become ready within 20 s")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def _ready(self) -> bool:
        answer = subprocess.run(
            [REDIS_CLI, "-p", str(self.nodes[0].port), "cluster", "info"], capture_output=True, text=True, timeout=5
        ).stdout
        return "cluster_state:ok" in answer
