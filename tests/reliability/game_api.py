"""The game's API as the reliability tests use it: one request per fresh connection, starting a game, and playing a
game down to its last pairs."""
from __future__ import annotations

import http.client
import json


def call(base: str, method: str, path: str, body: object = None, *, token: str | None = None,
         key: str | None = None, headers: dict | None = None, raw: bytes | None = None, timeout: float = 10):
    """One request on a fresh connection; returns (status, headers (lower-case), parsed JSON or raw bytes)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        h = {"Accept": "application/json", **(headers or {})}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if token:
            h["Authorization"] = f"Bearer {token}"
        if key:
            h["Idempotency-Key"] = key
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        payload = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = payload
        return r.status, hdrs, parsed
    finally:
        conn.close()


def start_game(base: str, name: str, token: str | None = None, difficulty: str = "easy"):
    s, _, body = call(base, "POST", "/api/game/start", {"username": name, "difficulty": difficulty}, token=token)
    assert s == 201, body
    return (token or body["player"]["token"]), body["game"]


def play_until_pairs_left(base: str, token: str, game: dict, left: int = 1) -> list[list[str]] | None:
    """Reveals every card (attempts of two neighbours), then matches known pairs until `left` pairs are unmatched.
    Returns those pairs' card ids, or None when the reveal itself matched too many (deal another game)."""
    gid, cards = game["gameId"], [c["id"] for c in game["cards"]]
    faces: dict[str, str] = {}
    matched: set[str] = set()
    for i in range(0, len(cards), 2):
        for c in cards[i:i + 2]:
            s, _, r = call(base, "POST", f"/api/game/{gid}/flip", {"cardId": c}, token=token)
            assert s == 200, r
            faces[c] = r["card"]["face"]["emoji"]
            if r["outcome"] and r["outcome"]["result"] == "hit":
                matched.update(r["outcome"]["cards"])
    pairs: dict[str, list[str]] = {}
    for c, f in faces.items():
        if c not in matched:
            pairs.setdefault(f, []).append(c)
    todo = list(pairs.values())
    if len(todo) < left:
        return None
    for a, b in todo[left:]:
        for c in (a, b):
            s, _, r = call(base, "POST", f"/api/game/{gid}/flip", {"cardId": c}, token=token)
            assert s == 200, r
    return todo[:left]
