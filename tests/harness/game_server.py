"""The game server binary (`$HMG_BIN serve`) on a port of its own, ready when /health/ready answers 200."""
from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from .ports import free_port
from .process import Process
from .wait import wait_for


class GameServer:
    def __init__(self, binary: str, env: dict, *, log: Path | None = None, host: str = "127.0.0.1",
                 port: int | None = None, command: str = "serve", ready_path: str = "/health/ready"):
        self.host, self.port = host, port or free_port(host)
        self.ready_path = ready_path
        self.env = {**env, "HOST": host, "PORT": str(self.port)}
        self.proc = Process(f"game-server-{self.port}", [binary, command], log=log, env=self.env)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> "GameServer":
        """Starts the server and waits until it is ready."""
        return self.launch().wait_ready(timeout)

    def launch(self) -> "GameServer":
        """Starts the server without waiting (several servers then start side by side)."""
        self.proc.start()
        return self

    def wait_ready(self, timeout: float = 30.0) -> "GameServer":
        wait_for(f"the game server on {self.url} to be ready", self.ready, timeout, interval=0.1)
        return self

    def ready(self) -> bool:
        if not self.proc.alive():
            raise AssertionError(f"the game server exited with {self.proc.returncode}: {self.proc.log_tail()}")
        try:
            with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as r:
                return r.status == 200
        except urllib.error.HTTPError:
            return False

    def stop(self, timeout: float = 40.0) -> int | None:
        return self.proc.stop(timeout)


def inherited_env_without_storage() -> dict:
    """The environment minus any database or Redis settings a developer's shell may carry, so a test's own
    DATABASE_URL / REDIS_URL is the only one the server sees."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("DB_", "REDIS_", "DATABASE_URL", "SQLITE_"))}
