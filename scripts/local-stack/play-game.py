#!/usr/bin/env python3
"""Plays one whole game through the HTTP API, the way a person does: it only ever sees the faces the server
reveals one flip at a time, remembers them, and matches pairs from memory. Standard library only.

    play-game.py [--base http://localhost:3000] [--difficulty easy] [--username NAME]

Prints one JSON line with the result (game id, score, moves, misses, request ids) and exits non-zero with the
server's answer if any call fails or the result does not add up.
"""
import argparse
import json
import secrets
import sys
import time
import urllib.error
import urllib.request
import uuid


class ApiError(Exception):
    pass


class Client:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.token = None
        self.request_ids = []

    def call(self, method, path, body=None, expect=(200,)):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        # Our own request id: it shows up in the proxy's access log and the backend's log.
        rid = "play-" + uuid.uuid4().hex
        req.add_header("X-Request-Id", rid)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if method == "POST":
            req.add_header("Idempotency-Key", str(uuid.uuid4()))
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        self.request_ids.append(rid)
        if status not in expect:
            raise ApiError(f"{method} {path} answered {status} (expected {expect}): {raw[:500]!r}")
        try:
            return json.loads(raw)
        except ValueError as err:
            raise ApiError(f"{method} {path} answered {status} with a body that is not JSON: {raw[:200]!r}") from err


def play(client, username, difficulty):
    started = client.call("POST", "/api/game/start",
                          {"username": username, "difficulty": difficulty}, expect=(201,))
    if started["player"].get("token"):
        client.token = started["player"]["token"]
    game = started["game"]
    game_id = game["gameId"]
    total_pairs = game["totalPairs"]
    cards = [c["id"] for c in sorted(game["cards"], key=lambda c: c["position"])]
    if len(cards) != 2 * total_pairs:
        raise ApiError(f"{len(cards)} cards dealt for {total_pairs} pairs")
    if any(c["face"] is not None for c in game["cards"]):
        raise ApiError("the new game showed a face before any flip")

    seen = {}        # card id -> emoji, for every face the server has revealed to us
    matched = set()
    result = None
    flips = 0

    def flip(card_id):
        nonlocal result, flips, game
        answer = client.call("POST", f"/api/game/{game_id}/flip", {"cardId": card_id})
        flips += 1
        seen[card_id] = answer["card"]["face"]["emoji"]
        outcome = answer.get("outcome")
        if outcome and outcome["result"] == "hit":
            matched.update(outcome["cards"])
        game = answer["game"]
        if answer.get("result"):
            result = answer["result"]
        return seen[card_id]

    def remembered_partner(card_id):
        face = seen[card_id]
        return next((c for c in cards if c != card_id and c not in matched and seen.get(c) == face), None)

    limit = 4 * len(cards)  # a person who remembers never needs more than about 2 flips per card
    while result is None:
        if flips > limit:
            raise ApiError(f"no result after {flips} flips")
        known_pair = next(((a, b) for a in cards if a not in matched and a in seen
                           for b in [remembered_partner(a)] if b), None)
        if known_pair:
            flip(known_pair[0])
            flip(known_pair[1])
            continue
        first = next(c for c in cards if c not in matched and c not in seen)
        flip(first)
        partner = remembered_partner(first)
        if partner:
            flip(partner)
        else:
            second = next(c for c in cards if c not in matched and c not in seen)
            flip(second)

    if game["status"] != "completed":
        raise ApiError(f"game status is {game['status']!r} after the last pair")
    if result["matchesFound"] != total_pairs or not 0 <= result["finalScore"] <= result["maxScore"]:
        raise ApiError(f"result does not add up: {result}")
    # `complete` is idempotent and returns the stored result.
    completed = client.call("POST", "/api/game/complete", {"gameId": game_id})
    if completed["gameResult"]["finalScore"] != result["finalScore"]:
        raise ApiError("complete returned another score than the last flip")
    return game_id, result, flips


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="http://localhost:3000")
    parser.add_argument("--difficulty", default="easy", choices=["easy", "medium", "hard", "expert"])
    parser.add_argument("--username", default="stack_" + secrets.token_hex(4))
    args = parser.parse_args()

    client = Client(args.base)
    t0 = time.monotonic()
    try:
        game_id, result, flips = play(client, args.username, args.difficulty)
        scores = client.call("GET", "/api/scores?limit=50")
        if not any(row["username"].lower() == args.username.lower() for row in scores["recent"]):
            raise ApiError(f"/api/scores does not list {args.username} among the recent games")
        board = client.call("GET", f"/api/leaderboard/fresh?difficulty={args.difficulty}&limit=100")
        if not any(row["username"].lower() == args.username.lower() for row in board["leaderboard"]):
            raise ApiError(f"the {args.difficulty} leaderboard does not list {args.username}")
    except (ApiError, KeyError, TypeError, StopIteration, urllib.error.URLError) as err:
        print(f"play-game: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(json.dumps({
        "username": args.username, "gameId": game_id, "difficulty": args.difficulty,
        "finalScore": result["finalScore"], "maxScore": result["maxScore"], "moves": result["totalMoves"],
        "misses": result["misses"], "flips": flips, "rank": (result.get("rank") or {}).get("position"),
        "seconds": round(time.monotonic() - t0, 2), "requestIds": client.request_ids,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
