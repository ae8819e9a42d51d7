"""Scenario 4: Redis outage and Redis data loss under load.

Two replicas behind the edge proxy, PostgreSQL (a fresh database on the shared server) and this area's own Redis
without persistence. Players and readers keep going while Redis is killed (SIGKILL), restarted empty, and later
emptied with FLUSHALL while it runs.

Expected (docs/api.md, docs/decisions.md): while Redis is down, requests that need it answer a fast JSON 503
`dependency_unavailable` with Retry-After; liveness and readiness stay 200; games start again within seconds of
Redis' return; leaderboards and statistics are rebuilt from PostgreSQL (the public reads equal the database);
nothing durable is lost: every game acknowledged as completed stays stored, counted once. Only games in progress
at the moment of a data loss may be lost (their live state was in Redis), and each then answers a clear 4xx.
"""
from __future__ import annotations

import asyncio
import json

from .. import checks
from ..report import Report
from ..scenario import (Load, drive, env_binary, health_prober, outage_answers, phases, recovery_seconds,
                        self_inflicted_conflicts)
from ..stack import Stack, http_get
from ..traffic import Recorder, run_start_prober


def board_from_db(db, limit: int = 25) -> list[list]:
    return [[r["username"], r["best_score"]] for r in db.rows(
        "SELECT username, best_score FROM leaderboard_entries WHERE board = 'all:*' "
        f"ORDER BY best_score DESC, best_time_ms ASC, best_completed_at_ms ASC LIMIT {limit}")]


def board_from_api(url: str, limit: int = 25) -> list[list] | None:
    status, body = http_get(f"{url}/api/leaderboard?limit={limit}", 5)
    if status != 200:
        return None
    return [[r["username"], r["bestScore"]] for r in json.loads(body)["leaderboard"]]


def run(quick: bool) -> Report:
    rep = Report("redis")
    binary = env_binary()
    baseline, down, between, after = (3, 5, 5, 5) if quick else (10, 15, 10, 10)
    with Stack("redis", binary) as st:
        redis = st.start_redis(6376)
        db = st.shared_database()
        live = [st.new_backend(label=f"r{i}").start() for i in range(2)]
        pids = [b.proc.pid for b in live]
        px = st.start_proxy(live)
        rec = Recorder()
        m: dict[str, float] = {}
        boards: dict[str, object] = {}

        async def script() -> None:
            m["before"] = rec.mark("before")
            await asyncio.sleep(baseline)
            m["kill"] = rec.mark("redis SIGKILL")
            await asyncio.to_thread(redis.kill)
            await asyncio.sleep(down)
            m["restart"] = rec.mark("redis restarted empty")
            await asyncio.to_thread(redis.start)
            m["back"] = rec.mark("redis answering")
            await asyncio.sleep(between)
            boards["db_before_flush"] = await asyncio.to_thread(board_from_db, db)
            m["flush"] = rec.mark("FLUSHALL")
            await asyncio.to_thread(redis.cli, "FLUSHALL")
            m["flushed"] = rec.mark("FLUSHALL done")
            boards["api_after_flush"] = await asyncio.to_thread(board_from_api, px.url)
            boards["db_after_flush"] = await asyncio.to_thread(board_from_db, db)
            await asyncio.sleep(after)
            m["end"] = rec.mark("end")

        drive(px.url, rec, Load(players=12, read_rate=30), script,
              [health_prober([b.url for b in live], rec), lambda stop: run_start_prober(px.url, rec, stop)])

        windows = [("before", m["before"], m["kill"]), ("down", m["kill"], m["back"]),
                   ("recovered", m["back"], m["flush"]), ("after_flushall", m["flush"], m["end"])]
        phases(rep, rec, windows, {"read"}, "reads_open_loop")
        phases(rep, rec, windows, {"start", "flip", "complete"}, "game_requests")
        rep.figure("outage_seconds", round(m["back"] - m["kill"], 2))
        # One DEPENDENCY_TIMEOUT_MS (1 s) and some slack, for a request caught at the instant of the crash.
        outage_answers(rep, rec, m["kill"], m["back"], fast_p99_ms=1600, fast_max_ms=2000, label="down",
                       t1_data_loss=m["restart"])
        slow = sorted((a for a in rec.between(m["kill"], m["back"]) if not a.ok and a.latency_ms > 1500),
                      key=lambda a: a.t0)
        if slow:
            rep.figure("slow_failures_during_the_outage", [f"{a.kind} {a.status} {a.code} sent {a.t0 - m['kill']:+.2f}s "
                                                           f"took {a.latency_ms:.0f} ms" for a in slow[:8]])
        sec = recovery_seconds(rec, m["back"], {"probe"})
        rep.figure("recovery_seconds", sec)
        rep.expect("a game starts again within 5 s of Redis' return", sec is not None and sec <= 5, sec)
        rep.expect("no replica was restarted (same processes, all alive)",
                   [b.proc.pid for b in live] == pids and all(b.proc.alive() for b in live))
        # The public board right after FLUSHALL is rebuilt from PostgreSQL (the cache was emptied with it).
        api_board = boards.get("api_after_flush")
        rep.expect("right after FLUSHALL the leaderboard equals PostgreSQL's (rebuilt, nothing lost)",
                   api_board is not None and api_board in (boards["db_before_flush"], boards["db_after_flush"]),
                   {"api": (api_board or [])[:3], "db": boards["db_after_flush"][:3]})
        quiet = [a for a in rec.between(m["back"] + 3, m["flush"]) if not a.ok]
        rep.expect("3 s after Redis' return no request fails", not quiet,
                   [f"{a.kind} {a.status} {a.code}" for a in quiet[:5]])

        # Games whose live state was lost: only those in progress at a data loss, each told with a clear 4xx.
        lost = [g for g in rec.games if not g.completed]
        # A game is caught by a data loss when it overlaps the loss: from the kill until Redis answered again,
        # or from just before FLUSHALL was sent until it returned.
        windows = [(m["kill"], m["back"]), (m["flush"], m["flushed"])]
        at_loss = [g for g in lost if any(g.t_start <= w1 and g.t_end >= w0 for w0, w1 in windows)]
        rep.figure("games_lost_with_redis", {"lost": len(lost), "in_progress_at_a_loss": len(at_loss),
                                             "errors": sorted({g.error for g in lost})})
        rep.expect("only games in progress at a data loss were lost", len(at_loss) == len(lost),
                   [f"{g.game_id} {g.error} (started {g.t_start - m['kill']:+.2f}s, ended {g.t_end - m['kill']:+.2f}s "
                    f"from the kill; Redis back at {m['back'] - m['kill']:+.2f}s)" for g in lost if g not in at_loss][:5])
        unclear = [g for g in lost if not g.error.startswith(("flip: 4", "complete: 4"))]
        rep.expect("each lost game answered a clear 4xx (not a 5xx or a hang)", not unclear,
                   [f"{g.game_id} {g.error}" for g in unclear[:5]])
        if lost:
            ids = ",".join(f"'{g.game_id}'" for g in lost)
            states = db.rows(f"SELECT status, count(*) AS n FROM games WHERE id IN ({ids}) GROUP BY status")
            rep.figure("stored_status_of_lost_games", {s["status"]: s["n"] for s in states})
            rep.expect("no lost game stays 'active' in PostgreSQL (it would count as active and show as playing "
                       "forever: nothing can settle it any more)",
                       not any(s["status"] == "active" for s in states), states)
        self_inflicted_conflicts(rep, rec)
        checks.durability(rep, db, rec, px.url, lost_allowed={g.game_id for g in at_loss})
    return rep
