"""A TCP relay between a backend and Redis that can freeze one command: once armed with a byte pattern, the
first client-to-server chunk containing it is held (never forwarded), and so is everything after it on that
connection. It pins a replica at an exact point of a request (for example after the game was saved, before the
idempotent answer was stored), where a SIGKILL then lands deterministically."""
from __future__ import annotations

import asyncio
import threading


class HoldingRelay:
    def __init__(self, listen_port: int, target_port: int, host: str = "127.0.0.1"):
        self.listen, self.target, self.host = listen_port, target_port, host
        self.pattern: list[bytes] | None = None
        self.held = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()

    def arm(self, *parts: bytes) -> None:
        """Hold the first chunk that contains every one of `parts`."""
        self.held.clear()
        self.pattern = list(parts)

    async def _pipe(self, reader, writer, upstream: bool, frozen: dict) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if upstream and self.pattern and all(p in data for p in self.pattern):
                    self.pattern = None
                    frozen["on"] = True
                    self.held.set()
                if upstream and frozen.get("on"):
                    continue  # swallowed: the backend waits for an answer that never comes
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def _handle(self, creader, cwriter) -> None:
        try:
            sreader, swriter = await asyncio.open_connection(self.host, self.target)
        except OSError:
            cwriter.close()
            return
        frozen: dict = {}
        await asyncio.gather(self._pipe(creader, swriter, True, frozen), self._pipe(sreader, cwriter, False, frozen))

    def start(self) -> "HoldingRelay":
        def main() -> None:
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, self.host, self.listen))
            self._ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=main, daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the relay did not start")
        return self

    def close(self) -> None:
        if self._loop and self._server:
            self._loop.call_soon_threadsafe(self._server.close)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(5)
