"""The game engine as a state machine, driven through the real HTTP API by random walks: flips (valid, repeated,
matched, unknown ids), pauses, resumes, abandons, `match` and `complete`, each answer compared with a model written
from docs/api.md (reliability/hmgrel/rules.py for the score), and the server's view of the game checked after
every step. Bounded: REL_PROPERTY_GAMES games (default 40, about 10 s) of up to 120 steps. A failure prints the seed and the steps
(the server deals its own random decks, so a seed replays the same actions, not the same cards).

Not hypothesis' stateful testing: its shrinking replays a case and expects the same draws, which a server that
deals random decks cannot give."""
from __future__ import annotations

import os
import secrets
import time

import random
import string

import pytest

from hmgrel import rules as R
from hmgrel.stack import Stack
from .game_api import call

GAMES = int(os.environ.get("REL_PROPERTY_GAMES", "40"))
STEPS = 120


@pytest.fixture(scope="module")
def server(binary):
    with Stack("properties", binary) as s:
        s.start_redis(6373)
        s.shared_database()
        b = s.new_backend().start()
        yield b.url


class Game:
    def __init__(self, base: str, identity: dict, rng: random.Random):
        self.base, self.identity, self.rng = base, identity, rng

    def deal(self, difficulty):
        ident = self.identity
        s, _, body = call(self.base, "POST", "/api/game/start",
                          {"username": ident["name"], "difficulty": difficulty}, token=ident.get("token"))
        assert s == 201, body
        ident.setdefault("token", body["player"].get("token"))
        g = body["game"]
        self.rules, self.difficulty = R.RULES[difficulty], difficulty
        self.gid, self.cards = g["gameId"], [c["id"] for c in g["cards"]]
        assert len(self.cards) == 2 * self.rules.pairs and len(set(self.cards)) == len(self.cards)
        assert all(c["face"] is None and c["state"] == "down" for c in g["cards"]), "a face was dealt face up"
        self.status, self.faces, self.matched = "active", {}, set()
        self.first: str | None = None  # the first card of the attempt in progress
        self.missed: list[str] = []  # a miss stays visible until the next flip
        self.outcomes: list[bool] = []
        self.bonuses, self.pauses_left, self.final = 0, 3, None
        self.t_first = (0.0, 0.0)

    # -- helpers -----------------------------------------------------------------------------------------------
    def post(self, path, body=None):
        return call(self.base, "POST", f"/api/game{path}", body if body is not None else {},
                    token=self.identity["token"])

    def finished_code(self):
        return {"completed": "game_completed", "abandoned": "game_abandoned", "paused": "game_paused"}.get(self.status)

    def expect_error(self, s, body, status, code):
        assert (s, body.get("error")) == (status, code), f"expected {status} {code}, got {s} {body}"

    def learn(self, card, face):
        known = self.faces.setdefault(card, face)
        assert known == face, f"card {card} showed {face} after {known}"
        same = [c for c, f in self.faces.items() if f == face]
        assert len(same) <= 2, f"face {face} on more than two cards"

    def check_view(self, g):
        assert g["gameId"] == self.gid and g["status"] == self.status
        assert (g["moves"], g["misses"], g["pairsFound"]) == \
            (len(self.outcomes), self.outcomes.count(False), self.outcomes.count(True))
        assert g["pausesLeft"] == self.pauses_left
        up = set(self.missed) | ({self.first} if self.first else set())
        for c in g["cards"]:
            if c["id"] in self.matched:
                assert c["state"] == "matched" and c["face"]["emoji"] == self.faces[c["id"]]
            elif c["id"] in up:
                assert c["state"] == "up" and c["face"]["emoji"] == self.faces[c["id"]]
            else:
                assert c["state"] == "down" and c["face"] is None, f"card {c} should be face down"
        if self.final is None:
            assert g["score"] == R.running_score(self.rules, self.outcomes, self.bonuses)
        else:
            assert g["score"] == self.final
        assert 0 <= g["score"] <= R.HONEST_MAXIMUM[self.difficulty]

    def unmatched(self):
        return [c for c in self.cards if c not in self.matched]

    # -- rules --------------------------------------------------------------------------------------------------
    def flip(self):
        self._flip(self.rng.choice(self.cards))

    def flip_a_known_pair(self):
        if self.status != "active" or self.first is not None:
            return
        by_face = {}
        for c in self.unmatched():
            if c in self.faces:
                by_face.setdefault(self.faces[c], []).append(c)
        pair = next((p for p in by_face.values() if len(p) == 2), None)
        if pair:
            self._flip(pair[0])
            self._flip(pair[1])

    def flip_an_unknown_card(self):
        unknown = [c for c in self.cards if c not in self.faces]
        if unknown:
            self._flip(unknown[0])

    def _flip(self, card):
        t0 = time.monotonic()
        s, _, body = self.post(f"/{self.gid}/flip", {"cardId": card})
        t1 = time.monotonic()
        if self.finished_code():
            return self.expect_error(s, body, 409, self.finished_code())
        if card in self.matched:
            return self.expect_error(s, body, 409, "card_matched")
        if card == self.first:
            return self.expect_error(s, body, 409, "card_face_up")
        assert s == 200, f"flip of a playable card answered {s} {body}"
        face = body["card"]["face"]["emoji"]
        self.learn(card, face)
        if self.first is None:
            assert sorted(body["turnedDown"]) == sorted(self.missed), (body["turnedDown"], self.missed)
            assert body["outcome"] is None
            self.missed, self.first, self.t_first = [], card, (t0, t1)
        else:
            first, self.first = self.first, None
            hit = self.faces[first] == face
            o = body["outcome"]
            assert o["result"] == ("hit" if hit else "miss") and o["cards"] == [first, card], o
            self.outcomes.append(hit)
            if hit:
                self.matched.update((first, card))
                must = R.judge((t0 - self.t_first[1]) * 1000, (t1 - self.t_first[0]) * 1000, self.rules.window_ms)
                assert o["pairBonus"] in (0, self.rules.pair_bonus) and (must is None or
                                                                         (o["pairBonus"] > 0) == must), o
                self.bonuses += o["pairBonus"]
            else:
                self.missed = [first, card]
        if len(self.matched) == len(self.cards):
            result = body["result"]
            assert result, "the last pair did not complete the game"
            expected = R.final_breakdown(self.rules, self.outcomes, self.bonuses, True)
            assert result["finalScore"] == expected["finalScore"], (result, expected)
            self.status, self.final = "completed", result["finalScore"]
        else:
            assert body["result"] is None
        self.check_view(body["game"])

    def flip_a_card_of_no_game(self):
        # Well-formed (as long as a real id, of the same alphabet) but dealt to no game: 404, not 400.
        real = self.cards[0]
        alphabet = string.ascii_letters + string.digits
        fake = "".join(self.rng.choice(alphabet) for _ in real)
        s, _, body = self.post(f"/{self.gid}/flip", {"cardId": fake})
        if self.finished_code():
            assert s in (404, 409), (s, body)
        else:
            self.expect_error(s, body, 404, "card_not_found")

    def pause(self):
        s, _, body = self.post(f"/{self.gid}/pause")
        if self.status in ("completed", "abandoned", "paused"):
            return self.expect_error(s, body, 409, self.finished_code())
        if self.pauses_left == 0:
            return self.expect_error(s, body, 409, "pause_limit_reached")
        assert s == 200, body
        # A pause cancels the attempt in progress (not counted) and turns every unmatched card face down.
        self.status, self.pauses_left, self.first, self.missed = "paused", self.pauses_left - 1, None, []
        self.check_view(body["game"])

    def resume(self):
        s, _, body = self.post(f"/{self.gid}/resume")
        if self.status in ("completed", "abandoned"):
            return self.expect_error(s, body, 409, self.finished_code())
        if self.status == "active":
            return self.expect_error(s, body, 409, "game_not_paused")
        assert s == 200, body
        self.status = "active"
        self.check_view(body["game"])

    def abandon(self):
        if len(self.outcomes) < 3:
            return
        s, _, body = self.post(f"/{self.gid}/abandon")
        if self.status in ("completed", "abandoned"):
            return self.expect_error(s, body, 409, self.finished_code())
        assert s == 200, body
        self.status, self.first, self.missed = "abandoned", None, []
        assert body["game"]["status"] == "abandoned"

    def complete(self):
        s, _, body = self.post("/complete", {"gameId": self.gid, "finalScore": 999999, "timeElapsed": 1})
        if self.status == "completed":
            assert s == 200 and body["gameResult"]["finalScore"] == self.final, body
        elif self.status == "abandoned":
            self.expect_error(s, body, 409, "game_abandoned")
        else:
            self.expect_error(s, body, 409, "game_not_finished")

    def match(self):
        if self.status != "active" or self.first is not None:
            return
        a, b = self.rng.choice(self.cards), self.rng.choice(self.cards)
        s, _, body = self.post("/match", {"gameId": self.gid, "card1Id": a, "card2Id": b})
        if a == b:
            return self.expect_error(s, body, 400, "validation_failed")
        if a in self.matched or b in self.matched:
            return self.expect_error(s, body, 409, "card_matched")
        assert s == 200, body
        m = body["match"]
        hit = body["isMatch"]
        if m:
            self.learn(a, m["card1"]["emoji"])
            self.learn(b, m["card2"]["emoji"])
        shown = {c["id"]: (c["face"] or {}).get("emoji") for c in body["game"]["cards"]}
        assert shown[a] and shown[b], "the two cards of a match are not shown in the answer's game"
        self.learn(a, shown[a])
        self.learn(b, shown[b])
        if hit:
            assert self.faces[a] == self.faces[b]
            self.matched.update((a, b))
            self.bonuses += m["bonusPoints"]
        self.outcomes.append(hit)
        self.missed = [] if hit else [a, b]
        if len(self.matched) == len(self.cards):
            self.status = "completed"
            self.final = body["result"]["finalScore"]
        else:
            assert body["game"]["score"] == R.running_score(self.rules, self.outcomes, self.bonuses), body["game"]

    def the_server_agrees(self):
        s, _, body = call(self.base, "GET", f"/api/game/{self.gid}", token=self.identity["token"])
        assert s == 200, body
        if self.status in ("active", "paused", "completed"):
            self.check_view(body["game"])
        else:
            assert body["game"]["status"] == "abandoned"


# Relative weights: mostly play (so games reach their end), sometimes poke.
ACTIONS = [("flip", 4), ("flip_an_unknown_card", 6), ("flip_a_known_pair", 8), ("flip_a_card_of_no_game", 1),
           ("pause", 0.7), ("resume", 3), ("abandon", 0.08), ("complete", 1), ("match", 2)]


def test_the_game_engine_follows_the_documented_rules(server):
    seed = int(os.environ.get("REL_PROPERTY_SEED", secrets.randbits(32)))
    rng = random.Random(seed)
    identity = {"name": f"prop_{secrets.token_hex(3)}"}
    names, weights = zip(*ACTIONS)
    finished = {"completed": 0, "abandoned": 0, "active": 0, "paused": 0}
    for n in range(GAMES):
        g = Game(server, identity, rng)
        steps = [f"deal {n}"]
        try:
            g.deal(rng.choice(["easy", "medium"]))
            for _ in range(STEPS):
                action = rng.choices(names, weights)[0]
                steps.append(action)
                getattr(g, action)()
                g.the_server_agrees()
                if g.status in ("completed", "abandoned") and rng.random() < 0.5:
                    break
        except AssertionError as e:
            raise AssertionError(f"seed {seed}, game {n}, steps {steps[-12:]}: {e}") from e
        finished[g.status] += 1
    print(f"seed {seed}: {GAMES} games, ended {finished}")
    assert finished["completed"] >= GAMES // 4, f"too few games reached their end to test completion: {finished}"
