"""Scenario 2: SIGKILL one replica mid-game under load.

Three replicas behind the edge proxy and the endpoints balancer (Kubernetes semantics: the dead pod leaves the
endpoints when the kubelet notices, about a second later; its restarted container joins when ready). Players keep
playing; a player whose request was in flight on the killed process gets a failure and retries with the same
Idempotency-Key on a surviving replica.

Two kills (three in the full run), each of a random replica. Each victim first hangs (SIGSTOP, as a process stuck
before its liveness probe kills it) until a request has waited on it, then gets SIGKILL: so every kill lands
mid-request whatever the machine's speed, not by luck. Expected: only requests in flight on a killed process, or
sent to it before the endpoints dropped it, fail; their retries get their answers within seconds (replayed when the
dead replica had applied them); every game continues and ends with the score the rules give (a retried move is
never applied twice).
"""
from __future__ import annotations

import asyncio
import random
import time

from .. import checks
from ..report import Report
from ..scenario import Load, drive, env_binary, in_progress_across, phases
from ..stack import Stack
from ..traffic import Recorder

KUBELET_LAG_S = 1.0
# A request waiting this long while its replica hangs is waiting on that replica (answers take milliseconds).
STUCK_S = 0.25
HANG_LIMIT_S = 10.0


def run(quick: bool) -> Report:
    rep = Report("crash")
    binary = env_binary()
    baseline, down, after, rounds = (3, 3, 3, 2) if quick else (10, 8, 8, 3)
    with Stack("crash", binary) as st:
        st.start_redis(6372)
        db = st.shared_database()
        live = [st.new_backend(label=f"r{i}").start() for i in range(3)]
        px = st.start_proxy(live, endpoints=True)
        rec = Recorder()
        rng = random.Random()
        kills: list[tuple[float, str]] = []
        marks: dict[str, float] = {}

        def hit_in_flight() -> bool:
            times = [t for t, _ in kills]
            return any(not a.ok and not a.retry and any(a.t0 <= t <= a.t1 for t in times) for a in rec.attempts)

        async def script() -> None:
            marks["before"] = rec.mark("before")
            await asyncio.sleep(baseline)
            # A kill can land between requests (nothing in flight on the victim); then kill again, up to three
            # extra times, so the run always exercises a crash mid-request.
            for n in range(rounds + 3):
                if n >= rounds and hit_in_flight():
                    break
                victim = rng.choice(live)
                victim.hang()
                hung_at = time.monotonic()
                while rec.waiting_longer_than(STUCK_S) == 0 and time.monotonic() - hung_at < HANG_LIMIT_S:
                    await asyncio.sleep(0.02)
                kills.append((rec.mark(f"SIGKILL {victim.label}"), f"{victim.label} ({victim.addr})"))
                victim.kill()
                await asyncio.sleep(KUBELET_LAG_S)
                live.remove(victim)
                await asyncio.to_thread(st.endpoints.set_peers, [b.addr for b in live])
                await asyncio.sleep(down)
                # The restarted container: a new process, in the endpoints once ready.
                fresh = st.new_backend(label=f"{victim.label}-r{n}")
                await asyncio.to_thread(fresh.start)
                live.append(fresh)
                await asyncio.to_thread(st.endpoints.set_peers, [b.addr for b in live])
                await asyncio.sleep(after)
            marks["end"] = rec.mark("end")

        drive(px.url, rec, Load(players=16, read_rate=40), script)

        times = [t for t, _ in kills]
        rep.figure("killed", [who for _, who in kills])
        bounds = [("before", marks["before"], times[0])] + \
            [(f"after kill {i + 1}", t, (times + [marks["end"]])[i + 1]) for i, t in enumerate(times)]
        phases(rep, rec, bounds, None, "all_requests")
        failed = [a for a in rec.attempts if not a.ok]
        failed_first = [a for a in failed if not a.retry]
        rep.figure("failed_attempts", {"total": len(failed), "first_attempts": len(failed_first),
                                       "by_status": _count(failed)})
        in_flight = [a for a in failed_first if any(a.t0 <= t <= a.t1 for t in times)]
        # Sent on a connection to the victim after the kill, before the proxy or the endpoints noticed: the
        # balancer's own failure, answered 502 like the in-flight ones.
        routed_to_dead = [a for a in failed_first if a not in in_flight and a.status == 502
                          and any(t <= a.t0 <= t + KUBELET_LAG_S for t in times)]
        rep.figure("failed_sent_to_a_dead_replica_before_the_endpoints_dropped_it", len(routed_to_dead))
        late = [a for a in failed_first if a not in in_flight and a not in routed_to_dead]
        rep.expect("no request failed unless it was in flight on a killed replica or sent to it before the "
                   "endpoints dropped it", not late,
                   [f"{a.kind} {a.status} {a.code}" for a in late[:8]] or f"{len(in_flight)} in flight failed")
        rep.expect("the kills hit requests in flight (the scenario exercised crashes)", len(in_flight) > 0,
                   len(in_flight))
        crossing = sum(in_progress_across(rec, t) for t in times)
        rep.figure("games_in_progress_at_the_kills", crossing)
        lost = [g for g in rec.games if not g.completed]
        rep.expect("every game in progress at a kill was finished: none lost", not lost,
                   [f"{g.game_id} {g.error}" for g in lost[:5]] or f"{len(rec.games)} games")
        rep.figure("games_with_a_retried_request", sum(1 for g in rec.games if g.retried_requests))
        rep.figure("replayed_answers", sum(g.replays for g in rec.games))
        # How long a player whose request died with its replica waited for the answer of the retry.
        chains = [c for c in rec.chains if any(c.first_sent <= t <= c.first_sent + 1 or
                                                c.first_sent <= t <= c.received for t in times)]
        rep.figure("retried_requests", [{"kind": c.kind, "attempts": c.attempts, "wait_s": round(c.wait_s, 2),
                                         "final": c.status, "seen": sorted(set(c.codes))} for c in chains][:20])
        wait = max((c.wait_s for c in chains), default=0.0)
        rep.figure("retry_wait_seconds_max", round(wait, 2))
        rep.expect("a retried request got its answer within 5 s (no long in-progress lock)", wait <= 5,
                   round(wait, 2))
        rep.figure("in_progress_conflicts", sum(1 for a in failed if a.code == "idempotency_in_progress"))
        rep.figure("ready_seconds_of_restarted_replicas", [round(b.ready_seconds or -1, 3)
                                                            for b in st.backends if "-r" in b.label])
        checks.durability(rep, db, rec, px.url)
    return rep


def _count(attempts) -> dict:
    out: dict[str, int] = {}
    for a in attempts:
        k = f"{a.status} {a.code}".strip()
        out[k] = out.get(k, 0) + 1
    return out
