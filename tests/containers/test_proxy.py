"""The reverse proxy (nginx/nginx.conf, unchanged) in front of two real backend replicas and the frontend nginx:
routing, the kept /api prefix, cache headers per path class, security headers on every response, the body
limit, request ids, and load spread over both replicas."""
import gzip
import json
import os
import uuid

import pytest

from .header_table import check_case
from .local_stack import PROXY, request

REPLICAS = {"127.0.0.2:3001", "127.0.0.3:3001"}
# docs/api.md: public reads (/api/leaderboard*, /api/scores, /api/game/config, /api/game/daily-challenge, and the
# /api index) may be cached for 5 s; everything else under /api is no-store.
PUBLIC_READS = ["/api", "/api/leaderboard", "/api/leaderboard?difficulty=easy&limit=5", "/api/leaderboard/fresh",
                "/api/scores", "/api/game/config", "/api/game/daily-challenge"]
PRIVATE = ["/api/health", "/api/no-such-route", "/api/scores/nobody_here", "/api/leaderboard/rank/nobody_here"]


def rid():
    return "ct-" + uuid.uuid4().hex


def test_the_header_table_holds_through_the_proxy_for_every_case(stack, header_table, frontend_image):
    """All cases, the API ones included: each security header exactly once (the proxy hides the upstreams')."""
    for case in header_table["cases"]:
        path = case["path"].replace("{version}", frontend_image.version)
        resp = request(PROXY, "GET", path, headers=case.get("request_headers"))
        check_case(resp, case, header_table, frontend_image)


def test_api_paths_reach_the_backend_with_the_prefix_kept(stack):
    resp = request(PROXY, "GET", "/api/game/config")
    assert resp.status == 200
    body = resp.json()
    assert body["success"] is True and {d["id"] for d in body["difficulties"]} == {"easy", "medium", "hard", "expert"}
    # /api itself is the API's index, not a redirect to /api/.
    index = request(PROXY, "GET", "/api")
    assert index.status == 200 and index.get("Content-Type").startswith("application/json")
    health = request(PROXY, "GET", "/api/health").json()
    assert health["status"] == "healthy" and health["services"]["database"] == "connected"
    assert health["services"]["redis"] == "connected"


def test_everything_else_goes_to_the_frontend(stack):
    page = request(PROXY, "GET", "/")
    assert page.status == 200 and b"<!doctype html" in page.body.lower()
    assert request(PROXY, "GET", "/health").body == b"healthy\n"  # the frontend's, as in compose


@pytest.mark.parametrize("path", ["/metrics", "/health/ready", "/health/live"])
def test_backend_only_endpoints_are_not_public(stack, path):
    resp = request(PROXY, "GET", path)
    assert resp.status == 404 and b"http_requests_total" not in resp.body


@pytest.mark.parametrize("path", PUBLIC_READS)
def test_public_api_reads_may_be_cached_for_five_seconds(stack, path):
    resp = request(PROXY, "GET", path)
    assert resp.status == 200, resp
    assert resp.all("Cache-Control") == ["public, max-age=5"]


@pytest.mark.parametrize("path", PRIVATE)
def test_every_other_api_answer_is_no_store(stack, path):
    resp = request(PROXY, "GET", path)
    assert resp.all("Cache-Control") == ["no-store"], (path, resp.status, resp.all("Cache-Control"))


def test_mutations_are_no_store_and_carry_every_security_header(stack, header_table):
    name = "ct_" + uuid.uuid4().hex[:8]
    resp = request(PROXY, "POST", "/api/game/start", body={"username": name, "difficulty": "easy"},
                   headers={"Idempotency-Key": str(uuid.uuid4())})
    assert resp.status == 201, resp
    assert resp.all("Cache-Control") == ["no-store"]
    for header, value in header_table["every_response"].items():
        assert resp.all(header) == [value], header


def test_static_assets_are_immutable_and_html_is_revalidated_through_the_proxy(stack, static_version):
    js = request(PROXY, "GET", f"/static/{static_version}/js/main.js", headers={"Accept-Encoding": "gzip"})
    assert js.all("Cache-Control") == ["public, max-age=31536000, immutable"]
    assert js.get("Content-Encoding") == "gzip" and gzip.decompress(js.body)
    assert request(PROXY, "GET", "/").all("Cache-Control") == ["no-cache"]
    assert request(PROXY, "GET", "/index.html").all("Cache-Control") == ["no-cache"]


def test_the_proxys_own_400_is_json_too(stack):
    huge_header = request(PROXY, "GET", "/api/leaderboard", headers={"Authorization": "Bearer " + "x" * 40_000})
    assert huge_header.status == 400, huge_header
    assert huge_header.json()["error"] == "bad_request"


def test_bodies_over_16_kib_stop_at_the_proxy(stack, header_table):
    request_id = rid()
    big = json.dumps({"username": "x" * (17 * 1024)}).encode()
    resp = request(PROXY, "POST", "/api/scores/user", body=big, headers={"X-Request-Id": request_id})
    assert resp.status == 413
    body = resp.json()
    assert body["error"] == "payload_too_large" and body["success"] is False and body["requestId"] == request_id
    assert resp.get("Content-Type") == "application/json" and resp.all("Cache-Control") == ["no-store"]
    for header, value in header_table["every_response"].items():
        assert resp.all(header) == [value], header
    entry = stack.proxy_entry(request_id)
    assert entry["status"] == 413 and entry["upstream_addr"] == "", "a replica saw the oversized body"
    # Just under the limit it reaches a replica (which judges the body itself).
    request_id = rid()
    small = json.dumps({"username": "y" * (15 * 1024)}).encode()
    resp = request(PROXY, "POST", "/api/scores/user", body=small, headers={"X-Request-Id": request_id})
    assert resp.status == 400 and resp.json()["error"] == "validation_failed"
    assert stack.proxy_entry(request_id)["upstream_addr"] in REPLICAS


def test_request_ids_are_shared_by_the_proxy_log_and_the_backend(stack):
    mine = rid()
    resp = request(PROXY, "GET", "/api/scores", headers={"X-Request-Id": mine})
    assert resp.get("X-Request-Id") == mine
    assert stack.proxy_entry(mine)["upstream_addr"] in REPLICAS
    # Without one, the proxy makes one up and the backend answers with it.
    resp = request(PROXY, "GET", "/api/game/config")
    generated = resp.get("X-Request-Id")
    assert generated and stack.proxy_entry(generated)["uri"] == "/api/game/config"


def test_both_replicas_take_traffic(stack):
    seen = set()
    for _ in range(20):
        request_id = rid()
        assert request(PROXY, "GET", "/api/game/config", headers={"X-Request-Id": request_id}).status == 200
        seen.add(stack.proxy_entry(request_id)["upstream_addr"])
    assert seen == REPLICAS


def test_a_game_started_on_one_replica_continues_on_the_other(stack):
    """Live games live in Redis and results in PostgreSQL, so any replica serves any request."""
    name = "ct_" + uuid.uuid4().hex[:8]
    start = request(PROXY, "POST", "/api/game/start", body={"username": name},
                    headers={"Idempotency-Key": str(uuid.uuid4())})
    assert start.status == 201, start
    game_id = start.json()["game"]["gameId"]
    token = start.json()["player"]["token"]
    upstreams = set()
    for _ in range(8):
        request_id = rid()
        resp = request(PROXY, "GET", f"/api/game/{game_id}",
                       headers={"Authorization": f"Bearer {token}", "X-Request-Id": request_id})
        assert resp.status == 200 and resp.json()["game"]["gameId"] == game_id
        upstreams.add(stack.proxy_entry(request_id)["upstream_addr"])
    assert upstreams == REPLICAS


def test_the_backends_warn_about_the_demo_secrets(stack):
    """The stack runs with compose's defaults: each replica names every demo secret in a warning at start-up."""
    for replica in ("backend-1", "backend-2"):
        warned = set()
        with open(os.path.join(stack.state, "logs", f"{replica}.log"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("{"):
                    entry = json.loads(line)
                    if entry.get("level") == "WARN" and "secret" in entry.get("message", ""):
                        warned.add(entry.get("variable"))
        assert {"DB_PASSWORD", "REDIS_PASSWORD", "JWT_SECRET"} <= warned, (replica, warned)
