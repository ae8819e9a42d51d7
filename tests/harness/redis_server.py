"""A private redis-server: on a port from the OS (or one given), with a password, without persistence (like the
shared one: a restart loses every key). The password goes through a config file, never the command line."""
from __future__ import annotations

import secrets
import shutil
import socket
from pathlib import Path

from .ports import free_port
from .process import Process
from .wait import wait_for


class RedisServer:
    def __init__(self, directory: Path, *, port: int | None = None, password: str | None = None,
                 start_timeout: float = 20.0):
        if not shutil.which("redis-server"):
            raise AssertionError("redis-server is not installed (Debian: apt-get install redis-server)")
        self.dir = Path(directory)
        self.port = port or free_port()
        self.password = password if password is not None else secrets.token_hex(12)
        self.start_timeout = start_timeout
        self.proc: Process | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "redis.conf"
        lines = [f"port {self.port}", "bind 127.0.0.1", 'save ""', "appendonly no", f'dir "{self.dir}"',
                 "daemonize no"]
        if self.password:
            lines.append(f'requirepass "{self.password}"')
        conf.write_text("\n".join(lines) + "\n")
        conf.chmod(0o600)
        self.proc = Process(f"redis-{self.port}", ["redis-server", str(conf)], log=self.dir / "redis.log").start()

        def up():
            if not self.proc.alive():
                raise AssertionError(f"redis-server on {self.port} exited: {self.proc.log_tail()}")
            return self.ping()

        wait_for(f"redis-server on port {self.port}", up, self.start_timeout)
        return self

    def ping(self) -> bool:
        """True when the server answers PING (after AUTH when it has a password)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                if self.password:
                    s.sendall(f"AUTH {self.password}\r\n".encode())
                    if not s.recv(64).startswith(b"+OK"):
                        return False
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """An abrupt outage: the process dies with everything it held in memory."""
        if self.proc:
            self.proc.signal(9)
            self.proc.wait(10)

    def restart(self) -> None:
        self.kill()
        self.restarts += 1
        self.start()

    def stop(self) -> None:
        if self.proc:
            self.proc.stop(10)
