"""A TCP relay between a backend and a dependency (Redis, PostgreSQL) that can fail in two ways:

- `arm(pattern)`: the first client-to-server chunk containing the pattern is held (never forwarded), and so is
  everything after it on that connection. It pins a replica at an exact point of a request (for example after
  the game was saved, before the idempotent answer was stored), where a SIGKILL then lands deterministically.
- `blackhole(True)`: a network partition. Every byte either way is swallowed and new connections get no
  answer, so only timeouts tell; `blackhole(False)` closes the connections that lost bytes and lets new ones
  through."""
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
        self._blackholed = False
        self._conns: list[dict] = []

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
                if self._blackholed:
                    frozen["tainted"] = True
                    continue
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
        while self._blackholed:  # a connection made during the partition never hears back
            await asyncio.sleep(0.05)
            if not self._blackholed:
                cwriter.close()
                return
        try:
            sreader, swriter = await asyncio.open_connection(self.host, self.target)
        except OSError:
            cwriter.close()
            return
        frozen: dict = {"writers": (cwriter, swriter)}
        self._conns.append(frozen)
        try:
            await asyncio.gather(self._pipe(creader, swriter, True, frozen),
                                 self._pipe(sreader, cwriter, False, frozen))
        finally:
            self._conns.remove(frozen)

    def blackhole(self, on: bool) -> None:
        def heal() -> None:
            for c in list(self._conns):
                if c.get("tainted"):
                    for w in c["writers"]:
                        w.close()
        self._blackholed = on
        if not on and self._loop:
            self._loop.call_soon_threadsafe(heal)

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


def main() -> None:
    """`python -m hmgrel.faultproxy LISTEN_PORT TARGET_PORT`: a relay in its own process (so it does not share
    the traffic driver's interpreter); SIGUSR1 starts a partition, SIGUSR2 heals it."""
    import signal
    import sys

    relay = HoldingRelay(int(sys.argv[1]), int(sys.argv[2])).start()
    signal.signal(signal.SIGUSR1, lambda *_: relay.blackhole(True))
    signal.signal(signal.SIGUSR2, lambda *_: relay.blackhole(False))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"relay 127.0.0.1:{relay.listen} -> {relay.target}", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
