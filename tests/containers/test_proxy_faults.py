"""The proxy when a replica goes away or misbehaves. Replica 1 (127.0.0.2) is stopped, replaced by
fake_replica.py where a test needs a replica that records or hangs up, and brought back at the end; replica 2
(127.0.0.3) is always the real backend.

Rules under test (nginx/nginx.conf):
- a refused connection goes to the other replica, for a GET and for a POST (nothing was sent yet);
- a GET that failed at a replica is retried on the other one;
- a POST that reached a replica is never sent again (the client retries it with its Idempotency-Key);
- stopping a replica under traffic loses no request (drain, then Connection: close, then refusals); a POST
  caught in the instant the replica closes is retried by its client with the same Idempotency-Key.
Run last: it changes the stack (scripts/local-stack.sh restores it)."""
import json
import os
import sys
import threading
import time
import uuid

import pytest

from harness import Process, accepts_connections, wait_for

from .local_stack import PROXY, repo_path, request

FAKE_ADDR = "127.0.0.2"
REAL = "127.0.0.3:3001"
FAKE = "127.0.0.2:3001"


def rid():
    return "ct-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def replica1_down(stack):
    """Replica 1 stopped for the whole module, and restarted afterwards."""
    stack.script("stop-backend", "1")
    assert not accepts_connections(FAKE_ADDR, 3001)
    yield stack
    stack.script("start-backend", "1")
    stack.reload_proxy()


class Fake:
    def __init__(self, mode, log):
        self.log = log
        self.proc = Process(f"fake-replica-{mode}", [sys.executable, repo_path("tests", "containers", "fake_replica.py"),
                                                     "--listen", f"{FAKE_ADDR}:3001", "--mode", mode, "--log", log])
        self.proc.start()

        def listening():
            assert self.proc.alive(), "the fake replica exited"
            return accepts_connections(FAKE_ADDR, 3001)

        wait_for("the fake replica to listen", listening, 10)

    def records(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log, encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def stop(self):
        self.proc.stop(10)


@pytest.fixture
def fake(replica1_down, tmp_path):
    fakes = []

    def start(mode):
        f = Fake(mode, str(tmp_path / f"fake-{mode}.jsonl"))
        fakes.append(f)
        replica1_down.reload_proxy()
        return f

    yield start
    for f in fakes:
        f.stop()


def first_attempt_at(stack, send, addr, rounds=4, per_round=6):
    """Sends requests until one whose first attempt went to `addr`; returns (response, proxy log entry).
    A reload gives fresh workers, which have not yet marked `addr` as failed."""
    for _ in range(rounds):
        stack.reload_proxy()
        for _ in range(per_round):
            request_id = rid()
            resp = send(request_id)
            entry = stack.proxy_entry(request_id)
            if entry["upstream_addr"].startswith(addr):
                return resp, entry
    pytest.fail(f"no request was sent to {addr} first")


def test_stopping_a_replica_under_traffic_loses_no_request(stack):
    """scripts/local-stack.sh stop-backend sends SIGTERM: readiness fails, the replica keeps serving for the drain
    delay with Connection: close, then stops accepting; nginx moves to the other replica.

    No GET fails. A POST can meet the one instant when the replica closes a keep-alive connection nginx has just
    written it to: HTTP/1.1 cannot tell whether the replica read it, so the proxy answers 502 rather than risk
    running it twice, and the client sends it again with the same Idempotency-Key (as the page does). Each such
    retry must succeed, and the player must exist exactly once."""
    results, retried, stop = [], [], threading.Event()

    def post(name, key):
        return request(PROXY, "POST", "/api/scores/user", body={"username": name}, headers={"Idempotency-Key": key})

    def traffic(kind):
        while not stop.is_set():
            if kind == "get":
                results.append(("GET", request(PROXY, "GET", "/api/game/config").status))
            else:
                name, key = "ct_" + uuid.uuid4().hex[:10], str(uuid.uuid4())
                resp = post(name, key)
                if resp.status == 502 and resp.json().get("error") == "upstream_unavailable":
                    again = post(name, key)
                    retried.append((name, again.status))
                    resp = again
                results.append(("POST", resp.status))
            time.sleep(0.01)

    threads = [threading.Thread(target=traffic, args=(k,)) for k in ("get", "get", "post")]
    for t in threads:
        t.start()
    try:
        wait_for("traffic through both replicas", lambda: len(results) >= 30, 30)
        t0 = time.monotonic()
        stack.script("stop-backend", "1")
        stopped_after = time.monotonic() - t0
        # Traffic goes on after the stop, so requests meet the replica's refusals too.
        after_stop = len(results)
        wait_for("traffic after the stop", lambda: len(results) >= after_stop + 60, 30)
    finally:
        stop.set()
        for t in threads:
            t.join()
    try:
        failures = [r for r in results if r[1] not in (200, 201)]
        posts = [r for r in results if r[0] == "POST"]
        assert len(results) > 50 and not failures, f"{len(failures)} of {len(results)} failed: {failures[:5]}"
        assert len(retried) <= max(1, len(posts) // 100), f"too many POSTs needed a retry: {retried}"
        for name, status in retried:
            assert status == 201 and request(PROXY, "GET", f"/api/scores/{name}").status == 200
        print(f"{len(results)} requests ({len(posts)} POST) while replica 1 stopped ({stopped_after:.1f}s); "
              f"{len(retried)} POST retried with its Idempotency-Key")
    finally:
        stack.script("start-backend", "1")
        stack.reload_proxy()


def test_a_replica_sees_the_forwarded_headers_and_the_exact_path(replica1_down, fake):
    recorder = fake("record")
    target = "/api/leaderboard?limit=3&q=a%2Fb%20c"

    def send(request_id):
        return request(PROXY, "GET", target, headers={"X-Request-Id": request_id, "Host": "localhost",
                                                      "X-Forwarded-For": "203.0.113.66", "X-Real-IP": "203.0.113.66"})

    resp, entry = first_attempt_at(replica1_down, send, FAKE)
    assert resp.status == 200 and resp.json()["replica"] == "fake"
    (rec,) = [r for r in recorder.records() if ("X-Request-Id", entry["request_id"]) in map(tuple, r["headers"])]
    headers = {k.lower(): v for k, v in rec["headers"]}
    assert rec["target"] == target, "the proxy must pass the path and query unchanged (the /api prefix kept)"
    assert rec["version"] == "HTTP/1.1" and "connection" not in headers, "upstream keep-alive needs HTTP/1.1"
    assert headers["host"] == "localhost"
    # The edge replaces what a client claims: the backend rate-limits the real address.
    assert headers["x-forwarded-for"] == "127.0.0.1" and headers["x-real-ip"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http" and headers["x-forwarded-host"] == "localhost"
    assert headers["x-forwarded-port"] == "3000"


def test_upstream_connections_are_reused(replica1_down, fake):
    recorder = fake("record")
    for _ in range(30):
        request(PROXY, "GET", "/api/game/config")
    per_conn = {}
    for r in recorder.records():
        per_conn[r["conn"]] = per_conn.get(r["conn"], 0) + 1
    assert per_conn and max(per_conn.values()) >= 3, f"requests per upstream connection: {per_conn}"


def test_a_post_that_reached_a_replica_is_not_sent_again(replica1_down, fake, header_table):
    dying = fake("hangup")
    names = {}

    def send(request_id):
        names[request_id] = "ct_" + uuid.uuid4().hex[:10]
        return request(PROXY, "POST", "/api/scores/user", body={"username": names[request_id]},
                       headers={"X-Request-Id": request_id, "Idempotency-Key": str(uuid.uuid4())})

    resp, entry = first_attempt_at(replica1_down, send, FAKE)
    assert entry["upstream_addr"] == FAKE, f"the POST was replayed: {entry}"
    assert resp.status == 502 and entry["status"] == 502
    body = resp.json()
    assert body["error"] == "upstream_unavailable" and body["retryAfterSeconds"] == 5
    assert resp.get("Retry-After") == "5" and resp.all("Cache-Control") == ["no-store"]
    assert resp.get("Content-Type") == "application/json"
    for header, value in header_table["every_response"].items():
        assert resp.all(header) == [value], header
    assert any(r["method"] == "POST" for r in dying.records()), "the fake replica never received the POST"
    # The real replica never saw it: the name is still free.
    name = names[entry["request_id"]]
    assert request(PROXY, "GET", f"/api/scores/{name}").status == 404


def test_a_get_that_failed_at_a_replica_is_retried_on_the_other(replica1_down, fake):
    fake("hangup")

    def send(request_id):
        return request(PROXY, "GET", "/api/game/config", headers={"X-Request-Id": request_id})

    resp, entry = first_attempt_at(replica1_down, send, FAKE)
    assert resp.status == 200 and resp.json()["success"] is True
    assert entry["upstream_addr"] == f"{FAKE}, {REAL}", entry
    assert entry["upstream_status"].endswith("200")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_refused_connection_goes_to_the_other_replica(replica1_down, method):
    assert not accepts_connections(FAKE_ADDR, 3001)
    names = {}

    def send(request_id):
        if method == "GET":
            return request(PROXY, "GET", "/api/game/config", headers={"X-Request-Id": request_id})
        names[request_id] = "ct_" + uuid.uuid4().hex[:10]
        return request(PROXY, "POST", "/api/scores/user", body={"username": names[request_id]},
                       headers={"X-Request-Id": request_id, "Idempotency-Key": str(uuid.uuid4())})

    resp, entry = first_attempt_at(replica1_down, send, FAKE)
    assert entry["upstream_addr"] == f"{FAKE}, {REAL}", entry
    assert resp.status == (200 if method == "GET" else 201), resp
    if method == "POST":
        assert resp.json()["player"]["username"] == names[entry["request_id"]]


def test_with_every_replica_gone_the_answer_is_a_fast_json_502(replica1_down, header_table):
    stack = replica1_down
    stack.script("stop-backend", "2")
    try:
        stack.reload_proxy()
        t0 = time.monotonic()
        # Fast: within the request's timeout, not after the proxy's upstream timeouts.
        resp = request(PROXY, "GET", "/api/scores", timeout=5)
        print(f"answered in {time.monotonic() - t0:.2f}s")
        assert resp.status == 502 and resp.json()["error"] == "upstream_unavailable"
        assert resp.get("Retry-After") == "5" and resp.all("Cache-Control") == ["no-store"]
        for header, value in header_table["every_response"].items():
            assert resp.all(header) == [value], header
        # The page itself is still served.
        assert request(PROXY, "GET", "/").status == 200
    finally:
        stack.script("start-backend", "2")
