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


def health_prober(urls: list[str], rec: T.Recorder, interval: float = 0.25):
    """A background task: /health/live and /health/ready of every replica, directly (kinds `live`, `ready`)."""

    async def run(stop: asyncio.Event) -> None:
        clients = [T.Http(u, rec, pool=4, timeout=5) for u in urls]
        for c in clients:
            await c.__aenter__()
        try:
            while not stop.is_set():
                await asyncio.gather(*(c.once("GET", p, k) for c in clients
                                       for p, k in (("/health/live", "live"), ("/health/ready", "ready"))))
                await asyncio.sleep(interval)
        finally:
            for c in clients:
                await c.__aexit__()

    return run


OWN_EFFECT = {"game_completed", "game_abandoned"}


def outage_answers(report: Report, rec: T.Recorder, t0: float, t1: float, *, fast_p99_ms: float,
                   fast_max_ms: float, label: str, t1_data_loss: float = float("inf")) -> None:
    """During an outage every API failure is the documented fast JSON 503 with Retry-After, and nothing hangs."""
    api = [a for a in rec.between(t0, t1) if a.kind not in ("live", "ready")]
    # A retry refused because of its own first attempt's effect is judged on its own (self_inflicted_conflicts);
    # a game whose live state died with Redis answers game_not_found once Redis is back (judged by the scenario).
    failed = [a for a in api if not a.ok and not (a.retry and a.code in OWN_EFFECT)
              and not (a.code == "game_not_found" and a.t1 > t1_data_loss)]
    wrong = [a for a in failed if a.status != 503 or a.code != "dependency_unavailable" or not a.retry_after
             or not a.json_error]
    report.figure(f"{label}_answers", T.window_summary(api))
    report.expect(f"{label}: every failed API answer is a JSON 503 dependency_unavailable with Retry-After",
                  not wrong, [f"{a.kind} {a.status} {a.code} retry-after={a.retry_after!r}" for a in wrong[:6]]
                  or f"{len(failed)} failed answers")
    report.expect(f"{label}: the dependency's absence was felt (some requests failed)", len(failed) > 0,
                  len(failed))
    lat = [a.latency_ms for a in failed]
    p99, mx = T.percentile(lat, 0.99), max(lat, default=0.0)
    report.expect(f"{label}: failures answer fast (p99 <= {fast_p99_ms:.0f} ms, max <= {fast_max_ms:.0f} ms)",
                  p99 <= fast_p99_ms and mx <= fast_max_ms, f"p99 {p99:.0f} ms, max {mx:.0f} ms")
    probes = [a for a in rec.between(t0, t1, {"live", "ready"})]
    bad = [a for a in probes if a.status != 200]
    report.expect(f"{label}: liveness and readiness stay 200 on every replica (a shared outage)",
                  not bad and len(probes) > 0,
                  [f"{a.kind} {a.status} {a.code}" for a in bad[:5]] or f"{len(probes)} probes")


def recovery_seconds(rec: T.Recorder, t_back: float, kinds: set[str]) -> float | None:
    """Seconds from the dependency's return to the first successful request of these kinds sent after it."""
    ok = [a.t1 for a in rec.attempts if a.kind in kinds and a.ok and a.t0 >= t_back]
    return round(min(ok) - t_back, 3) if ok else None


def self_inflicted_conflicts(report: Report, rec: T.Recorder) -> None:
    """docs/api.md: "A request that fails never changes anything". So the retry of a request that failed (same
    Idempotency-Key, same body) must never be refused because of that request's own effect: after a 503 on the
    last flip, its retry gets the flip's answer with the result, not 409 game_completed (nor 409 game_abandoned
    after an abandon)."""
    own = [a for a in rec.attempts if a.retry and a.code in OWN_EFFECT]
    kinds = sorted({f"{a.kind} {a.status} {a.code}" for a in own})
    report.expect("no retry of a failed request was refused because of that request's own effect (409 "
                  "game_completed / game_abandoned after a 503)", not own,
                  f"{len(own)} retries: {kinds}" if own else "")
