"""Scenario 3: PostgreSQL outage under load.

Two replicas behind the edge proxy, this area's own PostgreSQL cluster (port 5440) and Redis. Players and readers
keep going while the cluster is stopped with `pg_ctlcluster stop -m immediate` (a crash as far as PostgreSQL is
concerned: no checkpoint, WAL replay at the next start) and started again; then the database is cut off without
closing anything (a relay that swallows every byte: a partition, where only timeouts tell).

Expected (docs/api.md, docs/decisions.md): requests that need PostgreSQL answer a fast JSON 503
`dependency_unavailable` with Retry-After, nothing hangs, liveness and readiness stay 200, service comes back
within seconds of the database without restarting anything, and no game acknowledged as completed is lost.
"""
from __future__ import annotations

import asyncio

from .. import checks
from ..report import Report
from ..scenario import (Load, drive, env_binary, health_prober, outage_answers, phases, recovery_seconds,
                        self_inflicted_conflicts)
from ..stack import Database, Relay, Stack
from ..traffic import Recorder, run_start_prober

RELAY_PORT = 3410  # backends -> relay -> cluster, so the partition can be made without touching the cluster


def run(quick: bool) -> Report:
    rep = Report("postgres")
    binary = env_binary()
    baseline, down, between, cut, after = (3, 6, 4, 4, 4) if quick else (10, 20, 10, 10, 10)
    with Stack("postgres", binary) as st:
        st.start_redis(6375)
        db = st.chaos_database()
        relay = Relay(st.state, RELAY_PORT, db.port)
        st._closers.append(relay.close)
        relay.start()
        via = Database(RELAY_PORT, db.name)
        live = [st.new_backend(label=f"r{i}", extra_env={"DATABASE_URL": via.url}).start() for i in range(2)]
        pids = [b.proc.pid for b in live]
        px = st.start_proxy(live)
        rec = Recorder()
        m: dict[str, float] = {}

        async def script() -> None:
            m["before"] = rec.mark("before")
            await asyncio.sleep(baseline)
            m["stop"] = rec.mark("pg stop -m immediate")
            await asyncio.to_thread(st.cluster.stop, "immediate")
            await asyncio.sleep(down)
            m["start"] = rec.mark("pg start")
            await asyncio.to_thread(st.cluster.start)
            m["back"] = rec.mark("pg accepting connections")
            await asyncio.sleep(between)
            m["cut"] = rec.mark("partition")
            relay.partition()
            await asyncio.sleep(cut)
            m["heal"] = rec.mark("partition healed")
            relay.heal()
            await asyncio.sleep(after)
            m["end"] = rec.mark("end")

        drive(px.url, rec, Load(players=12, read_rate=30), script,
              [health_prober([b.url for b in live], rec),
               lambda stop: run_start_prober(px.url, rec, stop)])

        rep.figure("outage_seconds", {"stopped": round(m["back"] - m["stop"], 2),
                                      "partition": round(m["heal"] - m["cut"], 2)})
        phases(rep, rec, [("before", m["before"], m["stop"]), ("stopped", m["stop"], m["back"]),
                          ("recovered", m["back"], m["cut"]), ("partition", m["cut"], m["heal"]),
                          ("after", m["heal"], m["end"])], {"read"}, "reads_open_loop")
        phases(rep, rec, [("before", m["before"], m["stop"]), ("stopped", m["stop"], m["back"]),
                          ("recovered", m["back"], m["cut"]), ("partition", m["cut"], m["heal"]),
                          ("after", m["heal"], m["end"])], {"start", "flip", "complete"}, "game_requests")
        # Refused connections: nothing to wait for. A partition: one DEPENDENCY_TIMEOUT_MS (1 s, "time limit of
        # one database or Redis call before the API answers 503"), two calls at most.
        outage_answers(rep, rec, m["stop"], m["back"], fast_p99_ms=500, fast_max_ms=1500, label="stopped")
        outage_answers(rep, rec, m["cut"], m["heal"], fast_p99_ms=1500, fast_max_ms=2500, label="partition")
        for label, t in (("after the restart", m["back"]), ("after the partition", m["heal"])):
            sec = recovery_seconds(rec, t, {"probe"})
            rep.figure(f"recovery_seconds {label}", sec)
            rep.expect(f"a game starts again within 5 s {label}", sec is not None and sec <= 5, sec)
        rep.expect("no replica was restarted (same processes, all alive)",
                   [b.proc.pid for b in live] == pids and all(b.proc.alive() for b in live))
        quiet = [a for a in rec.between(m["heal"] + 5, m["end"]) if not a.ok and a.kind != "probe_abandon"]
        rep.expect("5 s after the partition healed, no request fails", not quiet,
                   [f"{a.kind} {a.status} {a.code}" for a in quiet[:5]])
        lost = [g for g in rec.games if not g.completed]
        rep.expect("every game in progress during the outages was finished", not lost,
                   [f"{g.game_id} {g.error}" for g in lost[:5]] or f"{len(rec.games)} games")
        self_inflicted_conflicts(rep, rec)
        via_complete = sum(1 for a in rec.attempts if a.kind == "complete" and a.ok)
        rep.figure("games_finished_through_complete_after_a_lost_answer", via_complete)
        checks.durability(rep, db, rec, px.url)
    return rep
