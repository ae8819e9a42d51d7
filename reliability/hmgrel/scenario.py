"""Shared shape of a scenario: traffic in the background while a script of faults runs, then the checks."""
from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from . import traffic as T
from .report import Report


@dataclass
class Load:
    players: int = 12
    read_rate: float = 40.0  # public GETs per second, open loop
    think_ms: float = 0.0


def env_binary() -> str:
    b = os.environ.get("HMG_BIN") or ""
    if not b or not os.access(b, os.X_OK):
        raise SystemExit(f"HMG_BIN must name the server binary (got '{b}')")
    return b


def drive(base: str, rec: T.Recorder, load: Load, script: Callable[[], Awaitable[None]],
          extra: list[Callable[[asyncio.Event], Awaitable[None]]] | None = None) -> None:
    """Runs players and readers against `base` while `script` runs; stops the traffic when it returns (each
    player finishes the game it is in, so every game in progress during the faults is played to its end)."""

    async def main() -> None:
        stop = asyncio.Event()
        prefix = T.player_prefix()
        tasks = [asyncio.create_task(T.run_players(base, rec, load.players, stop, prefix=prefix,
                                                   think_ms=load.think_ms))]
        if load.read_rate > 0:
            tasks.append(asyncio.create_task(T.run_readers(base, rec, load.read_rate, stop)))
        for e in extra or []:
            tasks.append(asyncio.create_task(e(stop)))
        try:
            await script()
        finally:
            stop.set()
            done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 180)
            for d in done:
                if isinstance(d, BaseException):
                    raise d

    asyncio.run(main())


def phases(report: Report, rec: T.Recorder, bounds: list[tuple[str, float, float]], kinds: set[str] | None = None,
           name: str = "latency") -> dict:
    """Requests, failures and p50/p99 per phase (attempts by their start time)."""
    out = {label: T.window_summary(rec.between(t0, t1, kinds)) for label, t0, t1 in bounds}
    report.figure(name, out)
    return out


def in_progress_across(rec: T.Recorder, t: float) -> int:
    """Games that had started before `t` and ended after it."""
    return sum(1 for g in rec.games if g.t_start < t < g.t_end)


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def now() -> float:
    return time.monotonic()
