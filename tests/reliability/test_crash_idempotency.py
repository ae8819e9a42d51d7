"""A move applied by a replica that dies before answering: the client's retry with the same Idempotency-Key
must get that move's answer (a replay), never apply the move a second time, and not wait for long.

Deterministic: a relay between replica A and Redis freezes A right after the game was saved, at the command that
would store the idempotent answer (PSETEX hmg:idem:...); A is then SIGKILLed and the client retries on B."""
from __future__ import annotations

import secrets
import threading
import time
from contextlib import contextmanager

from hmgrel.faultproxy import HoldingRelay
from hmgrel.stack import Stack
from .game_api import call

RETRY_FOR_S = 35  # longer than the server's 30 s in-progress lock, to see what the retry finally gets


def test_a_move_applied_by_a_replica_killed_before_answering_is_replayed_not_applied_twice(binary):
    with _replica_behind_relay("repro-idempotency", binary) as (_, relay, a, b):
        name = f"idem_{secrets.token_hex(3)}"
        s, _, body = call(b.url, "POST", "/api/game/start", {"username": name, "difficulty": "easy"})
        assert s == 201, body
        token, game = body["player"]["token"], body["game"]
        gid, cards = game["gameId"], [c["id"] for c in game["cards"]]
        flip = f"/api/game/{gid}/flip"
        s, _, first = call(b.url, "POST", flip, {"cardId": cards[0]}, token=token)
        assert s == 200 and first["outcome"] is None, first

        key = f"repro-{secrets.token_hex(8)}"
        relay.arm(b"PSETEX", b"idem")
        lost: dict = {}
        t = threading.Thread(target=lambda: lost.update(r=_swallow_post(a.url, flip, {"cardId": cards[1]}, token, key)))
        t.start()
        assert relay.held.wait(10), "replica A never tried to store the idempotent answer"
        a.kill()
        t.join(15)

        s, h, retry, seen, waited = _retry_while_in_progress(b.url, flip, {"cardId": cards[1]}, token, key,
                                                             RETRY_FOR_S)
        s_state, _, state = call(b.url, "GET", f"/api/game/{gid}", token=token)
        summary = (f"retry answers {sorted(set(seen))} over {waited:.1f}s; final {s} "
                   f"outcome={retry.get('outcome') if isinstance(retry, dict) else retry}; "
                   f"game moves={state['game']['moves']}")
        assert s == 200 and retry["outcome"] is not None and retry["outcome"]["cards"] == cards[:2], \
            "the retry did not get the answer of the move A applied (the move was applied again): " + summary
        assert h.get("idempotent-replayed") == "true", "the retry re-executed the move: " + summary
        assert state["game"]["moves"] == 1, "the move was counted twice: " + summary
        # The lease is 3 s; before it, a dead request held its key for 30 s. Half of that is the bound, so noise
        # cannot fail it and the old stall still does.
        print(summary)
        assert waited < 15, "the retry was held back for too long: " + summary


def test_a_start_whose_replica_dies_before_answering_is_replayed_not_dealt_twice(binary):
    """The same for `POST /api/game/start`: the retry gets the game the dead replica dealt, and only one game is
    stored (a second deal would count twice in games_started and leave an orphan game to expire)."""
    with _replica_behind_relay("repro-idempotent-start", binary) as (db, relay, a, b):
        name = f"st_{secrets.token_hex(3)}"
        s, _, claimed = call(b.url, "POST", "/api/scores/user", {"username": name})
        assert s == 201, claimed
        token = claimed["player"]["token"]
        key = f"repro-{secrets.token_hex(8)}"
        body = {"username": name, "difficulty": "easy"}
        relay.arm(b"PSETEX", b"idem")
        t = threading.Thread(target=lambda: _swallow_post(a.url, "/api/game/start", body, token, key))
        t.start()
        assert relay.held.wait(10), "replica A never tried to store the idempotent answer"
        a.kill()
        t.join(15)
        s, h, retry, _, _ = _retry_while_in_progress(b.url, "/api/game/start", body, token, key, 10)
        stored = db.rows(f"SELECT g.id::text, g.status FROM games g JOIN players p ON p.id = g.player_id "
                         f"WHERE p.username = '{name}'")
        assert s == 201, retry
        assert len(stored) == 1, \
            f"the retry dealt another game: stored {stored}, retry answered {retry['game']['gameId']} " \
            f"(replayed: {h.get('idempotent-replayed')})"
        assert h.get("idempotent-replayed") == "true" and retry["game"]["gameId"] == stored[0]["id"]


def test_a_new_player_whose_replica_dies_between_claim_and_deal_keeps_the_name(binary):
    """A first game with a new name: replica A claims the name in PostgreSQL, then dies before the game is
    dealt into Redis, so nothing was answered and nothing replayable was stored. The client's retry with the
    same key must get the name (with its token), not "this username belongs to a player"."""
    with _replica_behind_relay("repro-lost-claim", binary) as (db, relay, a, b):
        name = f"nc_{secrets.token_hex(3)}"
        key = f"repro-{secrets.token_hex(8)}"
        body = {"username": name, "difficulty": "easy"}
        relay.arm(b"EVALSHA", b":start:")  # the script that deals the game and records the start
        t = threading.Thread(target=lambda: _swallow_post(a.url, "/api/game/start", body, None, key))
        t.start()
        assert relay.held.wait(10), "replica A never tried to deal the game"
        claimed = db.rows(f"SELECT id::text FROM players WHERE username = '{name}'")
        assert len(claimed) == 1, f"A had not claimed the name before dealing: {claimed}"
        a.kill()
        t.join(15)
        s, _, retry, _, _ = _retry_while_in_progress(b.url, "/api/game/start", body, None, key, 10)
        assert s == 201, f"the retry lost the name A claimed for it: {s} {retry}"
        assert retry["player"]["isNew"] is True and retry["player"]["token"], retry["player"]
        token = retry["player"]["token"]
        assert token.split(".")[1] == claimed[0]["id"].replace("-", ""), "the token is for another player"
        s, _, state = call(b.url, "GET", f"/api/game/{retry['game']['gameId']}", token=token)
        assert s == 200, state
        games = db.rows(f"SELECT g.id::text FROM games g JOIN players p ON p.id = g.player_id "
                        f"WHERE p.username = '{name}'")
        assert [g["id"] for g in games] == [retry["game"]["gameId"]], games


@contextmanager
def _replica_behind_relay(name: str, binary: str):
    """Two replicas on one database and one Redis; replica A reaches Redis through a relay that can freeze it.
    Yields (database, relay, a, b)."""
    with Stack(name, binary) as st:
        redis = st.start_redis(6373)
        db = st.shared_database()
        relay = HoldingRelay(6374, 6373).start()
        try:
            a = st.new_backend(extra_env={"REDIS_URL": f"redis://:{redis.password}@127.0.0.1:6374/0"},
                               label="a").start()
            b = st.new_backend(label="b").start()
            yield db, relay, a, b
        finally:
            relay.close()


def _swallow_post(base: str, path: str, body: dict, token: str | None, key: str):
    try:
        return call(base, "POST", path, body, token=token, key=key, timeout=20)
    except OSError as e:  # the replica dies with this request in flight
        return e


def _retry_while_in_progress(base: str, path: str, body: dict, token: str | None, key: str, limit_s: float):
    """Retries a POST with the same key while the server says the first attempt still holds it.
    Returns the last (status, headers, body), every answer seen and the seconds waited."""
    t0 = time.monotonic()
    seen = []
    while True:
        s, h, retry = call(base, "POST", path, body, token=token, key=key)
        seen.append(f"{s} {retry.get('error', '') if isinstance(retry, dict) else ''}".strip())
        if not (s == 409 and retry.get("error") == "idempotency_in_progress") or time.monotonic() - t0 > limit_s:
            return s, h, retry, seen, time.monotonic() - t0
        time.sleep(0.5)
