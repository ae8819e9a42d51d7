"""Scaling the backend the compose way: `docker-compose up -d --scale backend=N && docker-compose restart nginx`,
which the local stack does with `scripts/local-stack.sh scale N` (more replicas, the proxy's `backend` name
resolving to all of them, nginx reloaded). The unchanged proxy config then spreads requests over every replica.
Runs after the fault tests and leaves two replicas, as `up` started them."""
import uuid

from .local_stack import PROXY, request


def upstreams(stack, n, path="/api/game/config", headers=None):
    seen = set()
    for _ in range(n):
        request_id = "ct-" + uuid.uuid4().hex
        resp = request(PROXY, "GET", path, headers={**(headers or {}), "X-Request-Id": request_id})
        assert resp.status == 200, resp
        seen.add(stack.proxy_entry(request_id)["upstream_addr"])
    return seen


def test_three_replicas_share_the_traffic_and_the_games_then_two_again(stack):
    name = "ct_" + uuid.uuid4().hex[:8]
    start = request(PROXY, "POST", "/api/game/start", body={"username": name},
                    headers={"Idempotency-Key": str(uuid.uuid4())})
    assert start.status == 201, start
    game_id, token = start.json()["game"]["gameId"], start.json()["player"]["token"]
    stack.script("scale", "3")
    try:
        three = {"127.0.0.2:3001", "127.0.0.3:3001", "127.0.0.4:3001"}
        assert upstreams(stack, 30) == three
        # The game started before scaling is served by every replica, the new one included.
        assert upstreams(stack, 30, f"/api/game/{game_id}", {"Authorization": f"Bearer {token}"}) == three
    finally:
        stack.script("scale", "2")
    assert upstreams(stack, 20) == {"127.0.0.2:3001", "127.0.0.3:3001"}
