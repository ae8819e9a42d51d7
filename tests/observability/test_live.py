"""The live test: the real binary, real PostgreSQL and Redis, real Prometheus and Alertmanager with our files.

Two replicas of the server share a private PostgreSQL database (reached through a small TCP proxy we can cut)
and a private redis-server. Scripted players finish, abandon and leave games through the API. Prometheus runs
monitoring/prometheus/prometheus-compose.yml (targets pointed at the replicas, 2 s intervals) with
monitoring/rules/, Alertmanager runs monitoring/alertmanager/alertmanager.yml (its webhook pointed at a local
sink, short grouping waits). Then the dependencies are made unreachable and the alert must travel the whole way.

Every port (replicas, webhook, PostgreSQL proxy, redis, Prometheus, Alertmanager, the Kubernetes-config
Prometheus) comes from the OS, so the test never collides with another run or area.
"""
import http.server
import json
import os
import re
import secrets
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

import pytest
import yaml

import harness
from harness import GameServer, Process, RedisServer, free_ports

from . import k8s_sd_sim
from . import obslib
from .obslib import MON

BACKEND_1, BACKEND_2, WEBHOOK, PG_PROXY, REDIS, PROM, AM, PROM_K8S = free_ports(8)
BACKENDS = [BACKEND_1, BACKEND_2]
PG = ("127.0.0.1", 5432)

# Dashboard queries over the app's own metrics that may legitimately be empty after this run, with the reason.
MAY_BE_EMPTY = {
    # Every series the dashboards use exists from start-up (the binary initialises its counters per
    # difficulty at 0) or is produced by this run; add an entry here only with the reason it cannot be.
}


# ------------------------------------------------------------------------------------------ plumbing
def artifacts():
    d = Path(os.environ.get("ARTIFACTS", "/tmp")) / "observability"
    d.mkdir(parents=True, exist_ok=True)
    return d


def request(method, url, body=None, headers=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    h = {"Content-Type": "application/json"} if body is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw, status, rh = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        raw, status, rh = e.read(), e.code, e.headers
    try:
        return status, json.loads(raw) if raw else None, rh
    except ValueError:
        return status, raw.decode(errors="replace"), rh


def wait_for(what, fn, timeout):
    """harness.wait_for at Prometheus' pace; an answer that is not JSON yet counts as "not yet"."""
    return harness.wait_for(what, fn, timeout, interval=0.5, ignore=(OSError, ValueError))


def start(name, argv, env=None):
    """A process of the stack, its output in artifacts/observability/<name>.log."""
    log = artifacts() / f"{name}.log"
    log.unlink(missing_ok=True)
    return Process(name, argv, log=log, env=env).start()


class FaultProxy:
    """TCP proxy in front of the shared PostgreSQL: cut() makes the database unreachable for the replicas
    (open connections shut down, new ones refused) without touching the server others use."""

    def __init__(self, port, target):
        self.port, self.target = port, target
        self.conns, self.lock, self.listener = [], threading.Lock(), None

    def start(self):
        listener = socket.create_server(("127.0.0.1", self.port))
        with self.lock:
            self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.listener is not listener:  # cut while this connection was being set up
                    client.close()
                    upstream.close()
                    return
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        # Each socket is closed only by the thread that reads it, so no descriptor is closed twice or
        # reused under a thread still holding it.
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            src.close()

    def cut(self):
        with self.lock:
            listener, self.listener = self.listener, None
            conns, self.conns = self.conns, []
        listener.close()
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        if self.listener is not None:
            self.cut()

    restore = start


class Sink(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Sink.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def psql(sql):
    subprocess.run(["psql", "-h", PG[0], "-p", str(PG[1]), "-U", "postgres", "-d", "postgres", "-v",
                    "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True, timeout=60)


def prom_query(port, q):
    st, body, _ = request("GET", f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q}))
    assert st == 200 and body["status"] == "success", f"{q}: {body}"
    return body["data"]["result"]


def short_groups_evaluated_since(port, since: float) -> bool:
    """Whether every rule group on the global 2 s interval has been evaluated after `since` (Unix seconds), read
    from Prometheus' rules API (a group with its own, longer interval is left out)."""
    groups = request("GET", f"http://127.0.0.1:{port}/api/v1/rules")[1]["data"]["groups"]
    short = [g for g in groups if g["interval"] <= 2]

    def unix(stamp: str) -> float:
        # RFC 3339 with nanoseconds: Python reads at most microseconds.
        stamp = re.sub(r"(\.\d{6})\d+", r"\1", stamp).replace("Z", "+00:00")
        return datetime.fromisoformat(stamp).timestamp()

    return bool(short) and all(unix(g["lastEvaluation"]) > since for g in short)


def prom_alerts(port):
    return request("GET", f"http://127.0.0.1:{port}/api/v1/alerts")[1]["data"]["alerts"]


# ------------------------------------------------------------------------------------------ players
class Player:
    def __init__(self, port, name):
        self.base = f"http://127.0.0.1:{port}"
        self.name = name
        self.token = None

    def call(self, method, path, body=None, headers=None):
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return request(method, self.base + path, body, h)

    def start(self, difficulty):
        st, r, _ = self.call("POST", "/api/game/start", {"username": self.name, "difficulty": difficulty})
        assert st == 201, (st, r)
        if r["player"].get("token"):
            self.token = r["player"]["token"]
        return r["game"]

    def flip(self, gid, cid):
        st, r, _ = self.call("POST", f"/api/game/{gid}/flip", {"cardId": cid})
        assert st == 200, (st, r)
        return r

    def play(self, difficulty):
        """Finish a game the way a player with a perfect memory would, and return its result."""
        game = self.start(difficulty)
        gid = game["gameId"]
        order = [c["id"] for c in sorted(game["cards"], key=lambda c: c["position"])]
        face, matched = {}, set()

        def reveal(cid):
            r = self.flip(gid, cid)
            face[cid] = (r["card"]["face"]["emoji"], r["card"]["face"]["name"])
            return r

        while True:
            open_cards = [c for c in order if c not in matched]
            known = {}
            pair = None
            for c in open_cards:
                if c in face:
                    if face[c] in known:
                        pair = (known[face[c]], c)
                        break
                    known[face[c]] = c
            if pair:
                first, second = pair
                reveal(first)
            else:
                first = next(c for c in open_cards if c not in face)
                reveal(first)
                twin = [c for c in open_cards if c != first and face.get(c) == face[first]]
                second = twin[0] if twin else next(c for c in open_cards if c not in face)
            r = reveal(second)
            assert r["outcome"] is not None, r
            if r["outcome"]["result"] == "hit":
                matched |= {first, second}
            if r.get("result"):
                break
        st, done, _ = self.call("POST", "/api/game/complete", {"gameId": gid})
        assert st == 200, (st, done)
        return done["gameResult"]


def scripted_traffic():
    """Games on both replicas (every difficulty finished, one abandoned, one left running), plus the other
    outcomes a dashboard shows: 4xx, an idempotent replay, public reads, pause and resume."""
    results = []
    for i, difficulty in enumerate(["easy", "medium", "hard", "expert", "easy"]):
        p = Player(BACKENDS[i % 2], f"obs_player_{i}")
        results.append(p.play(difficulty))
    quitter = Player(BACKENDS[1], "obs_quitter")
    g = quitter.start("medium")
    assert quitter.call("POST", f"/api/game/{g['gameId']}/pause")[0] == 200
    assert quitter.call("POST", f"/api/game/{g['gameId']}/resume")[0] == 200
    assert quitter.call("POST", f"/api/game/{g['gameId']}/abandon")[0] == 200
    stayer = Player(BACKENDS[0], "obs_stayer")
    g = stayer.start("hard")
    stayer.flip(g["gameId"], g["cards"][0]["id"])
    # An idempotent retry of a start: same key, same body, answered from the store.
    key = str(uuid.uuid4())
    body = {"username": "obs_retrier", "difficulty": "easy"}
    st1, _, _ = request("POST", f"http://127.0.0.1:{BACKENDS[0]}/api/game/start", body, {"Idempotency-Key": key})
    st2, _, h2 = request("POST", f"http://127.0.0.1:{BACKENDS[0]}/api/game/start", body, {"Idempotency-Key": key})
    assert st1 == st2 == 201 and h2.get("Idempotent-Replayed") == "true", (st1, st2, h2)
    for port in BACKENDS:
        # The probes the SLI leaves out, so the unit tests' probe series are real templates too.
        for probe in ("/health", "/api/health", "/health/live"):
            assert request("GET", f"http://127.0.0.1:{port}{probe}")[0] == 200
        assert request("GET", f"http://127.0.0.1:{port}/api/leaderboard")[0] == 200
        assert request("GET", f"http://127.0.0.1:{port}/api/game/config")[0] == 200
        assert request("GET", f"http://127.0.0.1:{port}/api/no-such-thing")[0] == 404
        assert request("POST", f"http://127.0.0.1:{port}/api/game/start", {"username": "x"})[0] == 400
    return results


# ------------------------------------------------------------------------------------------ the stack
@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    binary = obslib.hmg_bin()
    if binary is None:
        if obslib.require_tools():
            pytest.fail("HMG_BIN does not point at the server binary; the live test cannot run")
        pytest.skip("no server binary (set HMG_BIN)")
    prometheus, alertmanager = obslib.tool("prometheus"), obslib.tool("prometheus-alertmanager")
    obslib.tool("redis-server")
    obslib.tool("psql")

    tmp = tmp_path_factory.mktemp("live")
    procs, cleanups = [], []
    db = f"hmg_obs_{secrets.token_hex(4)}"
    psql(f"CREATE DATABASE {db}")
    cleanups.append(lambda: psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
    try:
        proxy = FaultProxy(PG_PROXY, PG)
        proxy.start()
        cleanups.append(proxy.close)
        redis = RedisServer(tmp / "redis", port=REDIS, password="").start()
        cleanups.append(redis.stop)

        sink = http.server.ThreadingHTTPServer(("127.0.0.1", WEBHOOK), Sink)
        threading.Thread(target=sink.serve_forever, daemon=True).start()
        cleanups.append(lambda: (sink.shutdown(), sink.server_close()))

        env = dict(os.environ, HOST="127.0.0.1", DATABASE_URL=f"postgres://postgres@127.0.0.1:{PG_PROXY}/{db}",
                   REDIS_URL=f"redis://127.0.0.1:{REDIS}", JWT_SECRET=secrets.token_hex(32), LOG_FORMAT="json",
                   RATE_LIMIT_MAX_REQUESTS="100000", DRAIN_DELAY_SECONDS="0", SHUTDOWN_TIMEOUT_SECONDS="5")
        env.pop("SQLITE_PATH", None)
        backends = []
        for port in BACKENDS:
            log = artifacts() / f"backend-{port}.log"
            log.unlink(missing_ok=True)
            backends.append(GameServer(binary, env, port=port, log=log).launch())
        procs += backends
        for server in backends:
            server.wait_ready(60)

        am_cfg = yaml.safe_load((MON / "alertmanager/alertmanager.yml").read_text())
        am_cfg["receivers"][0]["webhook_configs"][0]["url"] = f"http://127.0.0.1:{WEBHOOK}/alerts"
        # Test-only timings: the real ones (30s/5m) would only slow the test down.
        am_cfg["route"].update(group_wait="1s", group_interval="2s")
        (tmp / "alertmanager.yml").write_text(yaml.safe_dump(am_cfg, sort_keys=False))
        procs.append(start("alertmanager", [alertmanager, f"--config.file={tmp / 'alertmanager.yml'}",
                                           f"--storage.path={tmp / 'am-data'}",
                                           f"--web.listen-address=127.0.0.1:{AM}", "--cluster.listen-address="]))

        cfg = yaml.safe_load((MON / "prometheus/prometheus-compose.yml").read_text())
        cfg["global"].update(scrape_interval="2s", evaluation_interval="2s")
        cfg["rule_files"] = [str(MON / "rules" / "*.yml")]
        cfg["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [f"127.0.0.1:{AM}"]}]}]
        targets = {"backend": [f"127.0.0.1:{p}" for p in BACKENDS], "prometheus": [f"127.0.0.1:{PROM}"],
                   "alertmanager": [f"127.0.0.1:{AM}"]}
        for job in cfg["scrape_configs"]:
            job.pop("dns_sd_configs", None)
            job["static_configs"] = [{"targets": targets[job["job_name"]]}]
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        procs.append(start("prometheus", [prometheus, f"--config.file={tmp / 'prometheus.yml'}",
                                         f"--storage.tsdb.path={tmp / 'prom-data'}",
                                         f"--web.listen-address=127.0.0.1:{PROM}"]))

        k8s_dir = tmp / "k8s"
        k8s_dir.mkdir()
        k8s_cfg = k8s_sd_sim.transform(k8s_dir, pods=SIM_PODS, nodes=SIM_NODES, scrape_interval="2s",
                                       static={"prometheus": [f"127.0.0.1:{PROM_K8S}"],
                                               "alertmanager": [f"127.0.0.1:{AM}"], "alertmanagers": []})
        procs.append(start("prometheus-k8s", [prometheus, f"--config.file={k8s_cfg}",
                                             f"--storage.tsdb.path={tmp / 'prom-k8s-data'}",
                                             f"--web.listen-address=127.0.0.1:{PROM_K8S}"]))
        for port in (PROM, PROM_K8S):
            wait_for(f"prometheus {port}", lambda port=port: request("GET", f"http://127.0.0.1:{port}/-/ready")[0] == 200, 30)
        wait_for("alertmanager", lambda: request("GET", f"http://127.0.0.1:{AM}/-/ready")[0] == 200, 30)

        exposition_before = {p: urllib.request.urlopen(f"http://127.0.0.1:{p}/metrics", timeout=5).read().decode()
                             for p in BACKENDS}
        results = scripted_traffic()
        exposition = {p: urllib.request.urlopen(f"http://127.0.0.1:{p}/metrics", timeout=5).read().decode()
                      for p in BACKENDS}
        (artifacts() / "metrics-backend-1.txt").write_text(exposition[BACKENDS[0]])
        # A few scrapes and rule evaluations after the games: every 2 s rule group evaluated three more times.
        wait_for("game metrics in Prometheus", lambda: prom_query(PROM, "sum(games_completed_total)"), 30)
        # Every backend has been scraped now; an alert left pending by an evaluation before the first scrape (an
        # absent() right after start) is cleared by the next one, so read the alerts after every 2 s group has
        # been evaluated twice since this moment.
        scraped_at = time.time()
        wait_for("every 2 s rule group evaluated twice since the scrape",
                 lambda: short_groups_evaluated_since(PROM, scraped_at + 2), 60)
        steady_alerts = prom_alerts(PROM)
        yield {"procs": procs, "proxy": proxy, "redis": redis, "backends": backends, "results": results,
               "exposition": exposition, "exposition_before": exposition_before,
               "steady_alerts": steady_alerts, "tmp": tmp}
    finally:
        for p in reversed(procs):
            p.stop()
        for c in reversed(cleanups):
            try:
                c()
            except Exception as e:  # cleanup must go on
                print(f"cleanup failed: {e}")


SIM_PODS = [
    # Two backend replicas; the first also declares a second port and has an init container.
    {"namespace": "humor-game", "name": "backend-6c9b7d8f5d-x2k4p", "ip": "127.0.0.1",
     "labels": {"app": "backend", "pod-template-hash": "6c9b7d8f5d"},
     "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(BACKENDS[0]),
                     "prometheus.io/path": "/metrics"},
     "containers": [{"name": "migrate", "init": True},
                    {"name": "backend", "ports": [{"name": "http", "port": BACKENDS[0]},
                                                  {"name": "admin", "port": 3399}]}]},
    {"namespace": "humor-game", "name": "backend-6c9b7d8f5d-q8wzt", "ip": "127.0.0.1",
     "labels": {"app": "backend", "pod-template-hash": "6c9b7d8f5d"},
     "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(BACKENDS[1]),
                     "prometheus.io/path": "/metrics"},
     "containers": [{"name": "backend", "ports": [{"name": "http", "port": BACKENDS[1]}]}]},
    # A finished pod of the same app (a Job's leftover): not scraped.
    {"namespace": "humor-game", "name": "backend-6c9b7d8f5d-done1", "ip": "127.0.1.9", "phase": "Succeeded",
     "labels": {"app": "backend"}, "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "3001"},
     "containers": [{"name": "backend", "ports": [{"name": "http", "port": 3001}]}]},
    # Not annotated: not scraped.
    {"namespace": "humor-game", "name": "postgres-5d8c7b9f4-abcde", "ip": "127.0.1.4", "labels": {"app": "postgres"},
     "containers": [{"name": "postgres", "ports": [{"name": "postgres", "port": 5432}]}]},
    # The ingress controller, annotated as some charts do: scraped once, by its own job.
    {"namespace": "ingress-nginx", "name": "ingress-nginx-controller-7d4b9c8f6-zz9xk", "ip": "127.0.1.2",
     "labels": {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller",
                "app.kubernetes.io/instance": "ingress-nginx"},
     "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "10254"},
     "containers": [{"name": "controller", "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443},
                                                     {"name": "metrics", "port": 10254}]}]},
]
SIM_NODES = [{"name": "k3d-dev-server-0", "ip": "127.0.1.3", "port": 10250}]


# ------------------------------------------------------------------------------------------ steady state
def test_games_were_played_and_scored(stack):
    assert [r["difficulty"] for r in stack["results"]] == ["easy", "medium", "hard", "expert", "easy"]
    for r in stack["results"]:
        assert r["matchesFound"] == {"easy": 8, "medium": 10, "hard": 12, "expert": 15}[r["difficulty"]]
        assert 0 < r["finalScore"] <= r["maxScore"]


def test_every_target_is_up(stack):
    res = prom_query(PROM, "up")
    assert {(r["metric"]["job"], r["metric"]["instance"]): r["value"][1] for r in res} == {
        ("backend", f"127.0.0.1:{BACKENDS[0]}"): "1", ("backend", f"127.0.0.1:{BACKENDS[1]}"): "1",
        ("prometheus", f"127.0.0.1:{PROM}"): "1", ("alertmanager", f"127.0.0.1:{AM}"): "1"}


def test_no_alert_fires_or_is_pending_in_steady_state(stack):
    assert stack["steady_alerts"] == [], stack["steady_alerts"]


def test_exposition_passes_promtool_check_metrics(stack):
    for port, text in stack["exposition"].items():
        r = subprocess.run([obslib.tool("promtool"), "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, f"replica {port}: {r.stdout}{r.stderr}"


def test_exposition_matches_the_contract(stack):
    exported = obslib.exported_series_names(obslib.contract())
    series = obslib.parse_exposition(stack["exposition"][BACKENDS[0]])
    for name, samples in series.items():
        assert name in exported, f"/metrics has {name}, which `contract` does not list"
        for labels in samples:
            assert set(labels) == exported[name], f"{name}{labels}: the contract says {sorted(exported[name])}"
    # Series with labels appear on first use (a counter of errors only after an error); which of them must
    # have data is asserted per dashboard panel at the end of the run.
    print("in the contract, not yet in /metrics:", sorted(n for n in exported if n not in series))


def test_label_values_have_the_agreed_shapes(stack):
    series = obslib.parse_exposition(stack["exposition"][BACKENDS[0]])
    routes = set()
    for name, samples in series.items():
        for labels in samples:
            for label, allowed in obslib.ENUMS.items():
                if label in labels:
                    assert labels[label] in allowed, f"{name}{labels}"
            if "status" in labels:
                assert labels["status"].isdigit() and len(labels["status"]) == 3, labels
            if "method" in labels:
                assert labels["method"].isupper(), labels
            if "route" in labels:
                routes.add(labels["route"])
    assert "unmatched" in routes, routes  # the 404 for /api/no-such-thing
    assert "/api/game/{gameId}/flip" in routes, routes
    assert not any("obs_" in r or r.count("-") >= 4 for r in routes), f"raw paths leaked into route: {routes}"


def test_unit_test_series_use_the_label_shapes_the_binary_exports(stack):
    """The promtool unit tests' app series carry exactly the labels the running binary exports, and their
    route/status/method values are ones it really produces (or a code from docs/api.md)."""
    series = obslib.parse_exposition(stack["exposition"][BACKENDS[0]])
    real_routes = {l["route"] for text in stack["exposition"].values()
                   for s in obslib.parse_exposition(text).values() for l in s if "route" in l}
    for case, name, labels in obslib.input_series():
        if name not in series:
            continue
        real = set(series[name][0])
        assert set(labels) - obslib.TARGET_LABELS == real, f"{case}: {name} {sorted(labels)} vs {sorted(real)}"
        if "route" in labels:
            assert labels["route"] in real_routes, f"{case}: route {labels['route']!r} is not a real template"
        if "le" in labels:
            real_le = {float(l["le"]) for l in series[name]}
            assert float(labels["le"]) in real_le, f"{case}: {name} has no bucket le={labels['le']}"


def test_every_replica_reports_ready_and_its_dependencies_up(stack):
    # BackendNotReady and DependencyDown read these: in steady state they must say "all well".
    assert sorted(r["value"][1] for r in prom_query(PROM, "app_ready")) == ["1", "1"]
    deps = {(r["metric"]["instance"], r["metric"]["dependency"]): r["value"][1]
            for r in prom_query(PROM, "dependency_up")}
    assert deps == {(f"127.0.0.1:{p}", d): "1" for p in BACKENDS for d in ("database", "redis")}


def test_every_replica_reports_the_same_number_of_live_games(stack):
    res = prom_query(PROM, "game_sessions_active")
    assert len(res) == 2
    values = {r["value"][1] for r in res}
    assert len(values) == 1 and float(values.pop()) >= 1, res  # the game left running


def test_kubernetes_config_scrapes_each_backend_pod_exactly_once(stack):
    def targets():
        return request("GET", f"http://127.0.0.1:{PROM_K8S}/api/v1/targets")[1]["data"]

    data = wait_for("backend targets up in the Kubernetes-config Prometheus",
                    lambda: (d := targets()) and sum(t["health"] == "up" for t in d["activeTargets"]
                                                     if t["labels"]["job"] == "backend") == 2 and d, 40)
    active = [t["labels"] for t in data["activeTargets"]]
    backend = sorted((l for l in active if l["job"] == "backend"), key=lambda l: l["instance"])
    # The ports come from the OS, so either backend may sort first.
    assert backend == sorted([
        {"instance": f"127.0.0.1:{BACKENDS[0]}", "job": "backend", "namespace": "humor-game",
         "pod": "backend-6c9b7d8f5d-x2k4p"},
        {"instance": f"127.0.0.1:{BACKENDS[1]}", "job": "backend", "namespace": "humor-game",
         "pod": "backend-6c9b7d8f5d-q8wzt"}], key=lambda l: l["instance"])
    assert [l for l in active if l["job"] == "ingress-nginx"] == [{"instance": "127.0.1.2:10254", "job": "ingress-nginx"}]
    assert not [l for l in active if l["job"] == "kubernetes-pods"], active
    urls = {t["labels"]["job"]: t["scrapeUrl"] for t in data["activeTargets"]}
    assert urls["kubelet"] == "https://127.0.1.3:10250/metrics"
    assert urls["kubernetes-cadvisor"] == "https://127.0.1.3:10250/metrics/cadvisor"
    for t in data["activeTargets"]:
        if t["labels"]["job"] in ("kubelet", "kubernetes-cadvisor"):
            assert t["labels"]["node"] == t["labels"]["instance"] == "k3d-dev-server-0"
    # The rules aggregate per namespace there.
    wait_for("namespaced SLI", lambda: prom_query(PROM_K8S, 'namespace_job:http_requests:rate5m{namespace="humor-game", job="backend"}'), 30)


# ------------------------------------------------------------------------------------------ the fault
@pytest.fixture(scope="module")
def fault(stack):
    """Cut PostgreSQL and stop Redis, keep players trying, and follow DependencyDown to the webhook; then
    bring both back and follow the resolution."""
    t0 = time.monotonic()
    stack["proxy"].cut()
    stack["redis"].stop()
    failures, latencies = [], []
    stop = threading.Event()

    def players_keep_trying():
        # Players keep pressing "start" through the outage: user-facing errors for the burn-rate alert.
        while not stop.is_set():
            for port in BACKENDS:
                t = time.monotonic()
                try:
                    # docs/api.md: "answered fast, never a hang": well inside REQUEST_TIMEOUT_MS (10 s), so a
                    # client that gives up after 5 s must always have its answer.
                    st, _, _ = request("POST", f"http://127.0.0.1:{port}/api/game/start",
                                       {"username": f"obs_blocked_{port}", "difficulty": "easy"}, timeout=5)
                except OSError as e:
                    st = f"no answer within 5 s ({e})"
                failures.append(st)
                latencies.append(time.monotonic() - t)

    def firing(port):
        return {a["labels"]["dependency"] for a in prom_alerts(port)
                if a["labels"]["alertname"] == "DependencyDown" and a["state"] == "firing"}

    threads = [threading.Thread(target=players_keep_trying, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for("DependencyDown firing for both dependencies", lambda: firing(PROM) == {"database", "redis"}, 150)
        fired_after = time.monotonic() - t0
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    burn = {a["labels"]["alertname"]: a["state"] for a in prom_alerts(PROM)}
    wait_for("the webhook to receive DependencyDown",
             lambda: {a["labels"].get("dependency") for m in Sink.received for a in m["alerts"]
                      if a["labels"]["alertname"] == "DependencyDown" and a["status"] == "firing"} >= {"database", "redis"}, 30)
    st, am_alerts, _ = request("GET", f"http://127.0.0.1:{AM}/api/v2/alerts")
    assert st == 200

    # Recovery.
    t1 = time.monotonic()
    stack["redis"].start()
    stack["proxy"].restore()
    wait_for("dependency_up back to 1",
             lambda: all(r["value"][1] == "1" for r in prom_query(PROM, "dependency_up")) and
             len(prom_query(PROM, "dependency_up")) == 4, 60)
    wait_for("the webhook to receive the resolution",
             lambda: {a["labels"].get("dependency") for m in Sink.received for a in m["alerts"]
                      if a["labels"]["alertname"] == "DependencyDown" and a["status"] == "resolved"} >= {"database", "redis"}, 60)
    resolved_after = time.monotonic() - t1
    (artifacts() / "webhook.json").write_text(json.dumps(Sink.received, indent=1))
    (artifacts() / "figures.json").write_text(json.dumps(
        {"dependency_down_firing_after_s": round(fired_after, 1), "resolved_at_webhook_after_recovery_s": round(resolved_after, 1),
         "requests_during_outage": len(failures), "statuses_during_outage": sorted(set(failures)),
         "outage_answer_seconds_median": round(sorted(latencies)[len(latencies) // 2], 3),
         "outage_answer_seconds_max": round(max(latencies), 3)}, indent=1))
    return {"failures": failures, "latencies": latencies, "fired_after": fired_after, "alert_states": burn, "am_alerts": am_alerts}


def test_dependency_outage_is_answered_fast_with_503(fault):
    assert fault["failures"] and set(fault["failures"]) == {503}, set(fault["failures"])
    # Every request was answered within the client's 5 s (a slower one is recorded as a failure above); the
    # measured figures go to artifacts/observability/figures.json.
    print(f"slowest answers during the outage: {sorted(fault['latencies'])[-5:]}")


def test_dependency_down_fires_after_its_for_duration(fault):
    # `for: 1m` plus scrape, monitor and evaluation intervals of 2 s each.
    assert 60 <= fault["fired_after"] <= 120, fault["fired_after"]


def test_dependency_down_reaches_alertmanager_with_its_labels_and_runbook(fault):
    got = {a["labels"]["dependency"]: a for a in fault["am_alerts"] if a["labels"]["alertname"] == "DependencyDown"}
    assert set(got) == {"database", "redis"}
    for dep, a in got.items():
        assert a["labels"] == {"alertname": "DependencyDown", "dependency": dep, "job": "backend",
                               "severity": "critical"}
        assert a["annotations"]["runbook_url"] == "docs/operations.md#dependencydown"
        assert a["annotations"]["summary"] == f"The backend cannot reach {dep}."
        assert a["status"]["state"] == "active"
        assert a["receivers"][0]["name"] == "team-webhook"


def test_webhook_got_firing_then_resolved(fault):
    seq = [(a["labels"].get("dependency"), a["status"]) for m in Sink.received for a in m["alerts"]
           if a["labels"]["alertname"] == "DependencyDown"]
    for dep in ("database", "redis"):
        states = [s for d, s in seq if d == dep]
        assert states[0] == "firing" and states[-1] == "resolved", seq


def test_failing_requests_move_the_error_budget_alert(fault):
    # The 503s are user-facing errors: the fast burn alert is at least pending during the outage.
    assert fault["alert_states"].get("BackendErrorBudgetBurnFast") in {"pending", "firing"}, fault["alert_states"]


# ------------------------------------------------------------------------------------------ after all that
def test_every_rule_evaluates_without_error(stack, fault):
    def groups():
        return request("GET", f"http://127.0.0.1:{PROM}/api/v1/rules")[1]["data"]["groups"]

    # The long-window group runs once a minute: wait until every rule has been evaluated at least once.
    gs = wait_for("every rule evaluated", lambda: (g := groups()) and all(
        r["lastEvaluation"] > "2000" for grp in g for r in grp["rules"]) and g, 90)
    names = set()
    for g in gs:
        for r in g["rules"]:
            names.add(r["name"])
            assert r["health"] == "ok", f"{g['name']}/{r['name']}: {r.get('lastError')}"
    expected = {r.get("alert") or r.get("record") for _, g in obslib.rule_groups() for r in g["rules"]}
    assert names == expected


def test_every_dashboard_query_runs_and_app_panels_return_data(stack, fault):
    exported = obslib.exported_series_names(obslib.contract())
    app_series = set(exported) | obslib.recorded_names() | {"up", "ALERTS"}
    empty = []
    for path, dash in obslib.dashboards():
        for panel, target, expr in obslib.dashboard_queries(dash):
            result = prom_query(PROM, expr)  # asserts the query parses and runs
            names = obslib.metric_names(expr)
            key = (path.name, panel["title"], target["refId"])
            if names <= app_series and not result and key not in MAY_BE_EMPTY:
                empty.append(f"{path.name}: {panel['title']} / {target['refId']}: {expr}")
    assert not empty, "panels over the app's own metrics without data:\n" + "\n".join(empty)


def test_may_be_empty_list_is_not_stale(stack, fault):
    titles = {(p.name, panel["title"], t["refId"]) for p, d in obslib.dashboards() for panel, t, _ in
              obslib.dashboard_queries(d)}
    assert set(MAY_BE_EMPTY) <= titles
