"""Traffic for the scenarios: players who play whole games honestly (perfect memory, so some misses early and
only hits once faces are known) and public readers at a fixed rate.

Every attempt is recorded (time, kind, status, error code). A player's POSTs carry an `Idempotency-Key`; a
failed attempt (no answer, 502/503/504, `idempotency_in_progress`, `game_busy`) is retried with the same key.
Each flip's answer is checked against the player's own model of the game (faces, outcome, turned-down cards,
moves, misses, running score) and each finished game's result against the rules in docs/api.md
(`rules.py`), so a replayed, lost or double-applied move shows up as a divergence, not as a number.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import random
import secrets
import time
from dataclasses import dataclass, field

import aiohttp

from . import rules as R

RETRYABLE_STATUS = {502, 503, 504}
RETRYABLE_CODES = {"idempotency_in_progress", "game_busy"}


@dataclass
class Attempt:
    t0: float
    t1: float
    kind: str
    status: int  # 0: no HTTP answer
    code: str = ""  # the API's `error` code, or the client error class
    replayed: bool = False
    retry: bool = False  # a second or later attempt of one logical request
    rid: str = ""  # X-Request-Id sent, to find the attempt in the proxy's access log
    retry_after: str = ""  # the Retry-After header of a failed answer
    json_error: bool = True  # a failed answer carried the API's JSON error shape

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def latency_ms(self) -> float:
        return (self.t1 - self.t0) * 1000


@dataclass
class Resp:
    status: int
    body: dict | None
    headers: dict
    code: str
    attempts: int = 1
    first_sent: float = 0.0
    received: float = 0.0


@dataclass
class GameRun:
    player: str
    game_id: str = ""
    difficulty: str = "easy"
    t_start: float = 0.0
    t_end: float = 0.0
    completed: bool = False
    error: str = ""
    final_score: int | None = None
    expected: dict | None = None
    moves: int = 0
    misses: int = 0
    flips: int = 0
    problems: list = field(default_factory=list)
    retried_requests: int = 0
    replays: int = 0


@dataclass
class Chain:
    """One logical POST: its attempts share an Idempotency-Key."""
    kind: str
    first_sent: float
    received: float
    attempts: int
    status: int
    codes: list

    @property
    def wait_s(self) -> float:
        return self.received - self.first_sent


class Recorder:
    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.chains: list[Chain] = []
        self.probe_games: set[str] = set()  # games the recovery prober started (and abandoned)
        self.games: list[GameRun] = []
        self.marks: list[tuple[float, str]] = []
        self.t_origin = time.monotonic()
        self.in_flight: dict[str, float] = {}  # request id -> when it was sent, until its answer arrives

    def mark(self, label: str) -> float:
        t = time.monotonic()
        self.marks.append((t, label))
        return t

    def waiting_longer_than(self, seconds: float) -> int:
        """How many requests have been waiting for their answer for more than `seconds`."""
        cutoff = time.monotonic() - seconds
        return sum(1 for t0 in list(self.in_flight.values()) if t0 < cutoff)

    def between(self, t0: float, t1: float, kinds: set[str] | None = None) -> list[Attempt]:
        return [a for a in self.attempts if t0 <= a.t0 < t1 and (kinds is None or a.kind in kinds)]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round((len(s) - 1) * p)))]


def window_summary(attempts: list[Attempt]) -> dict:
    lat = [a.latency_ms for a in attempts]
    failed = [a for a in attempts if not a.ok]
    codes: dict[str, int] = {}
    for a in failed:
        k = f"{a.status} {a.code}".strip()
        codes[k] = codes.get(k, 0) + 1
    return {"requests": len(attempts), "failed": len(failed), "failures": codes,
            "p50_ms": round(percentile(lat, 0.5), 2), "p99_ms": round(percentile(lat, 0.99), 2),
            "max_ms": round(max(lat), 2) if lat else 0.0}


class Http:
    """One client (one source address, its own connection pool); records every attempt."""

    def __init__(self, base: str, rec: Recorder, local_addr: str | None = None, timeout: float = 20,
                 pool: int = 64):
        self.base, self.rec = base.rstrip("/"), rec
        self.local_addr = local_addr
        self.timeout = timeout
        self.pool = pool
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "Http":
        conn = aiohttp.TCPConnector(limit=self.pool, local_addr=(self.local_addr, 0) if self.local_addr else None,
                                    force_close=False, enable_cleanup_closed=True)
        self.session = aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self

    async def __aexit__(self, *exc) -> None:
        if self.session:
            await self.session.close()

    async def once(self, method: str, path: str, kind: str, *, body: dict | None = None, token: str | None = None,
                   key: str | None = None, headers: dict | None = None, retry: bool = False,
                   scheduled: float | None = None) -> Resp:
        """One attempt. `scheduled` (open loop) makes the latency count from when the request was due."""
        rid = f"rel-{secrets.token_hex(8)}"
        h = {"Accept": "application/json", "X-Request-Id": rid}
        if token:
            h["Authorization"] = f"Bearer {token}"
        if key:
            h["Idempotency-Key"] = key
        if headers:
            h.update(headers)
        t0 = scheduled if scheduled is not None else time.monotonic()
        status, data, code, hdrs, shaped = 0, None, "", {}, True
        self.rec.in_flight[rid] = time.monotonic()
        try:
            assert self.session is not None
            async with self.session.request(method, self.base + path, json=body, headers=h) as r:
                raw = await r.read()
                status, hdrs = r.status, {k.lower(): v for k, v in r.headers.items()}
                try:
                    data = json.loads(raw) if raw else None
                except ValueError:
                    data, code = None, "not_json"
                shaped = False
                if isinstance(data, dict) and not (200 <= status < 300):
                    code = str(data.get("error", ""))
                    shaped = data.get("success") is False and bool(data.get("message")) and "error" in data
        except asyncio.TimeoutError:
            code = "client_timeout"
        except aiohttp.ClientError as e:
            code = type(e).__name__
        finally:
            self.rec.in_flight.pop(rid, None)
        t1 = time.monotonic()
        failed_http = status and not (200 <= status < 300)
        self.rec.attempts.append(Attempt(t0, t1, kind, status, code, hdrs.get("idempotent-replayed") == "true",
                                         retry, rid, hdrs.get("retry-after", ""),
                                         shaped if failed_http and isinstance(data, dict) else not failed_http))
        return Resp(status, data if isinstance(data, dict) else None, hdrs, code, 1, t0, t1)

    async def post(self, path: str, kind: str, body: dict, token: str | None, *, deadline_s: float = 60,
                   max_sleep: float = 1.0) -> Resp:
        """A POST with a fresh Idempotency-Key, retried with the same key until it gets a final answer."""
        key = f"rel-{secrets.token_hex(12)}"
        first = time.monotonic()
        end = first + deadline_s
        delay = 0.05
        codes = []
        for n in itertools.count(1):
            r = await self.once("POST", path, kind, body=body, token=token, key=key, retry=n > 1)
            retryable = r.status == 0 or r.status in RETRYABLE_STATUS or (r.status == 409 and r.code in RETRYABLE_CODES)
            if retryable:
                codes.append(f"{r.status} {r.code}")
            if not retryable or time.monotonic() + delay > end:
                r.attempts, r.first_sent = n, first
                if n > 1:
                    self.rec.chains.append(Chain(kind, first, r.received, n, r.status, codes))
                return r
            # Retry-After is honoured up to `max_sleep`: the scenarios want to see an outage's real length.
            try:
                ra = float(r.headers.get("retry-after", "0"))
            except ValueError:
                ra = 0.0
            await asyncio.sleep(min(max(delay, ra), max_sleep))
            delay = min(delay * 2, max_sleep)
        raise AssertionError("unreachable")


class Player:
    """Plays whole games one after another under one claimed username, checking every answer."""

    def __init__(self, http: Http, rec: Recorder, name: str, difficulty: str = "easy", think_ms: float = 0):
        self.http, self.rec, self.name, self.difficulty = http, rec, name, difficulty
        self.token: str | None = None
        self.think = think_ms / 1000

    async def play(self) -> GameRun:
        run = GameRun(self.name, difficulty=self.difficulty, t_start=time.monotonic())
        self.rec.games.append(run)
        try:
            await self._play(run)
        except GameAborted as e:
            run.error = str(e)
        run.t_end = time.monotonic()
        return run

    async def _call(self, run: GameRun, path: str, kind: str, body: dict) -> Resp:
        r = await self.http.post(path, kind, body, self.token)
        if r.attempts > 1:
            run.retried_requests += 1
        if r.headers.get("idempotent-replayed") == "true":
            run.replays += 1
        return r

    async def _play(self, run: GameRun) -> None:
        rules = R.RULES[self.difficulty]
        r = await self._call(run, "/api/game/start", "start", {"username": self.name, "difficulty": self.difficulty})
        if r.status != 201 or not r.body:
            raise GameAborted(f"start: {r.status} {r.code}")
        if self.token is None:
            tok = (r.body.get("player") or {}).get("token")
            if not tok:
                raise GameAborted("start: the first game did not return a player token")
            self.token = tok
        game = r.body["game"]
        run.game_id = game["gameId"]
        started = (r.first_sent, r.received)
        cards = [c["id"] for c in game["cards"]]
        if len(cards) != 2 * rules.pairs:
            run.problems.append(f"dealt {len(cards)} cards for {rules.pairs} pairs")
        faces: dict[str, str] = {}
        matched: set[str] = set()
        unknown = list(cards)
        outcomes: list[bool] = []
        bonuses = 0
        pending_down: list[str] = []
        path = f"/api/game/{run.game_id}/flip"

        def pick_first() -> tuple[str, str | None]:
            by_face: dict[str, str] = {}
            for c, f in faces.items():
                if c in matched:
                    continue
                if f in by_face:
                    return by_face[f], c
                by_face[f] = c
            return unknown[0], None

        while True:
            first, known_second = pick_first()
            a = await self._flip(run, path, first)
            self._check_flip(run, a, first, None, pending_down)
            faces[first] = a.body["card"]["face"]["emoji"]
            if first in unknown:
                unknown.remove(first)
            pending_down = []
            if known_second is None:
                same = [c for c, f in faces.items() if f == faces[first] and c != first and c not in matched]
                second = same[0] if same else unknown[0]
            else:
                second = known_second
            if self.think:
                await asyncio.sleep(self.think)
            b = await self._flip(run, path, second, last=len(matched) + 2 == len(cards))
            if b.status == 409:
                # The last flip was applied but its answer was lost (a 503 while storing the end, then the retry
                # found the game completed): the stored result comes from `complete`.
                c = await self._call(run, "/api/game/complete", "complete", {"gameId": run.game_id})
                if c.status != 200 or not c.body:
                    raise GameAborted(f"complete: {c.status} {c.code}")
                result = c.body.get("gameResult") or {}
                last_bonus = (result.get("scoreBreakdown") or {}).get("pairBonus", 0) - bonuses
                self._judge_pair(run, rules, last_bonus, b.first_sent - a.received, c.received - a.first_sent)
                outcomes.append(True)
                self._verify_result(run, rules, outcomes, bonuses + last_bonus, result, started, c)
                return
            self._check_flip(run, b, second, first, [])
            faces[second] = b.body["card"]["face"]["emoji"]
            if second in unknown:
                unknown.remove(second)
            hit = faces[first] == faces[second]
            outcome = b.body.get("outcome") or {}
            if outcome.get("result") != ("hit" if hit else "miss"):
                raise GameAborted(f"divergence: outcome {outcome.get('result')} for faces "
                                  f"{faces[first]}/{faces[second]}")
            outcomes.append(hit)
            if hit:
                matched.update((first, second))
                got = outcome.get("pairBonus", 0)
                self._judge_pair(run, rules, got, b.first_sent - a.received, b.received - a.first_sent)
                bonuses += got
            else:
                pending_down = [first, second]
            g = b.body["game"]
            run.moves, run.misses = g.get("moves", 0), g.get("misses", 0)
            if (g.get("moves"), g.get("misses"), g.get("pairsFound")) != \
                    (len(outcomes), outcomes.count(False), outcomes.count(True)):
                run.problems.append(f"counts moves/misses/pairs {g.get('moves')}/{g.get('misses')}/"
                                    f"{g.get('pairsFound')} != {len(outcomes)}/{outcomes.count(False)}/"
                                    f"{outcomes.count(True)}")
            result = b.body.get("result")
            if len(matched) == len(cards):
                if not result:
                    raise GameAborted("divergence: the last pair did not complete the game")
                self._verify_result(run, rules, outcomes, bonuses, result, started, b)
                return
            if result:
                raise GameAborted("divergence: a result before the last pair")
            expect_running = R.running_score(rules, outcomes, bonuses)
            if g.get("score") != expect_running:
                run.problems.append(f"running score {g.get('score')} expected {expect_running}")

    @staticmethod
    def _judge_pair(run: GameRun, rules: R.Rules, got: int, lower_s: float, upper_s: float) -> None:
        """The pair bonus against what the client's clock allows: the server handled each flip somewhere between
        the first send and the final answer of its request."""
        must = R.judge(lower_s * 1000, upper_s * 1000, rules.window_ms)
        if got not in (0, rules.pair_bonus) or must is True and got != rules.pair_bonus \
                or must is False and got != 0:
            run.problems.append(f"pair bonus {got} with flips {lower_s * 1000:.0f}-{upper_s * 1000:.0f} ms apart")

    def _verify_result(self, run: GameRun, rules: R.Rules, outcomes: list[bool], bonuses: int, result: dict,
                       started: tuple[float, float], last: Resp) -> None:
        fast = R.judge((last.first_sent - started[1]) * 1000, (last.received - started[0]) * 1000,
                       rules.limit_ms // 2)
        got = result.get("scoreBreakdown") or {}
        options = [R.final_breakdown(rules, outcomes, bonuses, f) for f in
                   ([fast] if fast is not None else [True, False])]
        run.final_score = result.get("finalScore")
        run.moves, run.misses = len(outcomes), outcomes.count(False)
        run.expected = next((o for o in options if o["finalScore"] == run.final_score), options[0])
        if not any(o["finalScore"] == run.final_score
                   and all(got.get(k) == v for k, v in o.items() if k != "finalScore") for o in options):
            run.problems.append(f"result {run.final_score} {got} expected {options}")
        if result.get("maxScore") != R.HONEST_MAXIMUM[self.difficulty]:
            run.problems.append(f"maxScore {result.get('maxScore')}")
        if result.get("totalMoves") != len(outcomes) or result.get("misses") != outcomes.count(False):
            run.problems.append(f"result moves/misses {result.get('totalMoves')}/{result.get('misses')} differ "
                                f"from the {len(outcomes)} moves played")
        if result.get("gameId") != run.game_id:
            run.problems.append("result of another game")
        run.completed = True

    async def _flip(self, run: GameRun, path: str, card: str, last: bool = False) -> Resp:
        r = await self._call(run, path, "flip", {"cardId": card})
        run.flips += 1
        if last and r.status == 409 and r.code == "game_completed":
            return r
        if r.status != 200 or not r.body:
            raise GameAborted(f"flip: {r.status} {r.code}")
        return r

    @staticmethod
    def _check_flip(run: GameRun, r: Resp, card: str, first: str | None, expect_down: list[str]) -> None:
        body = r.body or {}
        c = body.get("card") or {}
        if c.get("id") != card or not (c.get("face") or {}).get("emoji"):
            raise GameAborted(f"divergence: flip of {card} answered card {c.get('id')}")
        if first is None:
            if body.get("outcome") is not None:
                raise GameAborted("divergence: the first flip of an attempt had an outcome (a flip applied twice?)")
            if sorted(body.get("turnedDown") or []) != sorted(expect_down):
                raise GameAborted(f"divergence: turnedDown {body.get('turnedDown')} expected {expect_down}")
        else:
            outcome = body.get("outcome")
            if not outcome or outcome.get("cards") != [first, card]:
                raise GameAborted(f"divergence: second flip outcome {outcome} (a flip lost or applied twice?)")


class GameAborted(Exception):
    pass


async def run_players(base: str, rec: Recorder, players: int, stop: asyncio.Event, *, prefix: str,
                      local_addr: str | None = None, difficulty: str = "easy", think_ms: float = 0) -> None:
    """`players` players play game after game until `stop` is set (a game in progress is finished)."""
    async with Http(base, rec, local_addr, pool=players + 4) as http:
        async def one(i: int) -> None:
            p = Player(http, rec, f"{prefix}{i}", difficulty, think_ms)
            while not stop.is_set():
                await p.play()
        await asyncio.gather(*(one(i) for i in range(players)))


READ_PATHS = ["/api/leaderboard", "/api/leaderboard/stats", "/api/scores",
              "/api/leaderboard?difficulty=easy&timeframe=week&limit=10"]


async def run_readers(base: str, rec: Recorder, rate: float, stop: asyncio.Event, *,
                      local_addr: str | None = None, paths: list[str] | None = None) -> None:
    """Open loop: one GET every 1/rate seconds whatever the answers take (latency counts from the schedule)."""
    paths = paths or READ_PATHS
    async with Http(base, rec, local_addr, pool=256) as http:
        interval = 1.0 / rate
        t = time.monotonic()
        tasks: set[asyncio.Task] = set()
        for i in itertools.count():
            if stop.is_set():
                break
            t += interval
            delay = t - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(http.once("GET", paths[i % len(paths)], "read", scheduled=t))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)


def player_prefix() -> str:
    return f"r{random.randrange(36**4):04x}"[:5] + "_"


async def run_start_prober(base: str, rec: Recorder, stop: asyncio.Event, interval: float = 0.1) -> None:
    """Starts (and abandons) a game every `interval` s: kind `probe`, a request that needs PostgreSQL and Redis,
    without the players' retry backoff, so the first success after an outage dates the recovery."""
    async with Http(base, rec, pool=4, timeout=5) as http:
        name, token = f"probe_{secrets.token_hex(4)}", None
        while not stop.is_set():
            r = await http.once("POST", "/api/game/start", "probe", body={"username": name}, token=token)
            if r.status == 201 and r.body:
                token = token or (r.body.get("player") or {}).get("token")
                gid = r.body["game"]["gameId"]
                rec.probe_games.add(gid)
                await http.post(f"/api/game/{gid}/abandon", "probe_abandon", {}, token, deadline_s=30)
            await asyncio.sleep(interval)
