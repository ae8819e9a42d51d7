"""Scenario 7 (benchmark): scale.

1. Read latency at 10 thousand, 1 million and (REL_SCALE_MAX=10000000) 10 million stored games: hmg-loadgen in
   open loop at a fixed rate (latency from the scheduled send time), straight to one replica, each public read
   path in turn. The leaderboard and statistics are built to cost the same at any size (docs/decisions.md), so
   their p99 should stay flat; a player's rank is O(rank) by design and is measured for a player at the top and
   one in the middle.
2. Throughput with 1, 2 and 3 replicas behind the edge proxy: hmg-loadgen playing whole games in closed loop.
3. Time from exec to ready for a new replica: on each size right after seeding, when the new release applies the
   migrations the previous release did not have (REL_PREV_BIN) while the previous release keeps playing games;
   then 20 plain starts against the largest database.

Load generator pinned to core 1 (REL_DRIVER_CPUS), replicas, nginx and Redis to core 0 (REL_SERVER_CPUS); the
shared PostgreSQL on 5432 is the machine's and is not pinned.
"""
from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import time

from .. import traffic as T
from ..report import Report
from ..scenario import env_binary
from ..seed import seed
from ..stack import DRIVER_CPUS, Backend, Stack, StackError, http_get

READS = [  # (label, path, rate per second)
    ("leaderboard top 25 (fresh, database)", "/api/leaderboard/fresh", 200),
    ("leaderboard top 25 (cached)", "/api/leaderboard", 200),
    ("weekly easy board (fresh)", "/api/leaderboard/fresh?timeframe=week&difficulty=easy", 200),
    ("statistics", "/api/leaderboard/stats", 200),
    ("recent and top scores", "/api/scores", 200),
    ("rank of the top player", "/api/leaderboard/rank/{top}", 100),
    ("rank of a median player", "/api/leaderboard/rank/{median}", 20),
]
FLAT = {"leaderboard top 25 (fresh, database)", "leaderboard top 25 (cached)", "weekly easy board (fresh)",
        "statistics", "recent and top scores", "rank of the top player"}


def loadgen(url: str, *, mode: str, seconds: int, rate: float = 0, path: str = "/", concurrency: int = 16) -> dict:
    lg = os.environ.get("HMG_LOADGEN", "")
    if not lg or not os.access(lg, os.X_OK):
        raise SystemExit(f"HMG_LOADGEN must name the hmg-loadgen binary (got '{lg}')")
    cmd = ["taskset", "-c", DRIVER_CPUS, lg, "--url", url, "--mode", mode, "--duration", str(seconds),
           "--concurrency", str(concurrency), "--json"]
    if mode == "get":
        cmd += ["--path", path]
    if rate:
        cmd += ["--rate", str(rate)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    if r.returncode != 0:
        raise RuntimeError(f"hmg-loadgen failed: {r.stderr[-500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def board_players(db, which: str) -> str:
    order = "best_score DESC, best_time_ms ASC, best_completed_at_ms ASC, player_id ASC"
    n = int(db.sql("SELECT players FROM leaderboard_sizes WHERE board = 'all:*'") or 0)
    offset = 0 if which == "top" else max(0, n // 2)
    return db.sql(f"SELECT username FROM leaderboard_entries WHERE board = 'all:*' ORDER BY {order} "
                  f"LIMIT 1 OFFSET {offset}")


def verify_seeded(rep: Report, db, url: str, label: str) -> None:
    """The server reads the seeded rows as its own, and a real game lands on them correctly."""
    top = board_players(db, "top")
    s, body = http_get(url + "/api/leaderboard/fresh?limit=1", 30)
    served = json.loads(body)["leaderboard"][0]["username"] if s == 200 else None
    s2, body2 = http_get(url + "/api/leaderboard/stats", 30)
    overall = json.loads(body2)["statistics"]["overall"] if s2 == 200 else {}
    total = int(db.sql("SELECT count(*) FROM games"))
    rep.expect(f"{label}: the server serves the seeded board and totals", served == top and
               overall.get("totalGames") == total, {"top": [served, top], "totalGames": [overall.get("totalGames"),
                                                                                         total]})
    rec = T.Recorder()

    async def one() -> None:
        async with T.Http(url, rec) as http:
            await T.Player(http, rec, f"real_{secrets.token_hex(4)}").play()

    import asyncio
    asyncio.run(one())
    g = rec.games[0]
    row = db.rows(f"SELECT status, score FROM games WHERE id = '{g.game_id}'") if g.game_id else []
    rep.expect(f"{label}: a real game played on top is stored and scored as the rules say",
               g.completed and not g.problems and row and row[0]["status"] == "completed"
               and row[0]["score"] == g.final_score, {"error": g.error, "problems": g.problems[:2], "row": row})


def run(quick: bool) -> Report:
    rep = Report("scale")
    binary = env_binary()
    prev = os.environ.get("REL_PREV_BIN") or binary
    # REL_SCALE_SIZES overrides the sizes (a quick look); REL_SCALE_MAX adds a larger one (10 million).
    sizes = [int(x) for x in os.environ.get("REL_SCALE_SIZES", "10000,1000000").split(",")]
    top_size = int(os.environ.get("REL_SCALE_MAX", "0"))
    if top_size > sizes[-1]:
        sizes.append(top_size)
    seconds = 5 if quick else 10
    latency: dict[str, dict] = {}
    closed: dict[str, dict] = {}
    with Stack("scale", binary) as st:
        st.start_redis(6370)
        for n in sizes:
            if st.db:
                for b in st.backends:
                    b.close()
                st.db.drop()
            db = st.shared_database()
            # The data is written with the previous release's schema, then the new release starts on it and
            # applies its pending migrations while the previous release keeps playing games: a rollout's first
            # step on a database of this size.
            r = subprocess.run([prev, "migrate"], env={"PATH": "/usr/bin:/bin", "DATABASE_URL": db.url},
                               capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                raise RuntimeError(f"migrate failed: {r.stderr[-400:]}")
            info = seed(db, n)
            info["schema"] = db.sql("SELECT max(version) FROM _sqlx_migrations WHERE success")
            rep.figure(f"seeded {n:,}", info)
            old = st.new_backend(prev, label=f"prev-db{n}").start()
            lg = subprocess.Popen(["taskset", "-c", DRIVER_CPUS, os.environ["HMG_LOADGEN"], "--url", old.url,
                                   "--mode", "games", "--rate", "5", "--concurrency", "8", "--duration", "30",
                                   "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(3)
            b = st.new_backend(label=f"db{n}")
            try:
                b.start(timeout=180)
            except StackError as e:
                rep.expect(f"{n:,} games: the new release becomes ready on it (pending migrations applied)", False,
                           str(e))
                lg.kill()
                raise
            lg_out, lg_err = lg.communicate(timeout=120)
            during = json.loads(lg_out.strip().splitlines()[-1])
            # What the failed requests got, so a failure names its cause.
            during_failures = [line for line in lg_err.splitlines() if "failed" in line][:5]
            old.close()
            upgraded = db.sql("SELECT max(version) FROM _sqlx_migrations WHERE success")
            rep.figure(f"upgrade on {n:,} games", {
                "schema": f"{info.get('schema', '?')} -> {upgraded}", "exec_to_ready_s": round(b.ready_seconds, 2),
                "previous release meanwhile (5 games/s)": {"p50_ms": during["latency_ms"]["p50"],
                                                           "p99_ms": during["latency_ms"]["p99"],
                                                           "max_ms": during["latency_ms"]["max"],
                                                           "errors": during["errors"]}})
            rep.expect(f"{n:,} games: the new release is ready within 60 s, pending migrations applied",
                       b.ready_seconds < 60, round(b.ready_seconds, 2))
            rep.expect(f"{n:,} games: the previous release kept serving games while it migrated",
                       during["errors"] == 0, {"errors": during["errors"], "first": during_failures})
            verify_seeded(rep, db, b.url, f"{n:,} games")
            names = {"top": board_players(db, "top"), "median": board_players(db, "median")}
            per = {}
            for label, path, rate in READS:
                loadgen(b.url, mode="get", seconds=2, rate=rate, path=path.format(**names))  # warm-up
                out = loadgen(b.url, mode="get", seconds=seconds, rate=rate, path=path.format(**names))
                per[label] = {"rate": rate, "p50_ms": out["latency_ms"]["p50"], "p99_ms": out["latency_ms"]["p99"],
                              "max_ms": out["latency_ms"]["max"], "errors": out["errors"],
                              "requests": out["requests"]}
            # Whole games at a fixed rate: the last flip stores the game and ranks the player (O(rank)).
            out = loadgen(b.url, mode="games", seconds=seconds * 2, rate=5, concurrency=8)
            per["whole games at 5 games/s (every request)"] = {
                "rate": "5 games/s", "p50_ms": out["latency_ms"]["p50"], "p99_ms": out["latency_ms"]["p99"],
                "max_ms": out["latency_ms"]["max"], "errors": out["errors"], "requests": out["requests"]}
            latency[f"{n:,}"] = per
            rep.figure(f"read latency at {n:,} games (open loop)", per)
            # Whole games as fast as 32 players go, on this one replica: every completion ranks its player, so
            # this is where a cost that grows with the board shows.
            out = loadgen(b.url, mode="games", seconds=seconds * 2, concurrency=32)
            closed[f"{n:,}"] = {"games_per_s": round(out["games_per_second"], 1), "p50_ms": out["latency_ms"]["p50"],
                                "p99_ms": out["latency_ms"]["p99"], "errors": out["errors"]}
            rep.figure(f"closed loop at {n:,} games (32 players, one replica)", closed[f"{n:,}"])
            rep.expect(f"{n:,} games: whole games as fast as they go without an error", out["errors"] == 0,
                       closed[f"{n:,}"])
            rep.expect(f"{n:,} games: no read failed", all(v["errors"] == 0 for v in per.values()),
                       {k: v["errors"] for k, v in per.items() if v["errors"]})
            last_db, last_backend = db, b
        small = latency[f"{sizes[0]:,}"]
        for n in sizes[1:]:
            big = latency[f"{n:,}"]
            grown = {k: [small[k]["p99_ms"], big[k]["p99_ms"]] for k in FLAT
                     if big[k]["p99_ms"] > max(3 * small[k]["p99_ms"], small[k]["p99_ms"] + 10)}
            rep.expect(f"p99 flat from {sizes[0]:,} to {n:,} games (within 3x or +10 ms) for the top-N reads and "
                       "statistics", not grown, grown or "")
            first, now = closed[f"{sizes[0]:,}"]["games_per_s"], closed[f"{n:,}"]["games_per_s"]
            rep.expect(f"whole games/s at {n:,} games within 20% of {sizes[0]:,} games (closed loop, one replica)",
                       now >= 0.8 * first, {f"{sizes[0]:,}": first, f"{n:,}": now,
                                            "ratio": round(now / first, 3) if first else None})

        # Exec to ready, against the largest database (migrations already applied).
        last_backend.close()
        ready = []
        for i in range(5 if quick else 20):
            nb = st.new_backend(label=f"ready-{i}")
            nb.start()
            ready.append(nb.ready_seconds)
            nb.close()
        rep.figure("exec_to_ready_seconds", {"runs": len(ready), "median": round(statistics.median(ready), 3),
                                             "max": round(max(ready), 3)})
        rep.expect("a new replica is ready within 2 s of exec", max(ready) < 2, round(max(ready), 3))

        # Throughput with 1, 2 and 3 replicas behind the proxy (closed loop, whole games).
        live: list[Backend] = [st.new_backend(label=f"tp-{i}").start() for i in range(3)]
        px = st.start_proxy(live[:1])
        tput = {}
        for k in (1, 2, 3):
            px.set_backends([b.addr for b in live[:k]])
            time.sleep(1)
            out = loadgen(px.url, mode="games", seconds=seconds * 2, concurrency=32)
            tput[k] = {"requests_per_s": round(out["requests_per_second"]), "games_per_s":
                       round(out["games_per_second"], 1), "p50_ms": out["latency_ms"]["p50"],
                       "p99_ms": out["latency_ms"]["p99"], "errors": out["errors"]}
        rep.figure("throughput by replicas (closed loop, 32 players, whole games)", tput)
        rep.expect("throughput measured without errors at 1, 2 and 3 replicas",
                   all(v["errors"] == 0 and v["requests_per_s"] > 0 for v in tput.values()), tput)
        del last_db
    return rep
