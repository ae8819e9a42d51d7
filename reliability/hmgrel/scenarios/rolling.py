"""Scenario 1: rolling restart and rollback under load.

Three replicas of the previous release serve players and readers through the production nginx config. Each is
replaced, one at a time, by the new release (which migrates the schema on start), then each is replaced again by
the previous release, which now runs against the new schema. Two ways of replacing:

- `surge` (what a Kubernetes Deployment does with maxSurge 1, maxUnavailable 0): the new replica starts on a
  fresh address and joins the endpoints once /health/ready answers 200; the old one gets SIGTERM and leaves the
  endpoints a moment later (the endpoint update lags the signal; DRAIN_DELAY_SECONDS covers that lag). The
  endpoints are `stack.Endpoints`, a TCP balancer between the edge proxy and the replicas.
- `inplace` (what `docker-compose up -d` does to one container, nginx unchanged): SIGTERM, wait for the exit,
  start the new process on the same address.

Expected: zero failed requests (surge; in place, only POSTs caught by a replica closing its listener, each
recovered by its retry), zero lost or corrupted games, each old process exits 0 within its drain delay plus
shutdown timeout.
"""
from __future__ import annotations

import asyncio
import filecmp
import os
import re

from .. import checks
from ..report import Report
from ..scenario import Load, drive, env_binary, in_progress_across, phases
from ..stack import Backend, Stack, http_get
from ..traffic import Recorder

ENDPOINT_LAG_S = 1.0
DRAIN_DELAY_S = 5
SHUTDOWN_TIMEOUT_S = 20


def schema_version(db) -> int:
    return int(db.sql("SELECT coalesce(max(version), 0) FROM _sqlx_migrations WHERE success") or 0)


# Board rows whose per-score count differs from a fresh count of the rows (empty when the counts are exact).
STALE_COUNTS = """SELECT coalesce(f.board, c.board) AS board, coalesce(f.best_score, c.best_score) AS best_score,
       coalesce(f.n, 0) AS rows, coalesce(c.players, 0) AS counted
  FROM (SELECT board, best_score, count(*) AS n FROM leaderboard_entries GROUP BY board, best_score) f
  FULL JOIN leaderboard_score_counts c ON c.board = f.board AND c.best_score = f.best_score
 WHERE coalesce(f.n, 0) <> coalesce(c.players, 0)"""


def board_row_writes(db) -> int:
    """Every completion adds one to `games_completed` of each of its board rows."""
    return int(db.sql("SELECT coalesce(sum(games_completed), 0) FROM leaderboard_entries") or 0)


def revision(b: Backend) -> str:
    status, body = http_get(b.url + "/metrics", 3)
    m = re.search(r'^build_info\{([^}]*)\}', body.decode(errors="replace"), re.M) if status == 200 else None
    if not m:
        return "?"
    labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
    return labels.get("revision", "?")[:12]


def run(quick: bool, mode: str = "surge") -> Report:
    name = "rolling" if mode == "surge" else "rolling-inplace"
    rep = Report(name)
    new_bin = env_binary()
    prev_bin = os.environ.get("REL_PREV_BIN") or new_bin
    same_binary = os.path.realpath(prev_bin) == os.path.realpath(new_bin) or filecmp.cmp(prev_bin, new_bin, False)
    baseline, steady, after = (3, 2, 3) if quick else (10, 5, 10)
    load = Load(players=12, read_rate=40)

    with Stack(name, new_bin) as st:
        st.start_redis(6371)
        db = st.shared_database()
        live = [st.new_backend(prev_bin, label=f"prev-{i}").start() for i in range(3)]
        px = st.start_proxy(live, endpoints=mode == "surge")
        schema = {"previous": schema_version(db)}
        revisions = {"previous": sorted({revision(b) for b in live})}
        rec = Recorder()
        terminated: list[Backend] = []
        terms: list[float] = []
        waits: list[asyncio.Task] = []

        async def replace_all(binary: str, tag: str) -> None:
            for i, old in enumerate(list(live)):
                if mode == "surge":
                    new = st.new_backend(binary, label=f"{tag}-{i}")
                    await asyncio.to_thread(new.start)
                    live.append(new)
                    await asyncio.to_thread(st.endpoints.set_peers, [b.addr for b in live])
                    terms.append(rec.mark(f"SIGTERM {old.label}"))
                    old.terminate()
                    waits.append(asyncio.create_task(
                        asyncio.to_thread(old.wait_exit, DRAIN_DELAY_S + SHUTDOWN_TIMEOUT_S + 5)))
                    await asyncio.sleep(ENDPOINT_LAG_S)
                    live.remove(old)
                    await asyncio.to_thread(st.endpoints.set_peers, [b.addr for b in live])
                    terminated.append(old)
                else:
                    terms.append(rec.mark(f"SIGTERM {old.label}"))
                    old.terminate()
                    await asyncio.to_thread(old.wait_exit, DRAIN_DELAY_S + SHUTDOWN_TIMEOUT_S + 5)
                    terminated.append(old)
                    new = st.new_backend(binary, label=f"{tag}-{i}", addr=old.addr)
                    await asyncio.to_thread(new.start)
                    live[live.index(old)] = new
            await asyncio.gather(*waits)
            waits.clear()

        marks: dict[str, float] = {}
        writes: dict[str, int] = {}

        async def script() -> None:
            marks["baseline"] = rec.mark("baseline")
            await asyncio.sleep(baseline)
            marks["rollout"] = rec.mark("rollout")
            await replace_all(new_bin, "new")
            schema["new"] = schema_version(db)
            revisions["new"] = sorted({revision(b) for b in live})
            marks["steady"] = rec.mark("steady")
            await asyncio.sleep(steady)
            marks["rollback"] = rec.mark("rollback")
            await replace_all(prev_bin, "rollback")
            writes["after_rollback"] = board_row_writes(db)
            schema["after_rollback"] = schema_version(db)
            revisions["after_rollback"] = sorted({revision(b) for b in live})
            marks["after"] = rec.mark("after")
            await asyncio.sleep(after)
            marks["end"] = rec.mark("end")

        drive(px.url, rec, load, script)
        writes["end"] = board_row_writes(db)

        rep.figure("mode", mode)
        rep.figure("schema_versions", schema)
        rep.figure("revisions", revisions)
        if same_binary:
            rep.note("the previous release is the same binary as the new one (set REL_PREV_BIN): the rollback "
                     "exercises the procedure, not a schema difference")
        else:
            rep.expect("the new release migrated the schema forward", schema["new"] > schema["previous"], schema)
            rep.expect("the previous release served against the newer schema after the rollback",
                       schema["after_rollback"] == schema["new"], schema)
            if db.sql("SELECT to_regclass('leaderboard_score_counts') IS NOT NULL") == "t":
                # Expand/contract: the previous release knows nothing of the counts, the triggers keep them
                # under its writes, so the release after it can trust them.
                by_previous = writes["end"] - writes["after_rollback"]
                rep.figure("board_row_writes_by_the_previous_release_alone", by_previous)
                rep.expect("the previous release alone completed games on the boards after the rollback",
                           by_previous > 0, by_previous)
                stale = db.rows(STALE_COUNTS)
                rep.expect("the per-score rank counts equal a fresh count of the board rows after the rollback",
                           not stale, stale[:5] or "every board and score")
        windows = [("before", marks["baseline"], marks["rollout"]), ("rollout", marks["rollout"], marks["steady"]),
                   ("between", marks["steady"], marks["rollback"]), ("rollback", marks["rollback"], marks["after"]),
                   ("after", marks["after"], marks["end"])]
        phases(rep, rec, windows, {"read"}, "reads_open_loop")
        phases(rep, rec, windows, {"start", "flip", "complete"}, "game_requests")
        failed = [a for a in rec.attempts if not a.ok]
        rep.figure("requests", len(rec.attempts))
        if mode == "surge":
            rep.expect("zero failed requests during both rollouts", not failed,
                       [f"{a.kind} {a.status} {a.code} rid={a.rid}" for a in failed[:8]])
        else:
            # Behind a proxy with fixed peers a replica is still being sent new connections when its drain ends
            # and it closes its listener: the kernel resets the connections in its accept queue, and nginx cannot
            # resend a POST it already wrote. Those (and only those) may fail; the retry with the same
            # Idempotency-Key recovers each (checked below: no game lost, none counted twice).
            ends = [t + DRAIN_DELAY_S for t in terms]
            odd = [a for a in failed if a.status != 502 or not any(abs(a.t1 - e) < 0.3 for e in ends)]
            rep.figure("failed_requests", {"total": len(failed), "at a listener close": len(failed) - len(odd)})
            rep.expect("the only failures are 502s for requests caught by a replica closing its listener",
                       not odd, [f"{a.kind} {a.status} {a.code} rid={a.rid}" for a in odd[:8]])
        lost = [g for g in rec.games if not g.completed]
        rep.expect("zero lost games: every game started was played to its end", not lost,
                   [f"{g.game_id} {g.error}" for g in lost[:5]] or f"{len(rec.games)} games")
        crossing = sum(in_progress_across(rec, t) for t in terms)
        rep.figure("games_in_progress_at_a_sigterm", crossing)
        rep.expect("games were in progress at the moments replicas were signalled", crossing > 0, crossing)
        rep.figure("ready_seconds", {b.label: round(b.ready_seconds or -1, 3) for b in st.backends})
        stops = {b.label: (b.exit_code, round(b.stop_seconds or -1, 2)) for b in terminated}
        rep.figure("exit_code_and_seconds_after_sigterm", stops)
        rep.expect("every replaced process exited 0 within drain delay + shutdown timeout",
                   all(rc == 0 and 0 <= s <= DRAIN_DELAY_S + SHUTDOWN_TIMEOUT_S for rc, s in stops.values()), stops)
        checks.durability(rep, db, rec, px.url)
    return rep
