"""A process we start, signalled only by its own PID while it is still ours, and whose whole process group is
killed on teardown (a child it left behind must not outlive the test)."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


class Process:
    def __init__(self, name: str, argv: list[str], *, log: Path | None = None, env: dict | None = None,
                 cwd: Path | None = None, stdin: int | None = subprocess.DEVNULL):
        self.name, self.argv, self.log, self.env, self.cwd, self.stdin = name, argv, log, env, cwd, stdin
        self.popen: subprocess.Popen | None = None

    def start(self) -> "Process":
        out = subprocess.DEVNULL
        if self.log is not None:
            Path(self.log).parent.mkdir(parents=True, exist_ok=True)
            out = open(self.log, "ab")
        try:
            # A new session (and so a process group of its own): Ctrl-C in a terminal reaches only the test
            # runner, which stops everything in order, and teardown can kill the group.
            self.popen = subprocess.Popen(self.argv, stdin=self.stdin, stdout=out, stderr=subprocess.STDOUT,
                                          env=self.env, cwd=self.cwd, start_new_session=True)
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None if it is still running after `timeout` seconds."""
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, chars: int = 2000) -> str:
        if self.log is None or not Path(self.log).exists():
            return ""
        return Path(self.log).read_bytes()[-chars:].decode(errors="replace")

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM to the PID, SIGKILL after `timeout`; then SIGKILL to what is left of its process group.
        Returns the exit code."""
        if self.popen is None:
            return None
        if self.alive():
            self.signal(signal.SIGTERM)
            if self.wait(timeout) is None:
                self.signal(signal.SIGKILL)
                self.wait(10)
        self._kill_group()
        return self.popen.returncode

    def _kill_group(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
