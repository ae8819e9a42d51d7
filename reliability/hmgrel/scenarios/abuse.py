"""Scenario 6: one client hammers the API.

Three replicas behind the edge proxy (nginx is the only trusted proxy: TRUSTED_PROXIES=127.0.0.1/32), a small
limit (RATE_LIMIT_MAX_REQUESTS per RATE_LIMIT_WINDOW_MS). Within one rate-limit window:

- the hammer (source address 127.0.0.21) sends as fast as it can through the proxy, each request with a forged
  X-Forwarded-For, and also straight to a replica with a forged X-Forwarded-For (from 127.0.0.26, not trusted);
- other clients (127.0.0.22-24) read and play at a human pace through the same proxy.

Expected: the hammer gets exactly the limit in that window across all replicas (the count is shared through
Redis, and neither forged header buys more), then 429 `rate_limited` with Retry-After, `retryAfterSeconds` and
RateLimit-* headers; health endpoints stay unlimited; the other clients see no 429 and no failure; a new window
lets the hammer in again.
"""
from __future__ import annotations

import asyncio
import json
import time

from ..report import Report
from ..scenario import env_binary
from ..stack import Stack
from .. import traffic as T

LIMIT = 40
HAMMER, DIRECT, OTHERS = "127.0.0.21", "127.0.0.26", ["127.0.0.22", "127.0.0.23", "127.0.0.24"]


def run(quick: bool) -> Report:
    rep = Report("abuse")
    binary = env_binary()
    window_s = 12 if quick else 30
    with Stack("abuse", binary) as st:
        st.start_redis(6377)
        st.shared_database()
        env = {"RATE_LIMIT_MAX_REQUESTS": str(LIMIT), "RATE_LIMIT_WINDOW_MS": str(window_s * 1000)}
        live = [st.new_backend(label=f"r{i}", extra_env=env).start() for i in range(3)]
        px = st.start_proxy(live)
        rec = T.Recorder()
        out: dict = {}

        async def hammer(http: T.Http, path_of, stop_at: float, spoof: str, sink: list) -> None:
            i = 0
            while time.monotonic() < stop_at:
                i += 1
                r = await http.once("GET", path_of(i), "hammer", headers={"X-Forwarded-For": f"{spoof}.{i % 250}"})
                sink.append(r)

        async def main() -> None:
            # Start right after a window boundary (windows are aligned to multiples of their length).
            now = time.time()
            await asyncio.sleep(window_s - now % window_s + 0.3)
            window_end = time.monotonic() + window_s - 0.3
            out["window_end"] = window_end
            stop = asyncio.Event()
            # Well under the limit: half of it per window for each calm reader.
            calm_rate = min(1.5, 0.5 * LIMIT / window_s)
            others = [asyncio.create_task(T.run_readers(px.url, rec, calm_rate, stop, local_addr=a,
                                                        paths=["/api/leaderboard", "/api/game/config"]))
                      for a in OTHERS[1:]]
            others.append(asyncio.create_task(T.run_players(px.url, rec, 1, stop, prefix=f"calm{int(now) % 1000}_",
                                                            local_addr=OTHERS[0], think_ms=1500 if quick else 3000)))
            hammered: list[T.Resp] = []
            direct: list[T.Resp] = []
            health: list[T.Resp] = []
            async with T.Http(px.url, rec, HAMMER, pool=16) as h, T.Http(live[0].url, rec, DIRECT, pool=8) as d:
                paths = ["/api/leaderboard", "/api/game/config", "/api/scores", "/api/leaderboard/stats"]
                t_start = time.monotonic()
                t_stop = t_start + min(3.0, window_s / 3)
                await asyncio.gather(*(hammer(h, lambda i: paths[i % 4], t_stop, "10.0.0", hammered)
                                       for _ in range(8)),
                                     *(hammer(d, lambda i: paths[i % 4], t_stop, "10.1.0", direct) for _ in range(4)))
                # The proxy routes only /api to the replicas; the probes are asked of a replica directly, from
                # the (also limited) untrusted address.
                health.append(await h.once("GET", "/api/health", "hammer_health"))
                for p in ("/health/live", "/health/ready", "/metrics"):
                    health.append(await d.once("GET", p, "hammer_health"))
                out["burst"] = (t_start, t_stop)
                # Stay inside the window while the others keep going.
                await asyncio.sleep(max(0.0, window_end - time.monotonic() - 0.5))
                stop.set()
                await asyncio.gather(*others)
                out["t_others_end"] = time.monotonic()
                # The next window lets the hammer in again.
                await asyncio.sleep(max(0.0, window_end - time.monotonic()) + 0.5)
                out["next"] = await h.once("GET", "/api/leaderboard", "hammer_next")
            out.update(hammered=hammered, direct=direct, health=health)

        asyncio.run(main())

        hammered, direct = out["hammered"], out["direct"]
        allowed = [r for r in hammered if r.status == 200]
        limited = [r for r in hammered if r.status == 429]
        other = [r for r in hammered if r.status not in (200, 429)]
        rep.figure("hammer_through_proxy", {"sent": len(hammered), "allowed": len(allowed), "429": len(limited),
                                            "other": [f"{r.status} {r.code}" for r in other[:5]]})
        rep.expect(f"the hammer got exactly the limit ({LIMIT}) across three replicas, forged X-Forwarded-For "
                   "ignored", len(allowed) == LIMIT and not other, len(allowed))
        served_by = _upstreams(st, rep)
        rep.expect("the hammer's allowed requests were spread over more than one replica (the limit is shared)",
                   len(served_by) >= 2, served_by)
        bad429 = [r for r in limited if not _good_429(r, window_s)]
        rep.expect("every 429 is rate_limited JSON with Retry-After = retryAfterSeconds (within the window) and "
                   "RateLimit-Limit/-Remaining/-Reset", bool(limited) and not bad429,
                   [(r.headers.get("retry-after"), r.body) for r in bad429[:3]] or f"{len(limited)} answers")
        d_allowed = [r for r in direct if r.status == 200]
        rep.figure("hammer_direct_with_forged_header", {"sent": len(direct), "allowed": len(d_allowed),
                                                        "429": sum(r.status == 429 for r in direct)})
        rep.expect(f"straight to a replica from an untrusted address, a forged X-Forwarded-For buys nothing "
                   f"({LIMIT} allowed)", len(d_allowed) == LIMIT, len(d_allowed))
        rep.expect("health and metrics stay reachable for the limited client",
                   all(r.status == 200 for r in out["health"]), [r.status for r in out["health"]])
        calm = [a for a in rec.attempts if a.kind in ("read", "start", "flip", "complete")]
        calm_failed = [a for a in calm if not a.ok]
        rep.figure("other_clients", T.window_summary(calm))
        rep.expect("the other clients (other addresses, same proxy) saw no 429 and no failure",
                   len(calm) > 20 and not calm_failed,
                   [f"{a.kind} {a.status} {a.code}" for a in calm_failed[:5]] or f"{len(calm)} requests")
        during = [a for a in calm if out["burst"][0] <= a.t0 <= out["burst"][1]]
        rep.expect("the other clients were active while the hammer was being refused", len(during) > 0,
                   f"{len(during)} requests during the burst")
        rep.expect("in the next window the hammer is let in again", out["next"].status == 200, out["next"].status)
    return rep


def _good_429(r: T.Resp, window_s: int) -> bool:
    b, h = r.body or {}, r.headers
    try:
        ra = int(h.get("retry-after", ""))
    except ValueError:
        return False
    return (b.get("error") == "rate_limited" and b.get("success") is False and b.get("retryAfterSeconds") == ra
            and 1 <= ra <= window_s and h.get("ratelimit-limit") == str(LIMIT) and h.get("ratelimit-remaining") == "0"
            and h.get("ratelimit-reset", "").isdigit())


def _upstreams(st: Stack, rep: Report) -> dict:
    """Which replica served each of the hammer's allowed requests, from the proxy's access log."""
    counts: dict[str, int] = {}
    for line in st.proxy.access_log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        e = json.loads(line)
        if e.get("status") == 200 and e.get("uri", "").startswith("/api/") and e.get("remote_addr") == HAMMER:
            counts[e["upstream_addr"]] = counts.get(e["upstream_addr"], 0) + 1
    rep.figure("hammer_allowed_per_replica", counts)
    return counts
