"""Scenario 2: SIGKILL one replica mid-game under load.

Three replicas behind the edge proxy and the endpoints balancer (Kubernetes semantics: the dead pod leaves the
endpoints when the kubelet notices, about a second later; its restarted container joins when ready). Players keep
playing; a player whose request was in flight on the killed process gets a failure and retries with the same
Idempotency-Key on a surviving replica.

Expected: no request sent after the kill fails; the requests that fail were in flight at the kill; every
game continues and ends with the score the rules give (a retried move is never counted twice).
"""
from __future__ import annotations

import asyncio
import random

from .. import checks
from ..report import Report
from ..scenario import Load, drive, env_binary, in_progress_across, phases
from ..stack import Stack
from ..traffic import Recorder

KUBELET_LAG_S = 1.0


def run(quick: bool) -> Report:
    rep = Report("crash")
    binary = env_binary()
    baseline, down, after = (3, 4, 4) if quick else (10, 10, 10)
    with Stack("crash", binary) as st:
        st.start_redis(6372)
        db = st.shared_database()
        live = [st.new_backend(label=f"r{i}").start() for i in range(3)]
        px = st.start_proxy(live, endpoints=True)
        rec = Recorder()
        victim = random.Random().choice(live)
        marks: dict[str, float] = {}

        async def script() -> None:
            marks["before"] = rec.mark("before")
            await asyncio.sleep(baseline)
            marks["kill"] = rec.mark(f"SIGKILL {victim.label}")
            victim.kill()
            await asyncio.sleep(KUBELET_LAG_S)
            live.remove(victim)
            await asyncio.to_thread(st.endpoints.set_peers, [b.addr for b in live])
            await asyncio.sleep(down)
            # The restarted container: a new process, in the endpoints once ready.
            marks["restart"] = rec.mark("restart")
            fresh = st.new_backend(label=f"{victim.label}-restarted")
            await asyncio.to_thread(fresh.start)
            live.append(fresh)
            await asyncio.to_thread(st.endpoints.set_peers, [b.addr for b in live])
            await asyncio.sleep(after)
            marks["end"] = rec.mark("end")

        drive(px.url, rec, Load(players=16, read_rate=40), script)

        t_kill = marks["kill"]
        rep.figure("killed", f"{victim.label} ({victim.addr}), exit {victim.exit_code}")
        phases(rep, rec, [("before", marks["before"], t_kill), ("after_kill", t_kill, marks["restart"]),
                          ("after_restart", marks["restart"], marks["end"])], None, "all_requests")
        failed = [a for a in rec.attempts if not a.ok]
        failed_first = [a for a in failed if not a.retry]
        rep.figure("failed_attempts", {"total": len(failed), "first_attempts": len(failed_first),
                                       "by_status": _count(failed)})
        late = [a for a in failed_first if a.t0 > t_kill]
        rep.expect("no request first sent after the kill failed (only retries of in-flight ones may wait)",
                   not late, [f"{a.kind} {a.status} {a.code} +{(a.t0 - t_kill) * 1000:.0f} ms" for a in late[:8]])
        in_flight = [a for a in failed_first if a.t0 <= t_kill <= a.t1]
        rep.expect("every failed request was in flight at the kill", len(in_flight) == len(failed_first),
                   f"{len(in_flight)} of {len(failed_first)}")
        rep.expect("the kill hit requests in flight (the scenario exercised a crash)", len(in_flight) > 0,
                   len(in_flight))
        crossing = in_progress_across(rec, t_kill)
        rep.figure("games_in_progress_at_the_kill", crossing)
        lost = [g for g in rec.games if not g.completed]
        rep.expect("every game in progress at the kill was finished: none lost", not lost,
                   [f"{g.game_id} {g.error}" for g in lost[:5]] or f"{len(rec.games)} games")
        retried = [g for g in rec.games if g.retried_requests]
        rep.figure("games_with_a_retried_request", len(retried))
        rep.figure("replayed_answers", sum(g.replays for g in rec.games))
        # How long a player whose request died with the replica waited before the retry got its answer.
        chains = [c for c in rec.chains if c.first_sent <= t_kill + 1]
        rep.figure("retried_requests", [{"kind": c.kind, "attempts": c.attempts, "wait_s": round(c.wait_s, 2),
                                         "final": c.status, "seen": sorted(set(c.codes))} for c in chains][:20])
        rep.figure("retry_wait_seconds_max", round(max((c.wait_s for c in chains), default=0.0), 2))
        rep.figure("in_progress_conflicts", sum(1 for a in failed if a.code == "idempotency_in_progress"))
        rep.figure("ready_seconds_of_restarted_replica", round(st.backends[-1].ready_seconds or -1, 3))
        checks.durability(rep, db, rec, px.url)
    return rep


def _count(attempts) -> dict:
    out: dict[str, int] = {}
    for a in attempts:
        k = f"{a.status} {a.code}".strip()
        out[k] = out.get(k, 0) + 1
    return out
